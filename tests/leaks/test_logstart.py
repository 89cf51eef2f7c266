"""``%logstart -o``: IPython's session log keeps outputs, so it must keep no value.

In a real cloud-flow kernel on both store backends: a value shown as a cell's result
before the log starts (``%logstart`` writes the session so far, outputs included) and
after it; the log file, read when the log stops, holds them redacted.
"""

from __future__ import annotations

from pathlib import Path

from ..kernels import kernel_env, running_kernel
from ..postgres import Backend
from .scanner import find
from .test_kernel_leaks import backend, pg_server, process_env, secrets_in_play  # noqa: F401

KEY = "zingyConn.apikey"


def test_logstart_output_log_holds_no_value(
    backend: Backend,  # noqa: F811
    tmp_path: Path,
) -> None:
    log = tmp_path / "session-log.py"
    env = kernel_env(flow="cloud-flow", home=backend.home, IPYTHONDIR=str(tmp_path / "ipython"),
                     **process_env(backend))  # fmt: skip
    with running_kernel(env) as kernel:
        kernel.ok("%load_ext zingy_nb")
        # Given values shown as results before the log starts
        kernel.ok(f"v = {KEY}('jwt').secret1; h = {KEY}('html').secret1\nv")
        kernel.ok("{'pw': h, 'note': 'before-the-log'}")
        # When %logstart -o logs the session so far and the cells after it
        kernel.ok(f"%logstart -o {log}")
        kernel.ok("'after-the-log ' + v")
        kernel.ok("h")
        kernel.ok("%logstop")
    # Then the log holds the session, outputs redacted, and no value
    text = log.read_text(encoding="utf-8")
    assert "before-the-log" in text and "#[Out]# 'after-the-log [REDACTED]'" in text, text
    leaks = find(text, secrets_in_play(backend), "%logstart -o file")
    assert not leaks, "\n".join(map(str, leaks))
