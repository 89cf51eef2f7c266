"""The kernel's outgoing-message filter: redaction that holds across stream messages.

``install`` wraps the kernel's ``Session.send``, the one place every outgoing message
passes, and redacts each message with the process redactor (content, metadata,
buffers), in both forms ipykernel uses: a built message dict as ``msg_or_type``
(streams, displays, execute results) and a message type with ``content=``.

Stream output needs more, because a front end joins the consecutive stream messages
of a cell: a value printed in pieces with flushes in between (or by a slow
subprocess) would leave as messages each too short to match. So, per request (parent
``msg_id``) and stream name, the filter

- keeps a *context*: the last ``CONTEXT`` raw characters already sent. Each new text
  is scanned together with it (``Redactor.spans``) and every part of a match that
  falls in the new text is masked, so a continuation never completes a value or a
  16-run. 1024 characters cover the longest encoded form of any value short enough
  to be matched only whole (under 24 characters, at most 12 characters per character
  encoded) and any encoded 16-run of a longer one; longer values are caught by runs.
- *holds* back up to ``HOLD`` (15) raw characters at the end of the text, which could
  begin a run or a value, so that a match completed by the next message is masked
  whole rather than after its first characters. Only a tail that could begin a match
  is held (``Redactor.open_tail``: a suffix found inside some registered value's
  form); ordinary output, which ends in text no value holds, goes out at once and
  whole. A held tail goes out prepended to the next message of the
  same stream, or on its own before any other message of the same request (other
  stream, display, error, reply, the idle status), and at the latest ``DELAY`` after
  it was first held, sent by one daemon timer thread.

The request's state is forgotten when its idle status goes out; at most
``MAX_STREAMS`` streams are tracked (the oldest is released and dropped), so output
from threads after their request ended cannot grow memory. With nothing registered the
filter does nothing at all: no holding, no delay, no bookkeeping.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

from .. import redact

HOLD: Final = 15
DELAY: Final = 0.1
CONTEXT: Final = 1024
MAX_STREAMS: Final = 64
# Marks a wrapped ``send``, so a reload of the extension never wraps it twice.
_MARK: Final = "_zingy_nb_redacting"

log = logging.getLogger(__name__)

Key = tuple[Any, Any]  # (parent msg_id or None, stream name)


@dataclass
class _Stream:
    """What is remembered of one stream of one request."""

    socket: Any
    ident: Any
    parent_header: dict[str, Any]
    context: str = ""  # the last CONTEXT raw characters already sent
    held: str = ""  # raw characters not yet sent
    deadline: float = 0.0  # when ``held`` must go out at the latest


def _parent_id(parent: Any) -> Any:
    """The ``msg_id`` of a parent given as a message or a header (None if absent)."""
    try:
        header = parent["header"] if "header" in parent else parent
        return header["msg_id"]
    except (TypeError, KeyError):
        return None


class _Filter:
    """The wrapped ``send`` and its per-stream state, shared by every sending thread."""

    def __init__(self, session: Any, original: Any) -> None:
        self._session = session
        self._original = original
        self._kernel_pid = os.getpid()
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a lock held at fork stays held

    def _reset(self) -> None:
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._streams: OrderedDict[Key, _Stream] = OrderedDict()
        self._timer: threading.Thread | None = None

    def send(
        self,
        stream: Any,
        msg_or_type: Any,
        content: Any = None,
        parent: Any = None,
        ident: Any = None,
        buffers: Any = None,
        track: bool = False,
        header: Any = None,
        metadata: Any = None,
        **kwargs: Any,
    ) -> Any:
        def forward(msg: Any, content: Any = content) -> Any:
            return self._original(
                stream, msg, content, parent, ident, buffers, track, header, metadata, **kwargs
            )

        redactor = redact.redactor
        if not len(redactor) and not self._streams:
            return forward(msg_or_type)  # nothing to redact: exactly as without zingy-nb
        if buffers:
            buffers = [redactor.buffer(b) for b in buffers]
        if metadata is not None:
            metadata = redactor.data(metadata)
        if isinstance(msg_or_type, dict):
            msg_type = msg_or_type.get("header", {}).get("msg_type")
            parent_id = _parent_id(msg_or_type.get("parent_header"))
        else:
            msg_type = msg_or_type if msg_or_type is not None else (header or {}).get("msg_type")
            parent_id = _parent_id(parent)
        if msg_type == "stream" and stream is not None:
            if not isinstance(msg_or_type, dict):
                msg_or_type = self._session.msg(
                    "stream", content, parent=parent, header=header, metadata=metadata
                )
            if isinstance(msg_or_type.get("content", {}).get("text"), str):
                return self._send_stream(stream, msg_or_type, ident, forward)
        with self._lock:
            self._release(parent_id)
            body = msg_or_type.get("content") if isinstance(msg_or_type, dict) else content
            if msg_type == "status" and (body or {}).get("execution_state") == "idle":
                for key in [k for k in self._streams if k[0] == parent_id]:
                    del self._streams[key]  # the request is over: forget it
            if isinstance(msg_or_type, dict):
                return forward(redactor.message(msg_or_type))
            return forward(msg_or_type, redactor.data(content))

    def _send_stream(self, socket: Any, msg: dict[str, Any], ident: Any, forward: Any) -> Any:
        """Send what may go out of a stream message now; hold its tail."""
        redactor = redact.redactor
        parent_header = msg.get("parent_header") or {}
        parent_id = _parent_id(parent_header)
        name = msg["content"].get("name")
        key = (parent_id, name)
        with self._lock:
            self._release(parent_id, but=key)
            state = self._streams.get(key)
            if state is None:
                state = self._streams[key] = _Stream(socket, ident, parent_header)
                while len(self._streams) > MAX_STREAMS:
                    oldest = next(iter(self._streams))
                    self._release_one(oldest)
                    del self._streams[oldest]
            state.socket, state.ident, state.parent_header = socket, ident, parent_header
            was_held = len(state.held)
            full = state.held + msg["content"]["text"]
            # In a forked child (which may exit at once) nothing is held: context only.
            hold = len(redactor) > 0 and os.getpid() == self._kernel_pid
            text, cut = self._mask(state, full, hold=hold)
            state.held = full[cut:]
            if state.held and (not was_held or cut >= was_held):
                state.deadline = time.monotonic() + DELAY  # else the oldest held char's
            if state.held:
                self._start_timer()
                self._wake.notify()
            if not text:
                return None
            out = dict(msg, content=dict(msg["content"], text=text))
            return forward(redactor.message(out))

    def _mask(self, state: _Stream, full: str, *, hold: bool) -> tuple[str, int]:
        """``full[:cut]`` masked, and ``cut``; the context moves on (``continue_masked``)."""
        text, cut, state.context = continue_masked(state.context, full, hold=hold)
        return text, cut

    def _release(self, parent_id: Any, but: Key | None = None) -> None:
        """Send the held tails of one request (except stream ``but``)."""
        for key in [k for k, s in self._streams.items() if k[0] == parent_id and s.held]:
            if key != but:
                self._release_one(key)

    def _release_one(self, key: Key) -> None:
        state = self._streams[key]
        if not state.held:
            return
        full, state.held = state.held, ""
        text, _ = self._mask(state, full, hold=False)
        content = {"name": key[1], "text": text}
        msg = self._session.msg("stream", content, parent=state.parent_header)
        try:
            self._original(state.socket, redact.redactor.message(msg), ident=state.ident)
        except Exception:  # a timer must survive a closing socket
            log.debug("could not send a held stream tail", exc_info=True)

    def _start_timer(self) -> None:
        if self._timer is None or not self._timer.is_alive():
            self._timer = threading.Thread(
                target=self._run_timer, name="zingy-nb-stream-release", daemon=True
            )
            self._timer.start()

    def _run_timer(self) -> None:
        """Release each held tail when its deadline passes (a daemon: never blocks exit)."""
        with self._wake:
            while True:
                now = time.monotonic()
                for key in [k for k, s in self._streams.items() if s.held and s.deadline <= now]:
                    self._release_one(key)
                deadlines = [s.deadline for s in self._streams.values() if s.held]
                self._wake.wait(max(min(deadlines) - now, 0.001) if deadlines else None)


def continue_masked(context: str, full: str, *, hold: bool) -> tuple[str, int, str]:
    """Redact ``full``, the text that follows ``context`` (already sent) in one stream.

    Returns ``full[:cut]`` masked wherever a match (found with the context) falls in it,
    ``cut``: where the tail held back starts (``len(full)`` unless ``hold``; at most
    ``HOLD`` characters that could begin a match), and the next context. Shared by the
    message filter and the kernel's own file descriptors (``fd_filter``).
    """
    base = len(context)
    pieces: list[str] = []
    last = 0
    for start, end in redact.redactor.spans(context + full):
        if end <= base:
            continue
        start, end = max(start - base, 0), end - base
        pieces += (full[last:start], redact.MASK)
        last = end
    held = min(HOLD, redact.redactor.open_tail(full[last:])) if hold else 0
    cut = len(full) - held
    pieces.append(full[last:cut])
    return "".join(pieces), cut, (context + full[max(cut - CONTEXT, 0) : cut])[-CONTEXT:]


def install(session: Any) -> bool:
    """Wrap ``session.send`` once (False when already wrapped, e.g. on ``%reload_ext``)."""
    if getattr(session.send, _MARK, False):
        return False
    original = session.send
    send = _Filter(session, original).send

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return send(*args, **kwargs)

    setattr(wrapper, _MARK, True)
    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    wrapper._filter = send.__self__  # type: ignore[attr-defined]  # for tests and debugging
    session.send = wrapper
    return True
