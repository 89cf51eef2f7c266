"""Short tracebacks for zingy-nb's errors in IPython: the caller's frames and the message.

A ``ZingyError`` says what was wrong and what to do next; the frames inside zingy-nb
that raised it (``conn``, ``profiles``, ``access``, ``rules``...) are a wall of lines a
user cannot act on. IPython asks an exception for its own traceback through
``_render_traceback_`` (``ZingyError`` forwards it here): this renders IPython's usual
traceback, in the current ``%xmode``, with every zingy-nb frame left out, and with a
chained exception left out too when it was raised inside zingy-nb. Setting
``ZINGY_NB_TRACEBACK=full`` in the kernel (``%env ZINGY_NB_TRACEBACK=full``) shows the
whole traceback again. Standard library only at import: IPython is asked for lazily.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Final

FULL_ENV: Final = "ZINGY_NB_TRACEBACK"
HOW_TO_SEE_ALL: Final = f"%env {FULL_ENV}=full"
NOTE: Final = f"(zingy-nb's own frames are hidden; {HOW_TO_SEE_ALL} shows them)"
_PACKAGE: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _ours(tb: TracebackType) -> bool:
    return os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(_PACKAGE)


def without_internals(tb: TracebackType | None) -> tuple[TracebackType | None, int]:
    """``tb`` rebuilt without zingy-nb's frames, and how many were left out."""
    kept: list[TracebackType] = []
    hidden = 0
    while tb is not None:
        if _ours(tb):
            hidden += 1
        else:
            kept.append(tb)
        tb = tb.tb_next
    rebuilt: TracebackType | None = None
    for frame in reversed(kept):
        rebuilt = TracebackType(rebuilt, frame.tb_frame, frame.tb_lasti, frame.tb_lineno)
    return rebuilt, hidden


def _raised_inside(exc: BaseException) -> bool:
    """Whether ``exc`` was raised in zingy-nb's code (its innermost frame is ours)."""
    tb = exc.__traceback__
    if tb is None:
        return True
    while tb.tb_next is not None:
        tb = tb.tb_next
    return _ours(tb)


@contextmanager
def _internal_chain_cut(exc: BaseException) -> Iterator[bool]:
    """While rendering, leave out the exception ``exc`` was raised from (or during) if
    zingy-nb raised it; the exception object is as it was afterwards."""
    cause, suppress = exc.__cause__, exc.__suppress_context__
    linked = cause if cause is not None else (None if suppress else exc.__context__)
    cut = linked is not None and _raised_inside(linked)
    if cut:
        exc.__cause__ = None
        exc.__suppress_context__ = True
    try:
        yield cut
    finally:
        exc.__cause__, exc.__suppress_context__ = cause, suppress


@contextmanager
def _nothing() -> Iterator[bool]:
    yield False


def _render(exc: BaseException) -> list[str]:
    full = os.environ.get(FULL_ENV, "").strip().lower() == "full"
    tb, hidden = (exc.__traceback__, 0) if full else without_internals(exc.__traceback__)
    from IPython import get_ipython

    shell = get_ipython()
    with _nothing() if full else _internal_chain_cut(exc) as cut:
        if shell is None:
            stb = traceback.format_exception(type(exc), exc, tb)
        else:
            stb = list(shell.InteractiveTB.structured_traceback(type(exc), exc, tb))
    if (hidden or cut) and len(stb) > 1:
        stb.insert(len(stb) - 1, NOTE)
    return stb


def render(exc: BaseException) -> list[str]:
    """IPython's structured traceback of ``exc`` without zingy-nb's frames.

    Never raises: on any trouble it falls back to the standard library's whole
    traceback, so an error is never lost to its own formatting.
    """
    try:
        return _render(exc)
    except Exception:
        return traceback.format_exception(type(exc), exc, exc.__traceback__)
