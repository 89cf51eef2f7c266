"""What a keyring read costs: a real Secret Service, and keyrings.alt's plaintext file.

These are the baselines the warm ``zingyConn.apikey`` is compared with: what each
retrieval would cost if the master key (or the secrets themselves) were read from a
keyring every time. Each runs in a child process (see ``keyring_reader.py``).

keyrings.alt is installed only into ``benchmarks/.deps`` (git-ignored) and reaches only
that child through ``PYTHONPATH``: in the main venv it would change keyring's default
backend order and could make the test suite prompt or hang.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .common import BENCH_DIR, run_child, scaled

DEPS = BENCH_DIR / ".deps"
READER = BENCH_DIR / "keyring_reader.py"
NOT_INSTALLED = "gnome-keyring not installed: run .ci/run"


def start_secret_service() -> tuple[Any, str | None]:
    """A private unlocked gnome-keyring (the tests' helper), or None and why not."""
    try:
        from tests import keyring_daemon
    except ImportError as exc:
        return None, f"tests.keyring_daemon unavailable: {exc}"
    if any(shutil.which(tool) is None for tool in keyring_daemon.TOOLS):
        return None, NOT_INSTALLED
    try:
        return keyring_daemon.start_secret_service(unlock=True), None
    except Exception as exc:
        return None, f"Secret Service did not start: {type(exc).__name__}: {exc}"


def stop_secret_service(service: Any) -> None:
    try:
        service.close()
    finally:
        shutil.rmtree(service.root, ignore_errors=True)


def secret_service_reads(service: Any, count: int = scaled(60, 3)) -> dict[str, Any]:
    """Per-call ns of ``keyring.get_password`` through gnome-keyring over D-Bus."""
    home = Path(tempfile.mkdtemp(prefix="ss-reader-"))
    try:
        env = service.child_env(home / "zingy")
        return run_child([sys.executable, str(READER), str(count)], env)  # type: ignore[no-any-return]
    finally:
        shutil.rmtree(home, ignore_errors=True)


def ensure_keyrings_alt() -> str | None:
    """Install keyrings.alt into benchmarks/.deps once; None when ready, else why not.

    ``--no-deps``: its dependencies (jaraco.*) come with keyring and are already in the
    venv; installing them again into .deps would shadow the venv's copies in the child.
    """
    if (DEPS / "keyrings" / "alt").is_dir():
        return None
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--target", str(DEPS), "keyrings.alt"],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["pip failed"]
        return f"keyrings.alt could not be installed: {tail[0]}"
    return None


def plaintext_reads(count: int = scaled(400, 3)) -> dict[str, Any]:
    """Per-call ns of ``keyring.get_password`` from keyrings.alt's plaintext file."""
    import os

    home = Path(tempfile.mkdtemp(prefix="alt-reader-"))
    try:
        env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
        env.update(
            {
                "PYTHONPATH": str(DEPS),
                "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
                "HOME": str(home),
                "XDG_DATA_HOME": str(home / "data"),
                "XDG_CONFIG_HOME": str(home / "config"),
                "XDG_CACHE_HOME": str(home / "cache"),
            }
        )
        return run_child([sys.executable, str(READER), str(count)], env)  # type: ignore[no-any-return]
    finally:
        shutil.rmtree(home, ignore_errors=True)
