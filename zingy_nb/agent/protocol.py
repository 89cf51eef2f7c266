"""The agent's wire format: one JSON object per line, both ways.

A request is ``{"id", "op", ...}``; a reply ``{"id", "ok": true, ...}`` or ``{"id",
"ok": false, "error": CLASS, "message": ...}`` where CLASS names a class of
``zingy_nb.errors``, so the client raises the same error type the agent did. A message
is an error's own text (which never holds a secret), or for anything unexpected only
its type: an unexpected exception's text may quote data.
"""

from __future__ import annotations

import json
from typing import Any, Final

from .. import errors
from ..errors import ZingyError

#: A request or reply is at most this long (a save-time scrub sends a notebook's text).
MAX_LINE: Final = 16 << 20
#: At most this many texts per ``spans`` request.
MAX_TEXTS: Final = 10_000


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8") + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """A request or reply; a line that is not a JSON object is a ``ZingyError``."""
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        obj = None
    if not isinstance(obj, dict):
        raise ZingyError(
            "The zingy-nb agent got a line that is not a JSON object: send one object per line."
        )
    return obj


def error_class(exc: BaseException) -> str:
    """The nearest class of ``zingy_nb.errors`` that ``exc`` is an instance of."""
    for cls in type(exc).__mro__:
        if getattr(errors, cls.__name__, None) is cls and issubclass(cls, ZingyError):
            return cls.__name__
    return ZingyError.__name__


def failure(request_id: Any, exc: BaseException, op: str = "") -> dict[str, Any]:
    if isinstance(exc, ZingyError):
        message = str(exc)
    else:
        message = (
            f"The zingy-nb agent failed on {op or 'a request'} ({type(exc).__name__}); "
            "its log, agent.log in its folder, has no more detail. Try again, or restart "
            "the agent (`zingy-nb agent`)."
        )
    reply = {"id": request_id, "ok": False, "error": error_class(exc), "message": message}
    if isinstance(exc, ZingyError) and exc.shown:  # words the CLI may show (a real role)
        reply["shown"] = [str(word) for word in exc.shown]
    return reply


def raise_failure(reply: dict[str, Any]) -> None:
    """Raise the error a failed reply names, as the same ``zingy_nb.errors`` class."""
    cls = getattr(errors, str(reply.get("error")), None)
    if not (isinstance(cls, type) and issubclass(cls, ZingyError)):
        cls = ZingyError
    exc = cls.__new__(cls)  # some classes build their own message: keep the agent's
    Exception.__init__(exc, str(reply.get("message") or "The zingy-nb agent refused."))
    shown = reply.get("shown")
    if isinstance(shown, list):
        exc.showing(*(str(word) for word in shown))
    raise exc
