"""jupyter-scheduler jobs on a real Jupyter server, created through the scheduler's REST API.

The server is a ``jupyter server`` process on 127.0.0.1 with its own config, data and
root folders, on the throwaway store and kernelspecs of ``test_runtime_run``. Its
config file sets ``Scheduler.execution_manager_class`` to zingy-nb's, as a user would;
one test runs a server without it, to show what the core's own gate still does there.
Each job is polled until it is done, with a time limit.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.test_runtime_run import (
    NOTEBOOKS,
    PAGE,
    Runtime,
    audit_rows,
    no_secret_in,
    notebook,
    runtime_fixture,  # noqa: F401  (the fixture `runtime`)
)
from tests.test_runtime_serve import free_port

pytest.importorskip("jupyter_scheduler", reason="jupyter-scheduler is in the test extras")

MANAGER = "zingy_nb.runtime.scheduler.CloudFlowExecutionManager"
JOB_TIMEOUT = 180
DONE = ("COMPLETED", "FAILED")  # a new job reads STOPPED until its process starts it


@dataclass
class Scheduler:
    """A running Jupyter server with jupyter-scheduler, and where its jobs are staged."""

    proc: subprocess.Popen[bytes]
    port: int
    token: str
    root: Path
    staging: Path
    log: Path

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")

    def job(self, source: Path, **fields: Any) -> dict[str, Any]:
        """Create a job from ``source`` (copied into the root), wait until it is done."""
        shutil.copy(source, self.root / source.name)
        created = self.api(
            "POST", "scheduler/jobs",
            {"input_uri": source.name, "name": source.stem, "runtime_environment_name": "python3",
             "output_formats": ["ipynb"], **fields},
        )  # fmt: skip
        deadline = time.monotonic() + JOB_TIMEOUT
        while True:
            job: dict[str, Any] = self.api("GET", f"scheduler/jobs/{created['job_id']}")
            if job["status"] in DONE:
                return job
            assert time.monotonic() < deadline, f"job still {job['status']}:\n{self.text()}"
            time.sleep(0.5)

    def outputs(self, job: dict[str, Any]) -> list[Path]:
        """The notebooks the job wrote (everything in its staging folder but its input)."""
        folder = self.staging / job["job_id"]
        return [p for p in folder.glob("*.ipynb") if p.name != job["input_filename"]]

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def scheduler_server(runtime: Runtime, name: str, manager: str | None) -> Iterator[Scheduler]:
    base = runtime.root / name
    root, config, data, staging = (base / d for d in ("root", "config", "data", "staging"))
    for folder in (root, config, data):
        folder.mkdir(parents=True)
    port, token = free_port(), secrets.token_hex(16)
    settings: dict[str, Any] = {
        "ServerApp": {
            "ip": "127.0.0.1", "port": port, "port_retries": 0, "open_browser": False,
            "allow_root": True, "root_dir": str(root),
            "jpserver_extensions": {"jupyter_scheduler": True},
        },
        "IdentityProvider": {"token": token},
        "Scheduler": {"staging_path": str(staging)},
    }  # fmt: skip
    if manager is not None:
        settings["Scheduler"]["execution_manager_class"] = manager
    (config / "jupyter_server_config.json").write_text(json.dumps(settings))
    env = {**runtime.env, "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_DATA_DIR": str(data)}
    log = base / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server"], env=env, cwd=base,
            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
        )  # fmt: skip
    server = Scheduler(proc, port, token, root, staging, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"server exited {proc.returncode}:\n{server.text()}"
            with contextlib.suppress(urllib.error.URLError, ConnectionError):
                server.api("GET", "scheduler/jobs")
                break
            assert time.monotonic() < deadline, f"scheduler not ready:\n{server.text()}"
            time.sleep(0.2)
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def scheduler(runtime: Runtime) -> Iterator[Scheduler]:
    with scheduler_server(runtime, "scheduler", MANAGER) as server:
        yield server


def test_a_cloud_flow_job_completes_with_secrets_redacted(
    scheduler: Scheduler, runtime: Runtime
) -> None:
    # Given the nightly sync example, scheduled with a parameter (a Python expression)
    job = scheduler.job(NOTEBOOKS / "nightly_sync.ipynb", parameters={"since": '"2026-01-02"'})
    # Then the job completes
    assert job["status"] == "COMPLETED", job.get("status_message")
    [output] = scheduler.outputs(job)
    text = output.read_text()
    # And its output notebook shows [REDACTED] where the cell printed the API token
    assert "2 entries since 2026-01-02" in text
    assert "Authorization: Bearer [REDACTED]" in text
    no_secret_in(text)
    no_secret_in(scheduler.text())
    # And the audit records the retrieval as made by this scheduler job
    rows = audit_rows(runtime, "ledger-sync")
    assert any(r["via"] == f"scheduler:{job['job_id']}" for r in rows), rows


def test_a_page_flow_job_fails_with_the_refusal(scheduler: Scheduler) -> None:
    # Given the page-flow example, scheduled like any notebook
    job = scheduler.job(NOTEBOOKS / "page_flow.ipynb")
    # Then the job fails, its status saying why and how to fix it, and no kernel ran it
    assert job["status"] == "FAILED"
    message = job["status_message"]
    assert "(zingy-page-flow), a page-flow kernel" in message
    assert "Python 3 (Zingy Cloud Flow)" in message
    assert scheduler.outputs(job) == []


def test_without_zingy_nb_manager_a_page_flow_job_still_cannot_retrieve(
    runtime: Runtime,
) -> None:
    # Given a scheduler left at its default execution manager
    retrieving = notebook(
        runtime.root / "page_job.ipynb", PAGE, "keyInfo = zingyConn.apikey('ledger-sync')"
    )
    with scheduler_server(runtime, "default-scheduler", None) as server:
        # When a page-flow notebook that retrieves a secret is run as a job
        job = server.job(retrieving)
    # Then the core's flow gate fails the job, and its status carries the refusal
    assert job["status"] == "FAILED"
    assert "CloudFlowOnlyError" in job["status_message"]
    assert "page-flow kernel" in job["status_message"]
