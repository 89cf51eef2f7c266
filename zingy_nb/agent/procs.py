"""Process ancestry from ``/proc``: who started whom, robust to reused pids.

A process is named by its pid and its start time (field 22 of ``/proc/PID/stat``), so a
pid that a new process reused never passes for the old one. A zombie counts as gone.
"""

from __future__ import annotations

from typing import NamedTuple


class Proc(NamedTuple):
    pid: int
    start: int


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name, in parentheses, may hold spaces and parentheses itself
    fields = text[text.rfind(")") + 2 :].split()
    try:
        state, ppid, start = fields[0], int(fields[1]), int(fields[19])
    except (IndexError, ValueError):
        return None
    return None if state in ("Z", "X") else (state, ppid, start)


def identify(pid: int) -> Proc | None:
    """``pid`` with its start time, if it is alive."""
    found = _stat(pid)
    return None if found is None else Proc(pid, found[2])


def alive(proc: Proc) -> bool:
    return identify(proc.pid) == proc


def lineage(pid: int) -> list[Proc]:
    """``pid`` and its ancestors, nearest first (empty if ``pid`` is gone)."""
    chain: list[Proc] = []
    seen: set[int] = set()
    while pid > 0 and pid not in seen:
        seen.add(pid)
        found = _stat(pid)
        if found is None:
            break
        chain.append(Proc(pid, found[2]))
        pid = found[1]
    return chain
