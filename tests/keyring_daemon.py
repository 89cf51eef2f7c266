"""A real, private Secret Service (gnome-keyring on its own D-Bus session) for tests.

Each fixture starts ``dbus-daemon --session`` on a socket in a throwaway folder, then
``gnome-keyring-daemon --foreground --components=secrets`` on that bus, with a throwaway
``HOME`` and XDG dirs so the login keyring lives there and nothing touches the
developer's own keyring. Both daemons are ended by PID afterwards, always.

The pytest process itself never talks to the keyring: its ``PYTHON_KEYRING_BACKEND`` is
the fail backend (see ``tests/isolation.py``) and keyring's backend choice is per
process. Work that must see the keyring runs in a subprocess with ``SecretService.env``
merged into its environment (``SecretService.run`` / ``SecretService.cli``).

If gnome-keyring or D-Bus tools are missing the fixtures FAIL, not skip: a skip would
hide a missing system package in CI.

Use them by importing the fixture functions into a test module
(``from tests.keyring_daemon import secret_service_fixture``; the fixture is named
``secret_service``) or by listing ``"tests.keyring_daemon"`` in the root conftest's
``pytest_plugins``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

SERVICE = "zingy-nb"
PASSWORD = "made-up-keyring-pass"
TOOLS = ("dbus-daemon", "dbus-send", "gnome-keyring-daemon", "secret-tool")
#: Every subprocess gets this long at most: a hang fails the test instead of CI.
TIMEOUT = 30.0
_SECRETS_NAME = "org.freedesktop.secrets"


def _require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: the keyring tests need a real Secret "
            "Service. Run `.ci/run`, or `apt-get update && apt-get install -y "
            "gnome-keyring dbus-x11 libsecret-tools`.",
            pytrace=False,
        )


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has already exited


def _end(pid: int) -> None:
    """SIGTERM one process we started, then SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.02)


class SecretService:
    """A running private Secret Service and the env a child process needs to use it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.env: dict[str, str] = {}
        self.bus_pid: int | None = None
        self._keyring: subprocess.Popen[bytes] | None = None
        self._extra_pids: set[int] = set()

    # -- daemons ------------------------------------------------------------------------
    def _start_bus(self) -> None:
        run_dir = self.root / "run"
        for sub in (self.home, run_dir):
            sub.mkdir(mode=0o700, parents=True, exist_ok=True)
        base = {
            "HOME": str(self.home),
            "XDG_RUNTIME_DIR": str(run_dir),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
        }
        # The bus passes its own env to services it activates (the prompter): keep
        # them inside the throwaway HOME too.
        daemon_env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
        daemon_env.update(base)
        out = subprocess.run(
            [
                "dbus-daemon",
                "--session",
                "--fork",
                f"--address=unix:path={self.root / 'bus.sock'}",
                "--print-address=1",
                "--print-pid=1",
            ],
            env=daemon_env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
        ).stdout.split()
        address, pid = out[0], int(out[1])
        self.bus_pid = pid
        self.env = {
            **base,
            "DBUS_SESSION_BUS_ADDRESS": address,
            "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
        }

    def start_keyring(self, *, unlock: bool) -> None:
        """Start gnome-keyring on the bus; ``unlock`` feeds it the login password.

        Without it the login keyring stays locked (or, in a fresh HOME, uncreated):
        reads and writes then fail fast with ``KeyringLocked`` / "Prompt dismissed".
        """
        assert self._keyring is None, "gnome-keyring is already running"
        args = ["gnome-keyring-daemon", "--foreground", "--components=secrets"]
        if unlock:
            args.append("--unlock")
        log = open(self.root / "gnome-keyring.log", "ab")
        try:
            self._keyring = subprocess.Popen(
                args,
                env={**os.environ, **self.env},
                stdin=subprocess.PIPE if unlock else subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        if unlock:
            assert self._keyring.stdin is not None
            self._keyring.stdin.write(PASSWORD.encode())
            self._keyring.stdin.close()
        deadline = time.monotonic() + 10
        while self.secrets_owner_pid() != self._keyring.pid:
            if self._keyring.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "gnome-keyring-daemon did not come up on the private bus; log:\n"
                    + (self.root / "gnome-keyring.log").read_text(errors="replace")
                )
            time.sleep(0.02)

    def stop_keyring(self) -> None:
        """End gnome-keyring (its keyring files stay in HOME for a restart)."""
        proc, self._keyring = self._keyring, None
        if proc is not None:
            _end(proc.pid)
            proc.wait(timeout=TIMEOUT)
        # Wait until the bus forgets the name, or a call could still reach the old one.
        deadline = time.monotonic() + 5
        while self.secrets_owner_pid() is not None and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart_keyring(self, *, unlock: bool) -> None:
        """Like a new login session: unlocked again, or left locked."""
        self.stop_keyring()
        self.start_keyring(unlock=unlock)

    def secrets_owner_pid(self) -> int | None:
        """PID of whatever owns the Secret Service name on our bus (None if nobody)."""
        done = subprocess.run(
            [
                "dbus-send",
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.GetConnectionUnixProcessID",
                f"string:{_SECRETS_NAME}",
            ],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        if done.returncode != 0:
            return None
        return int(done.stdout.split()[-1])

    def close(self) -> None:
        # A client call may have made the bus activate a second gnome-keyring from its
        # service file: that one is ours too, end it by its PID.
        try:
            owner = self.secrets_owner_pid() if self.bus_pid else None
        except (OSError, subprocess.SubprocessError, ValueError):
            owner = None
        if owner is not None and (self._keyring is None or owner != self._keyring.pid):
            self._extra_pids.add(owner)
        try:
            self.stop_keyring()
        finally:
            for pid in self._extra_pids:
                _end(pid)
            if self.bus_pid is not None:
                _end(self.bus_pid)
                self.bus_pid = None

    # -- reading the keyring directly -----------------------------------------------------
    def _secret_tool(
        self, *args: str, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["secret-tool", *args],
            env={**os.environ, **self.env},
            input=input,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )

    def lookup(self, username: str) -> str | None:
        """The secret stored for (service ``zingy-nb``, ``username``), or None."""
        done = self._secret_tool("lookup", "service", SERVICE, "username", username)
        return done.stdout if done.returncode == 0 else None

    def clear(self, username: str) -> None:
        """Delete the entry (service ``zingy-nb``, ``username``)."""
        self._secret_tool("clear", "service", SERVICE, "username", username).check_returncode()

    def usernames(self) -> list[str]:
        """Usernames of every ``zingy-nb`` entry in the (unlocked) keyring."""
        done = self._secret_tool("search", "--all", "service", SERVICE)
        found = []
        for line in (done.stdout + done.stderr).splitlines():
            key, sep, value = line.partition(" = ")
            if sep and key.strip() == "attribute.username":
                found.append(value.strip())
        return sorted(found)

    # -- running zingy-nb under this keyring ------------------------------------------------
    def child_env(self, zingy_home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "ZINGY_NB_MASTER_KEY"}
        env.update(self.env)
        env["ZINGY_NB_HOME"] = str(zingy_home)
        env.update(extra or {})
        return env

    def run(
        self,
        argv: Sequence[str],
        zingy_home: Path,
        *,
        input: str | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` with this keyring, ``ZINGY_NB_HOME=zingy_home``, a time limit."""
        return subprocess.run(
            list(argv),
            env=self.child_env(zingy_home, extra_env),
            input=input,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            cwd=str(zingy_home.parent),
        )

    def cli(
        self, zingy_home: Path, *args: str, **kwargs: object
    ) -> subprocess.CompletedProcess[str]:
        """``zingy-nb ARGS`` in a child process using this keyring."""
        return self.run([sys.executable, "-m", "zingy_nb.cli", *args], zingy_home, **kwargs)  # type: ignore[arg-type]

    def python(
        self, zingy_home: Path, code: str, **kwargs: object
    ) -> subprocess.CompletedProcess[str]:
        """``python -c CODE`` in a child process using this keyring."""
        return self.run([sys.executable, "-c", code], zingy_home, **kwargs)  # type: ignore[arg-type]


def start_secret_service(*, unlock: bool) -> SecretService:
    """Start a private bus and gnome-keyring; the caller must ``close()`` it."""
    _require_tools()
    service = SecretService(Path(tempfile.mkdtemp(prefix="kr-")))  # short: socket path limit
    try:
        service._start_bus()
        service.start_keyring(unlock=unlock)
    except BaseException:
        service.close()
        shutil.rmtree(service.root, ignore_errors=True)
        raise
    return service


def _dispose(service: SecretService) -> None:
    """End both daemons and remove the throwaway home, whatever happens."""
    try:
        service.close()
    finally:
        shutil.rmtree(service.root, ignore_errors=True)


def _serve(unlock: bool) -> Iterator[SecretService]:
    service = start_secret_service(unlock=unlock)
    try:
        yield service
    finally:
        _dispose(service)


@pytest.fixture(name="secret_service")
def secret_service_fixture() -> Iterator[SecretService]:
    """An unlocked gnome-keyring Secret Service on a private D-Bus session."""
    yield from _serve(unlock=True)


@pytest.fixture(name="locked_secret_service")
def locked_secret_service_fixture() -> Iterator[SecretService]:
    """A Secret Service whose login keyring exists but was not unlocked this session.

    Reads and writes fail fast with ``KeyringLocked``; no prompt can appear headless.
    """
    service = start_secret_service(unlock=True)  # creates the login keyring
    try:
        service.restart_keyring(unlock=False)
        yield service
    finally:
        _dispose(service)
