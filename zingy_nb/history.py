"""Removing a cell's input from IPython's history, in memory and on disk.

IPython records a cell before any magic in it runs, so a line that may hold an inline
secret is already in ``In``/``_ih``, ``_i*`` and the write cache of the history
database. This scrubs all of them, under the history manager's cache lock (the saving
thread holds it while writing), then deletes the row with ``secure_delete`` on so the
bytes do not linger in the database file.
"""

from __future__ import annotations

import sqlite3
from typing import Any

PLACEHOLDER = "# [zingy-nb removed this input from history: it may have held a secret]"


def forget_input(shell: Any, line_num: int | None = None) -> None:
    """Scrub the input of cell ``line_num`` (default: the cell running now)."""
    hm = getattr(shell, "history_manager", None)
    if hm is None:
        return
    if line_num is None:
        line_num = shell.execution_count
    doomed: set[str] = set()
    for hist in (hm.input_hist_parsed, hm.input_hist_raw):
        if 0 <= line_num < len(hist):
            doomed.add(hist[line_num])
            hist[line_num] = PLACEHOLDER
    for attr in ("_i00", "_i", "_ii", "_iii"):
        if getattr(hm, attr, None) in doomed:
            setattr(hm, attr, PLACEHOLDER)
    ns = shell.user_ns
    for var in ("_i", "_ii", "_iii", f"_i{line_num}"):
        if ns.get(var) in doomed:
            ns[var] = PLACEHOLDER
    with hm.db_input_cache_lock:
        hm.db_input_cache = [e for e in hm.db_input_cache if e[0] != line_num]
        db = getattr(hm, "db", None)
        if isinstance(db, sqlite3.Connection):
            with db:
                db.execute("PRAGMA secure_delete = ON")
                db.execute(
                    "DELETE FROM history WHERE session = ? AND line = ?",
                    (hm.session_number, line_num),
                )
