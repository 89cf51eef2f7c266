"""One-time notices for the person running the process, never into a cell's output.

In a kernel, ``sys.stderr`` is the cell's output stream; ipykernel's ``fileno()`` of it
is a copy of the kernel process's own stderr (the server's log), so notices go there.
Strict nbval comparisons stay stable because nothing lands in a cell.
"""

from __future__ import annotations

import io
import os
import sys
import threading

_said: set[str] = set()
_lock = threading.Lock()


def _write(text: str) -> None:
    data = text.encode("utf-8", "replace")
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        fd = None
    if fd is not None:
        try:
            os.write(fd, data)
            return
        except OSError:
            pass
    original = sys.__stderr__
    if original is not None:
        original.write(text)
        original.flush()


def announce_once(topic: str, message: str) -> None:
    """Write ``message`` once per process and ``topic``, prefixed ``zingy-nb:``."""
    with _lock:
        if topic in _said:
            return
        _said.add(topic)
    _write(f"zingy-nb: {message}\n")
