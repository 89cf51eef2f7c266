"""``zingy-nb run``: a cloud-flow notebook run once, unattended, through papermill.

Every run is a real ``zingy-nb`` process on a throwaway store with made-up profiles and
the flow kernelspecs installed into a folder of the test's own (``JUPYTER_PATH``). The
refusal table is shared with ``serve`` (``test_runtime_serve.py``): its notebooks run on
marker kernelspecs whose "kernel" only leaves a file behind, so "starts no kernel" is
checked, not assumed.

The helpers here (``Runtime``, ``zingy``, ``no_secret_in``) are used by the serve and
scheduler tests too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest

from zingy_nb.pytest_plugin import load_profiles_file, make_store

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BIN = Path(sys.executable).parent
ZINGY = [str(BIN / "zingy-nb")]
CLOUD = ("zingy-cloud-flow", "Python 3 (Zingy Cloud Flow)")
PAGE = ("zingy-page-flow", "Python 3 (Zingy Page Flow)")
PROFILES = load_profiles_file(NOTEBOOKS / "test-profiles.toml")
SECRETS = [v for slots in PROFILES.values() for v in slots.values()]
RUN_TIMEOUT = 180


def no_secret_in(text: str) -> None:
    """Neither a stored value nor 16 consecutive characters of one (the leak rule)."""
    for value in SECRETS:
        runs = {value[i : i + 16] for i in range(max(1, len(value) - 15))}
        found = [run for run in runs if run in text]
        assert not found, f"a stored value leaked: {found[0][:4]}..."


def printed(path: Path, cell: int | None = None) -> str:
    """The text a notebook's code cells printed (only the ``cell``-th, 0-based, if given)."""
    code = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    chosen = code if cell is None else [code[cell]]
    return "".join("".join(o.get("text", "")) for c in chosen for o in c.get("outputs", []))


def notebook(path: Path, kernel: tuple[str, str] | None, *cells: str) -> Path:
    """A notebook of code cells on ``kernel`` (name, display name); None: no kernelspec."""
    nb = nbformat.v4.new_notebook()
    if kernel is not None:
        nb.metadata["kernelspec"] = {
            "name": kernel[0],
            "display_name": kernel[1],
            "language": "python",
        }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


@dataclass
class Runtime:
    """A folder with the flow kernelspecs, marker kernelspecs and a store of test profiles."""

    root: Path
    env: dict[str, str]
    marker: Path  # created by any marker kernel that starts

    def home(self) -> Path:
        return Path(self.env["ZINGY_NB_HOME"])


def _marker_spec(
    kernels: Path, name: str, marker: Path, env: dict[str, str], meta: Any, ext: bool
) -> None:
    folder = kernels / name
    folder.mkdir(parents=True)
    code = f"open({str(marker)!r}, 'a').write({name!r} + chr(10))"
    spec = {
        "argv": [
            sys.executable,
            "-c",
            code,
            "{connection_file}",
            *(["--ext=zingy_nb"] if ext else []),
        ],
        "display_name": f"Marker {name}",
        "language": "python",
        "env": env,
        "metadata": {"zingy_nb": {"flow": meta}} if meta else {},
    }
    (folder / "kernel.json").write_text(json.dumps(spec))


@pytest.fixture(scope="module", name="runtime")
def runtime_fixture(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    """Imported by the serve and scheduler tests, each module getting its own."""
    root = tmp_path_factory.mktemp("runtime")
    prefix = root / "prefix"
    env = {k: v for k, v in os.environ.items() if k not in ("ZINGY_NB_FLOW", "JPY_SESSION_NAME")}
    env.update(JUPYTER_PATH=str(prefix / "share" / "jupyter"), IPYTHONDIR=str(root / "ipython"))
    subprocess.run(
        [*ZINGY, "kernels", "install", "--prefix", str(prefix)], env=env, check=True,
        capture_output=True, timeout=60,
    )  # fmt: skip
    kernels = prefix / "share" / "jupyter" / "kernels"
    marker = root / "kernel-started"
    _marker_spec(kernels, "marker-page", marker, {"ZINGY_NB_FLOW": "page-flow"}, "page-flow", True)
    _marker_spec(kernels, "marker-plain", marker, {}, None, True)
    _marker_spec(
        kernels, "marker-noext", marker, {"ZINGY_NB_FLOW": "cloud-flow"}, "cloud-flow", False
    )
    _marker_spec(
        kernels, "marker-cloud", marker, {"ZINGY_NB_FLOW": "cloud-flow"}, "cloud-flow", True
    )
    env.update(make_store(root / "store", PROFILES).env)
    return Runtime(root, env, marker)


def zingy(
    runtime: Runtime, *args: str, cwd: Path | None = None, **env: str | None
) -> subprocess.CompletedProcess[str]:
    """``zingy-nb ARGS`` to the end, on the runtime's store and kernelspecs."""
    full = dict(runtime.env)
    for key, value in env.items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return subprocess.run(
        [*ZINGY, *args], env=full, cwd=cwd or runtime.root, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )  # fmt: skip


def audit_rows(runtime: Runtime, profile: str) -> list[dict[str, Any]]:
    done = zingy(runtime, "audit", "--profile", profile, "--json")
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


# -- the refusal table, shared with serve ------------------------------------------------
REFUSED = {
    "page-flow example": (lambda root: NOTEBOOKS / "page_flow.ipynb", '"Python 3 (Zingy Page Flow)" (zingy-page-flow), a page-flow kernel'),
    "page-flow kernelspec": (lambda root: notebook(root / "page.ipynb", ("marker-page", "M"), "1"), "a page-flow kernel"),
    "unflagged kernelspec": (lambda root: notebook(root / "plain.ipynb", ("marker-plain", "M"), "1"), "a kernel with no flow mode"),
    "cloud-flow without the extension": (lambda root: notebook(root / "noext.ipynb", ("marker-noext", "M"), "1"), "does not load zingy_nb"),
    "no kernelspec": (lambda root: notebook(root / "bare.ipynb", None, "1"), "names no kernel"),
    "kernel not installed": (lambda root: notebook(root / "gone.ipynb", ("no-such-kernel", "Gone"), "1"), '"Gone" (no-such-kernel) is not installed'),
}  # fmt: skip


def check_refused(
    done: subprocess.CompletedProcess[str],
    command: str,
    why: str,
    runtime: Runtime,
    *,
    switch: bool = True,
) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"zingy-nb {command}: refused: "), lines[0]
    assert why in lines[0]
    assert ("Python 3 (Zingy Cloud Flow)" in lines[0]) == switch  # how to switch the notebook
    assert not runtime.marker.exists(), "a kernel was started"


@pytest.mark.parametrize("case", list(REFUSED))
def test_run_refuses_what_is_not_cloud_flow(runtime: Runtime, case: str) -> None:
    # Given a notebook that is not cloud-flow
    make, why = REFUSED[case]
    path = make(runtime.root)
    # When zingy-nb run is asked to run it
    done = zingy(runtime, "run", str(path))
    # Then it is refused in one line, exit 2, before any kernel starts
    check_refused(done, "run", why, runtime)


def test_run_refuses_from_a_page_flow_process(runtime: Runtime) -> None:
    # Given a cloud-flow notebook, and a zingy-nb run started from a page-flow process
    path = notebook(runtime.root / "cloud-marker.ipynb", ("marker-cloud", "M"), "1")
    # When it runs
    done = zingy(runtime, "run", str(path), ZINGY_NB_FLOW="page-flow")
    # Then the kernelspec's cloud-flow env does not widen it: refused, no kernel
    check_refused(done, "run", "This process is page-flow", runtime, switch=False)


def test_run_example_with_parameters(runtime: Runtime) -> None:
    # Given the nightly sync example and its profile
    out = runtime.root / "sync-out.ipynb"
    # When it runs unattended with a parameter, as from cron
    done = zingy(
        runtime,
        "run",
        str(NOTEBOOKS / "nightly_sync.ipynb"),
        "-p",
        "since",
        "2026-01-02",
        "--output",
        str(out),
    )
    # Then it succeeds with the parameter applied and the printed token redacted
    assert done.returncode == 0, done.stderr
    shown = printed(out)
    assert "2 entries since 2026-01-02" in shown
    assert "Authorization: Bearer [REDACTED]" in shown
    assert "X-Signature matches the body: True" in shown
    # And no stored value is in the output notebook or what the command printed
    no_secret_in(out.read_text() + done.stdout + done.stderr)


def test_a_failing_cell_fails_the_run_with_the_cell_and_the_error(runtime: Runtime) -> None:
    # Given a notebook whose second cell fails with a secret in its error
    path = notebook(
        runtime.root / "failing.ipynb", CLOUD,
        "x = 1",
        "keyInfo = zingyConn.apikey('shop-webhooks')\nraise ValueError('bad key ' + keyInfo.secret1)",
        "print('never reached')",
    )  # fmt: skip
    out = runtime.root / "failing-out.ipynb"
    # When it runs
    done = zingy(runtime, "run", str(path), "--output", str(out))
    # Then the exit status is non-zero and stderr is one line: the cell and the (redacted)
    # error, with no traceback and no noise from the kernel's shutdown
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "zingy-nb run: cell 2 failed: ValueError: bad key [REDACTED] "
        "(the output notebook shows its traceback)"
    ]
    # And the output notebook has the whole traceback, down to the failing line
    cells = json.loads(out.read_text())["cells"]
    (error,) = [o for c in cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert error["evalue"] == "bad key [REDACTED]"
    traceback = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error["traceback"]))
    assert "raise ValueError('bad key ' + keyInfo.secret1)" in traceback
    assert "never reached" not in printed(out)
    no_secret_in(done.stdout + done.stderr + out.read_text())


def test_a_failing_run_without_output_says_how_to_keep_the_traceback(runtime: Runtime) -> None:
    # Given a notebook whose only cell fails with a zingy-nb error (no such profile)
    path = notebook(runtime.root / "missing.ipynb", CLOUD, "zingyConn.apikey('no-such-profile')")
    # When it runs without --output
    done = zingy(runtime, "run", str(path))
    # Then stderr is one line naming the cell, the error with its hint, and --output
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("zingy-nb run: cell 1 failed: ProfileNotFoundError: "), line
    assert "'no-such-profile'" in line, line
    # And, the profile being missing, how to create it
    assert "Create the profile first (`zingy-nb profiles set no-such-profile` prompts" in line
    assert line.endswith("(run with --output OUT.ipynb to keep its traceback)"), line


def test_run_kernels_say_how_they_run_and_never_prompt(runtime: Runtime) -> None:
    # Given a notebook that reports its kernel's environment, then asks for input
    path = notebook(
        runtime.root / "probe.ipynb", CLOUD,
        "import json, os\nprint(json.dumps({k: os.environ.get(k) for k in "
        "('ZINGY_NB_VIA', 'JPY_SESSION_NAME', 'ZINGY_NB_FLOW')}))",
        "input('who? ')",
    )  # fmt: skip
    out = runtime.root / "probe-out.ipynb"
    # When zingy-nb run runs it from a process that has another notebook's identity
    other = str(runtime.root / "someone-elses.ipynb")
    done = zingy(runtime, "run", str(path), "--output", str(out), JPY_SESSION_NAME=other)
    # Then the kernel is a cloud-flow kernel marked "run", naming the notebook it runs
    # (for the audit; notebook access asks nothing of a runner's kernel)
    first = json.loads(printed(out, 0))
    assert first == {
        "ZINGY_NB_VIA": "run",
        "JPY_SESSION_NAME": os.path.realpath(path),
        "ZINGY_NB_FLOW": "cloud-flow",
    }
    # And input() fails at once instead of waiting for an answer
    assert done.returncode == 1
    assert "StdinNotImplementedError" in done.stderr


def test_sigterm_stops_the_run_and_its_kernel(runtime: Runtime) -> None:
    # Given a run busy in a long cell
    started = runtime.root / "cell-started"
    path = notebook(
        runtime.root / "sleepy.ipynb", CLOUD,
        f"import time\nopen({str(started)!r}, 'w').close()\ntime.sleep(120)",
    )  # fmt: skip
    proc = subprocess.Popen(
        [*ZINGY, "run", str(path)], env=runtime.env, cwd=runtime.root,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not started.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.1)
        kernels = psutil.Process(proc.pid).children(recursive=True)
        # When it gets SIGTERM (systemd stopping the timer's service)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Then it stops at once with 128 + SIGTERM, saying so, and its kernel is gone
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "zingy-nb run: stopped before the end" in stderr
    time.sleep(0.5)
    assert kernels
    assert not [k for k in kernels if k.is_running() and k.status() != psutil.STATUS_ZOMBIE]


def test_usage_errors_never_echo_arguments(runtime: Runtime) -> None:
    # Given a -p NAME that is not a variable name (it could be a pasted secret)
    pasted = "sk-live-not-a-name-123456"
    done = zingy(runtime, "run", str(NOTEBOOKS / "nightly_sync.ipynb"), "-p", pasted + "!", "1")
    # Then the run is refused as a usage error that does not quote it
    assert done.returncode == 2
    assert pasted not in done.stderr
    # And a notebook that cannot be read is named by its role, not its path
    done = zingy(runtime, "run", str(runtime.root / pasted / "x.ipynb"))
    assert done.returncode == 2
    assert pasted not in done.stderr and "cannot read the notebook" in done.stderr


def test_audit_records_retrievals_of_run(runtime: Runtime) -> None:
    # Given the nightly sync run unattended
    done = zingy(runtime, "run", str(NOTEBOOKS / "nightly_sync.ipynb"))
    assert done.returncode == 0, done.stderr
    # Then the audit shows its retrievals as made by a `run` kernel
    rows = audit_rows(runtime, "ledger-sync")
    assert any(r["outcome"] == "retrieved" and r["via"] == "run" for r in rows), rows
    # and names the notebook it ran
    ran = os.path.realpath(NOTEBOOKS / "nightly_sync.ipynb")
    assert any(r["via"] == "run" and r["notebook"] == ran for r in rows), rows
