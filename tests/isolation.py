"""Every test run gets its own HOME, Jupyter, IPython and zingy-nb dirs.

Set at configure time, before anything imports jupyter_core or starts a kernel, so
child processes (kernels, servers, the CLI) inherit the same throwaway locations and
nothing touches the developer's real store or keyring. A session that runs notebooks on
test profiles (``--zingy-profiles``, as the README's
``pytest --nbval notebooks/ --zingy-profiles notebooks/test-profiles.toml`` from the
repository root) also gets the two flow kernelspecs of this checkout in the throwaway
Jupyter data dir, since each example is set to its kernel, whether or not
``scripts/lab.sh`` installed them into the venv. Other sessions get none, so tests see
only the kernelspecs they install themselves.

This runs first among the ``pytest_configure`` hooks (``tryfirst``) and the zingy-nb
pytest plugin runs last, so the plugin's ``--zingy-profiles`` store and ``--zingy-flow``
setup override this isolation instead of being reset by it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

#: The temp folder the run started with: under pytest-xdist a worker inherits the
#: TMPDIR its controller set (below), and nesting there would make agents' socket paths
#: too long for a Unix socket.
_OUTER_TMP = os.environ.setdefault("ZINGY_NB_TESTS_OUTER_TMP", tempfile.gettempdir())
#: Short names: a test's runtime folder sits below pytest's own (``pytest-of-root/
#: pytest-N/popen-gwN/name0/``), and an agent's socket below that must fit 107 bytes.
_ROOT = Path(tempfile.mkdtemp(prefix="znt-", dir=_OUTER_TMP))
_SESSION_ENV = {
    "HOME": str(_ROOT / "home"),
    "TMPDIR": str(_ROOT / "t"),
    "JUPYTER_CONFIG_DIR": str(_ROOT / "jupyter" / "config"),
    "JUPYTER_DATA_DIR": str(_ROOT / "jupyter" / "data"),
    "JUPYTER_RUNTIME_DIR": str(_ROOT / "jupyter" / "runtime"),
    "IPYTHONDIR": str(_ROOT / "ipython"),
    "ZINGY_NB_HOME": str(_ROOT / "zingy-home"),
    # No D-Bus session here: pin keyring's "no backend" so nothing prompts or hangs.
    "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    "JUPYTER_PLATFORM_DIRS": "1",
    # Agents started on demand (by kernels' launchers) stop soon after their last kernel.
    "ZINGY_NB_AGENT_IDLE_TIMEOUT": "15",
}
_DROP = (
    "ZINGY_NB_MASTER_KEY",
    "ZINGY_NB_STORE_URL",
    "ZINGY_NB_FLOW",
    "DBUS_SESSION_BUS_ADDRESS",
    "JUPYTER_PATH",
    "ZINGY_NB_AGENT_CAP",
    "ZINGY_NB_AGENT_ERROR",
    "ZINGY_NB_MEMBER_KEY",
)


_CLOUD_FLOW = contextlib.ExitStack()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for key in _DROP:
        os.environ.pop(key, None)
    os.environ.update(_SESSION_ENV)
    # As in an activated venv: `!zingy-nb ...` in a test kernel runs this checkout's command
    # (without it, a shell in a kernel would not find the command at all).
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    for value in _SESSION_ENV.values():
        if value.startswith(str(_ROOT)):
            Path(value).mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = None  # honour the new TMPDIR
    if os.environ.get("PYTEST_XDIST_WORKER"):  # tmp_path below this worker's root, as in
        config.option.basetemp = str(_ROOT / "t" / "pytest")  # a run with no workers
    from zingy_nb import flow, kernels

    if config.getoption("--zingy-profiles", default=None):
        kernels.install(user=True)  # into the throwaway JUPYTER_DATA_DIR set above
    # The suite's own process retrieves as a cloud-flow kernel would (as the pytest
    # plugin's fixture does for users); kernels and subprocesses keep their own flow.
    _CLOUD_FLOW.enter_context(flow.cloud_flow_while_testing())


def stop_agents(under: Path) -> int:
    """SIGTERM every zingy-nb agent whose pid file is under ``under``; how many."""
    from zingy_nb.agent.location import PID_FILE, agent_pid

    stopped = 0
    for pid_file in under.rglob(PID_FILE):
        pid = agent_pid(pid_file.parent)
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
                stopped += 1
    return stopped


def stop_strays(root: Path) -> int:
    """SIGTERM the agents in /tmp's shared fallback folder (``agent.location``) that
    this run started (their environment names ``root``): a JupyterHub's single-user
    servers do not pass TMPDIR on. Only a process allowed to read an agent's
    environment (root, as CI runs) can tell; others are left to their idle timeout."""
    from zingy_nb.agent.location import agent_pid

    stopped = 0
    for folder in Path("/tmp", f"zingy-nb-{os.getuid()}").glob("agent-*"):
        pid = agent_pid(folder)
        if pid is None:
            continue
        with contextlib.suppress(OSError):  # only root may read an agent's environment
            if os.fsencode(str(root)) in Path(f"/proc/{pid}/environ").read_bytes():
                os.kill(pid, signal.SIGTERM)
                stopped += 1
    return stopped


def pytest_unconfigure(config: pytest.Config) -> None:
    _CLOUD_FLOW.close()
    stop_agents(_ROOT)
    stop_strays(_ROOT)
    shutil.rmtree(_ROOT, ignore_errors=True)


@pytest.fixture
def zingy_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty ZINGY_NB_HOME for one test (key file fallback, no keyring)."""
    home = tmp_path / "zingy"
    monkeypatch.setenv("ZINGY_NB_HOME", str(home))
    monkeypatch.delenv("ZINGY_NB_MASTER_KEY", raising=False)
    return home


def tree_bytes(root: Path) -> Iterator[tuple[Path, bytes]]:
    """Every file below ``root`` with its content (for "no secret on disk" checks)."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path, path.read_bytes()
