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


def current_line(shell: Any) -> int:
    """The history line number of the cell running now.

    Not ``shell.execution_count``: IPython 9 increments it before the cell's code
    runs (older versions after), so during a magic it may already name the next cell.
    The running cell's ``ExecutionResult`` carries the number the cell is stored under.
    """
    result = getattr(getattr(shell, "displayhook", None), "exec_result", None)
    count = getattr(result, "execution_count", None)
    return count if isinstance(count, int) else shell.execution_count


def forget_input(shell: Any, line_num: int | None = None) -> None:
    """Scrub the input of cell ``line_num`` (default: the cell running now)."""
    hm = getattr(shell, "history_manager", None)
    if hm is None:
        return
    if line_num is None:
        line_num = current_line(shell)
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
