"""Runs the hostile table's driver as an unprivileged user, and cleans up after it.

Root reads everything, so a hostile row run as root proves nothing. As root (CI) the
harness makes a system user, ``zingy-hostile`` (once; later runs reuse it), and runs the
driver as that user with ``setpriv``; as anyone else it runs the driver as the current
user. Everything the driver uses is in a fresh temporary folder that user owns (HOME,
Jupyter's and IPython's dirs, ZINGY_NB_HOME, TMPDIR; keyring pinned to "none", so the
master key's custody is the environment). The repository and its ``.venv`` must be
readable by everyone (else the run is skipped, saying which path is not).

The ``.venv``'s interpreter may live under a home only root can enter (pyenv in
``/root``): then the driver runs in a private mount namespace where that home is an
empty world-readable tmpfs holding only the interpreter's folder, bind-mounted; nothing
outside the driver's processes sees it. Every process the driver leaves (its kernels,
the agent) is stopped by pid at the end: agents by their ``agent.pid``, others found
by their environment naming the run's folder. ``ZINGY_NB_HOSTILE_KEEP=FILE`` keeps a
copy of the driver's result (every message of every cell, made-up values included).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zingy_nb.agent.location import PID_FILE, agent_pid

USER = "zingy-hostile"
REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("driver.py")
TIMEOUT = 1200
KEEP_ENV = "ZINGY_NB_HOSTILE_KEEP"


@dataclass(frozen=True)
class Who:
    """The user the driver runs as."""

    uid: int
    gid: int
    name: str
    switch: bool  # whether the harness must switch to it (it runs as root)


def unprivileged() -> Who:
    """The current user, or as root the system user ``USER`` (created if missing)."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.getuid())
        return Who(me.pw_uid, me.pw_gid, me.pw_name, False)
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home",
             "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", USER],
            capture_output=True, check=False,
        )  # fmt: skip
        entry = pwd.getpwnam(USER)  # made now, or by a concurrent run
    return Who(entry.pw_uid, entry.pw_gid, USER, True)


def _world(path: Path, bits: int) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & bits == bits


def unreadable() -> str | None:
    """Why the repository or its .venv is not readable by everyone, if it is not."""
    venv = Path(sys.prefix)
    for path in (REPO, REPO / "zingy_nb", REPO / "tests", REPO / "tests" / "hostile",
                 REPO / "tests" / "leaks", venv, venv / "bin"):  # fmt: skip
        if not _world(path, 0o005):
            return f"{path} is not readable and searchable by everyone (mode o+rx)"
    for path in (DRIVER, REPO / "zingy_nb" / "__init__.py", venv / "pyvenv.cfg"):
        if not _world(path, 0o004):
            return f"{path} is not readable by everyone (mode o+r)"
    return None


def unrunnable() -> str | None:
    """Why the driver cannot run as another user here, if it cannot."""
    why = unreadable()
    if why or os.geteuid() != 0 or not _exposures():
        return why
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "true"],
        capture_output=True, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        closed = ", ".join(str(c) for c, _ in _exposures())
        return (
            f"the .venv's interpreter is under {closed}, which other users cannot enter, "
            "and no mount namespace can be made here to show it to them"
        )
    return None


def _closed_ancestor(path: Path) -> Path | None:
    """The topmost folder above ``path`` that others cannot enter, if any."""
    for parent in reversed(path.parents):
        if not _world(parent, 0o001):
            return parent
    return None


def _exposures() -> list[tuple[Path, Path]]:
    """(closed folder, path to show inside it) for the interpreter behind the .venv."""
    base = Path(os.path.realpath(sys.base_prefix))
    closed = _closed_ancestor(base)
    return [] if closed is None else [(closed, base)]


def _command(who: Who, root: Path, config: Path) -> list[str]:
    python = str(Path(sys.prefix) / "bin" / "python")
    run = [python, str(DRIVER), str(config)]
    if not who.switch:
        return run
    run = ["setpriv", f"--reuid={who.uid}", f"--regid={who.gid}", "--init-groups", "--", *run]
    shown = _exposures()
    if not shown:
        return run
    q = shlex.quote
    lines = ["set -e"]
    for i, (_, path) in enumerate(shown):
        stage = root / ".stage" / str(i)
        stage.mkdir(parents=True)
        lines.append(f"mount --bind {q(str(path))} {q(str(stage))}")
    for closed in dict.fromkeys(c for c, _ in shown):
        lines.append(f"mount -t tmpfs -o mode=755 zingy-hostile {q(str(closed))}")
    for i, (_, path) in enumerate(shown):
        stage = root / ".stage" / str(i)
        lines += [f"mkdir -p {q(str(path))}", f"mount --move {q(str(stage))} {q(str(path))}"]
    lines.append('exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", "\n".join(lines), "sh", *run]  # fmt: skip


def _environment(root: Path, master_key: str) -> dict[str, str]:
    venv_bin = str(Path(sys.prefix) / "bin")
    return {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(root / "home"),
        "TMPDIR": str(root / "tmp"),
        "JUPYTER_CONFIG_DIR": str(root / "jupyter" / "config"),
        "JUPYTER_DATA_DIR": str(root / "jupyter" / "data"),
        "JUPYTER_RUNTIME_DIR": str(root / "jupyter" / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "IPYTHONDIR": str(root / "ipython"),
        "ZINGY_NB_HOME": str(root / "zingy-home"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "ZINGY_NB_AGENT_IDLE_TIMEOUT": "600",
        "ZINGY_NB_MASTER_KEY": master_key,
    }


def _pids_of(uid: int, root: Path) -> list[int]:
    """Processes of ``uid`` whose environment names ``root`` (what the driver left)."""
    found = []
    marker = str(root).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if entry.stat().st_uid == uid and marker in (entry / "environ").read_bytes():
                found.append(int(entry.name))
    return found


def stop_agents(root: Path) -> list[int]:
    """SIGTERM the agents whose pid file is under ``root`` and wait up to 10 s for them
    to exit; their pids. The driver stops its own agents with it too."""
    stopped = []
    for pid_file in root.rglob(PID_FILE):
        pid = agent_pid(pid_file.parent)
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
                stopped.append(pid)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{p}").exists() for p in stopped) and time.monotonic() < deadline:
        time.sleep(0.05)
    return stopped


def stop_leftovers(who: Who, root: Path) -> list[int]:
    """Stop every process the run left: agents (SIGTERM), then anything else (SIGKILL)."""
    stopped = stop_agents(root)
    for pid in _pids_of(who.uid, root):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            stopped.append(pid)
    return stopped


@dataclass
class Run:
    """What one driver run returned."""

    who: Who
    result: dict[str, Any] = field(repr=False)  # the control's values are in it
    returncode: int = 0
    stderr: str = field(default="", repr=False)
    leftovers: list[int] = field(default_factory=list)


@contextlib.contextmanager
def _folder(who: Who) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="zingy-hostile-", dir="/tmp"))
    try:
        os.chown(root, who.uid, who.gid)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_driver(
    profiles: Mapping[str, tuple[str, ...]],
    profile: str,
    master_key: str,
    *,
    rows: list[str] | None = None,
    confine: bool = True,
    custody: str = "environment",
) -> Run:
    """Run the driver once as the unprivileged user; everything it started is stopped.
    ``rows``: the ids of the rows to run (default all); ``confine=False`` starts the
    kernels unconfined (``ZINGY_NB_CONFINE=off``); ``custody``: where the master key is
    before any kernel starts: ``environment`` (the driver's, which launches every
    kernel), ``locked`` (protected with a passphrase, unlocked in the agent) or
    ``keyring`` (imported into a real gnome-keyring on a D-Bus session of the user's) or
    ``file`` (imported where no keyring exists: a key file)."""
    who = unprivileged()
    with _folder(who) as root:
        config = root / "config.json"
        result = root / "result.json"
        config.write_text(json.dumps({
            "repo": str(REPO), "work": str(root / "work"), "result": str(result),
            "profiles": {k: list(v) for k, v in profiles.items()}, "profile": profile,
            "rows": rows, "custody": custody,
        }))  # fmt: skip
        os.chown(config, who.uid, who.gid)
        config.chmod(0o600)
        env = _environment(root, master_key)
        if not confine:
            env["ZINGY_NB_CONFINE"] = "off"
        proc = subprocess.Popen(
            _command(who, root, config), env=env, cwd=str(root),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, text=True,
        )  # fmt: skip
        try:
            _, stderr = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            _, stderr = proc.communicate()
        finally:
            leftovers = stop_leftovers(who, root)
        data = json.loads(result.read_text()) if result.exists() else {}
        if os.environ.get(KEEP_ENV) and result.exists():
            shutil.copyfile(result, os.environ[KEEP_ENV])
        return Run(who, data, proc.returncode, stderr, leftovers)
