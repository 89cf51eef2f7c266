"""``scripts/lab.sh`` serves a working folder, so playing in the lab never breaks the tests.

The script runs for real (bootstrap skipped: the venv is ready), in this session's
isolated HOME and Jupyter dirs, with its working folder in ``tmp_path``. Notebooks are
changed and created through the contents API, as JupyterLab does when one saves, the
server is stopped with SIGTERM, and then the notebook fixtures must still pass nbval
and ``notebooks/`` must be byte-identical.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
LAB_SH = ROOT / "scripts" / "lab.sh"
URL = re.compile(
    r"^ +http://127\.0\.0\.1:(?P<port>\d+)/lab/tree/quickstart\.ipynb\?token=(?P<token>[0-9a-f]{48})$",
    re.M,
)
NOTIFICATION_SETTINGS = "lab/api/settings/@jupyterlab/apputils-extension:notification"


@dataclass
class Lab:
    process: subprocess.Popen[bytes]
    url: str
    base: str
    token: str
    port: int

    def request(self, method: str, path: str, body: Any = None) -> Any:
        req = urllib.request.Request(
            f"{self.base}/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as response:
            data = response.read()
        return json.loads(data) if data else None


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as a user's Ctrl-C or a service manager would; then nothing may be left."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    finally:
        leftover = True
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            leftover = False
        if leftover:
            os.killpg(process.pid, signal.SIGKILL)
        assert not leftover, "lab.sh left processes behind after SIGTERM"


@contextlib.contextmanager
def lab_script(work: Path, logs: Path, *args: str) -> Iterator[Lab]:
    """``bash scripts/lab.sh ARGS`` serving ``work``; stopped with SIGTERM at the end."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTEST_ADDOPTS", "JUPYTER_TOKEN", "DISPLAY", "JUPYTER_CONFIG_PATH")
    }
    env.update(ZINGY_NB_LAB_DIR=str(work), ZINGY_NB_LAB_SKIP_BOOTSTRAP="1")
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / "stdout", logs / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            ["bash", str(LAB_SH), *args],
            cwd=logs, env=env, stdout=stdout, stderr=stderr, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        match = None
        while match is None:
            assert process.poll() is None, err.read_text()[-3000:]
            assert time.monotonic() < deadline, err.read_text()[-3000:]
            match = URL.search(out.read_text())
            time.sleep(0.1)
        port, token = int(match["port"]), match["token"]
        lab = Lab(process, match[0].strip(), f"http://127.0.0.1:{port}", token, port)
        while True:
            assert process.poll() is None, err.read_text()[-3000:]
            assert time.monotonic() < deadline, err.read_text()[-3000:]
            with contextlib.suppress(OSError):
                lab.request("GET", "api/status")
                break
            time.sleep(0.2)
        yield lab
    finally:
        stop(process)


def test_lab_edits_never_reach_the_notebook_fixtures(tmp_path: Path) -> None:
    # Given the fixtures as they are, and no lab/ folder made in the repository by the test
    before = snapshot(NOTEBOOKS)
    repo_lab_existed = (ROOT / "lab").exists()
    work = tmp_path / "lab"
    port = free_port()
    # When lab.sh starts
    with lab_script(work, tmp_path / "run1", "--port", str(port)) as lab:
        # Then it prints the quick start's URL with its token, on the port asked for
        assert lab.port == port
        with urllib.request.urlopen(lab.url, timeout=30) as page:
            assert page.status == 200
        # And no news toast: the notification plugin asks while fetchNews is "none"
        settings = lab.request("GET", NOTIFICATION_SETTINGS)
        assert settings["schema"]["properties"]["fetchNews"]["default"] == "false"
        assert settings["settings"].get("fetchNews", "false") == "false"
        # And the token is in neither the server's argv nor the environment kernels inherit
        proc = Path("/proc", str(lab.process.pid))
        assert lab.token.encode() not in (proc / "cmdline").read_bytes()
        assert lab.token.encode() not in (proc / "environ").read_bytes()
        # And it serves copies of the examples, not notebooks/
        served = {m["name"] for m in lab.request("GET", "api/contents")["content"]}
        assert served == {p.name for p in NOTEBOOKS.glob("*.ipynb")}
        # When the user adds a cell to the quick start and saves it
        model = lab.request("GET", "api/contents/quickstart.ipynb")
        nb = model["content"]
        nb["cells"].append(
            {"cell_type": "code", "execution_count": None, "id": "my-experiment",
             "metadata": {}, "outputs": [], "source": "print('my experiment')"}
        )  # fmt: skip
        lab.request("PUT", "api/contents/quickstart.ipynb", {"type": "notebook", "content": nb})
        # And makes a new notebook from the Launcher and saves it
        untitled = lab.request("POST", "api/contents", {"type": "notebook"})
        assert untitled["path"] == "Untitled.ipynb"
        nb = lab.request("GET", "api/contents/Untitled.ipynb")["content"]
        nb["cells"] = [{"cell_type": "code", "execution_count": None, "id": "scratch",
                        "metadata": {}, "outputs": [], "source": "1 + 1"}]  # fmt: skip
        lab.request("PUT", "api/contents/Untitled.ipynb", {"type": "notebook", "content": nb})
    # Then the edits are in the working folder
    assert "my experiment" in (work / "quickstart.ipynb").read_text()
    assert (work / "Untitled.ipynb").is_file()
    # When lab.sh runs again while its port is taken
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with lab_script(work, tmp_path / "run2", f"--port={port}") as lab:
            # Then it serves on the next free port, and the user's edits are still there
            assert lab.port > port
            assert "my experiment" in (work / "quickstart.ipynb").read_text()
    # When the notebook fixture tests run (the README's regression command)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "notebooks/", "--zingy-profiles",
         "notebooks/test-profiles.toml", "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"},
    )  # fmt: skip
    # Then they pass, and notebooks/ is byte-identical to before
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", result.stdout)
    assert snapshot(NOTEBOOKS) == before
    assert (ROOT / "lab").exists() == repo_lab_existed
