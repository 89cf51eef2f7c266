"""IPython's history database after a real kernel stops: no stored value typed in a cell.

A value pasted into an ordinary cell (not a ``%zingy_apikey`` line) is written to
``history.sqlite`` as the cell runs. When the kernel stops, zingy-nb redacts its
session's rows with the save-time scrub's matcher: every stored value its store opens,
retrieved in that kernel or not. Run on both store backends, in a cloud-flow kernel and
in a plain ``python3`` kernel that only ran ``%load_ext zingy_nb``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ..kernels import kernel_env, running_kernel
from ..postgres import Backend
from .scanner import byte_views, find
from .test_kernel_leaks import backend, pg_server, process_env, secrets_in_play
from .values import HTML_PW, STRIPE

__all__ = ["backend", "pg_server"]  # fixtures of the leak table, found by their names


def history_text(ipython_dir: Path) -> str:
    """Every input and output the history database holds, one per line."""
    conn = sqlite3.connect(ipython_dir / "profile_default" / "history.sqlite")
    try:
        rows = conn.execute("SELECT source_raw || '\n' || source FROM history").fetchall()
        rows += conn.execute("SELECT output FROM output_history").fetchall()
    finally:
        conn.close()
    return "\n".join(text for (text,) in rows)


@pytest.mark.parametrize("flow", ["cloud-flow", None], ids=["cloud-flow", "plain-python3"])
def test_a_stored_value_typed_into_a_cell_leaves_history_when_the_kernel_stops(
    backend: Backend, flow: str | None, tmp_path: Path
) -> None:
    ipython_dir = tmp_path / "ipython"
    env = kernel_env(flow=flow, home=backend.home, IPYTHONDIR=str(ipython_dir),
                     **process_env(backend))  # fmt: skip
    secrets = secrets_in_play(backend)
    with running_kernel(env) as kernel:
        kernel.ok("%load_ext zingy_nb")
        # Given stored values pasted into ordinary cells (never retrieved in this kernel)
        kernel.ok(f"token = {STRIPE!r}  # pasted from the dashboard")
        kernel.ok(f"headers = {{'X-Pw': {HTML_PW[:20]!r}}}")  # a run of 20, repr-escaped
        kernel.ok("print('an ordinary cell')")
        kernel.ok("get_ipython().history_manager.writeout_cache()")
        # they reached the database while the kernel ran (so the check below can fail)
        assert find(history_text(ipython_dir), secrets, "history.sqlite")
    # When the kernel has stopped, Then its history holds none of them, not even in the
    # database file's free space
    text = history_text(ipython_dir)
    files = sorted((ipython_dir / "profile_default").glob("history.sqlite*"))
    text += "\n".join(view for path in files for view in byte_views(path.read_bytes()))
    leaks = find(text, secrets, "history.sqlite")
    assert not leaks, "\n".join(map(str, leaks))
    # And the rest of the session is kept
    assert "print('an ordinary cell')" in text and "# pasted from the dashboard" in text
