"""Keeping secrets out of IPython's history, in memory and on disk.

``forget_input``: IPython records a cell before any magic in it runs, so a line that
may hold an inline secret is already in ``In``/``_ih``, ``_i*`` and the write cache of
the history database. This scrubs all of them, under the history manager's cache lock
(the saving thread holds it while writing), then deletes the row with
``secure_delete`` on so the bytes do not linger in the database file.

``install``: a stored value typed into an ordinary cell (pasted into a string, say) is
no magic line, and would stay in ``history.sqlite``. When the kernel stops, this
session's inputs and outputs in the database are redacted with the matcher the server
scrubs saved notebooks with (every stored value this process's store lets it open),
plus every value registered in the process (its keys among them).
"""

from __future__ import annotations

import atexit
import sqlite3
import sys
from typing import Any

from .. import redact

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


_INSTALLED = "_zingy_nb_history_scrub"


def matcher() -> redact.Redactor:
    """What history is scrubbed with: the process's registered values, and every value
    of the store the process uses (as the server's save-time scrub), when it can open
    them; a store it cannot open adds nothing."""
    from ..profiles import get_profiles

    try:
        found = get_profiles()._redactor_of_all()
    except Exception:  # no key, no store, no server: the process's own values still count
        found = redact.Redactor()
    found.include(redact.redactor)
    return found


def scrub_session(shell: Any, redactor: redact.Redactor) -> int:
    """Redact this session's rows of the history database (inputs, and outputs when
    IPython logs them) after writing out what is cached; returns how many changed."""
    hm = getattr(shell, "history_manager", None)
    db = getattr(hm, "db", None)
    if hm is None or not isinstance(db, sqlite3.Connection) or not len(redactor):
        return 0
    hm.writeout_cache()
    session, changed = hm.session_number, 0
    with hm.db_input_cache_lock, hm.db_output_cache_lock, db:
        db.execute("PRAGMA secure_delete = ON")
        rows = db.execute(
            "SELECT line, source, source_raw FROM history WHERE session = ?", (session,)
        ).fetchall()
        outputs = db.execute(
            "SELECT line, output FROM output_history WHERE session = ?", (session,)
        ).fetchall()
        # One batch: a matcher that asks the agent makes one round trip for the session.
        found = iter(
            redactor.count_all(
                [t or "" for _, source, raw in rows for t in (source, raw)]
                + [output or "" for _, output in outputs]
            )
        )
        for line, source, raw in rows:
            (new, a), (new_raw, b) = next(found), next(found)
            if a or b:
                db.execute(
                    "UPDATE history SET source = ?, source_raw = ? WHERE session = ? AND line = ?",
                    (new if a else source, new_raw if b else raw, session, line),
                )
                changed += 1
        for line, _ in outputs:
            new, n = next(found)
            if n:
                db.execute(
                    "UPDATE output_history SET output = ? WHERE session = ? AND line = ?",
                    (new, session, line),
                )
                changed += 1
    return changed


def _at_exit(shell: Any) -> None:
    try:
        scrub_session(shell, matcher())
    except Exception as exc:  # never keep a kernel from stopping; say what failed
        print(
            f"zingy-nb: could not scrub stored values from this kernel's IPython history "
            f"({type(exc).__name__}). If a cell held a secret, clear the history: "
            "`ipython history clear` (or delete history.sqlite in the IPython profile).",
            file=sys.__stderr__,
        )


def install(shell: Any) -> None:
    """Scrub this session's history when the process exits (once per process).

    Registered after the shell's own exit handler, so it runs first (atexit is last
    in, first out): it writes the cache out itself, and IPython's final write-out then
    finds nothing left to write.
    """
    if getattr(shell, _INSTALLED, False):
        return
    setattr(shell, _INSTALLED, True)
    atexit.register(_at_exit, shell)
