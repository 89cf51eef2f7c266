"""Asking the user, through the kernel's stdin channel, to allow a notebook a profile.

Why stdin: a cell that is executing blocks the shell channel, so a comm reply from the
front end would be processed only after the cell ended (a deadlock while it waits).
The stdin channel, which ``input()`` and ``getpass`` use, works while a cell runs; a
client that sends a cell with ``allow_stdin`` false (nbclient, papermill, nbval) has no
stdin, and the core refuses instead of asking (``access.judge``).

**The prompt** is an ``input_request`` (``password`` false) whose ``prompt`` is one
line, stable so that a front end can turn it into a dialog::

    zingy-nb: allow notebook "<notebook>" to read profile "<profile>"? [allow/deny]

followed by one space. It starts with ``PROMPT_PREFIX``; ``<notebook>`` (the real path)
and ``<profile>`` are JSON strings (double quotes, backslash escapes); ``PROMPT_RE``
matches the whole line and ``parse_prompt`` returns both values. The answer is the
``input_reply`` value: ``allow`` (any case, surrounding spaces ignored) allows; anything
else denies. Without an extension the front end shows it as an inline prompt in the
cell, where typing ``allow`` works the same.

**The time limit.** ipykernel's own ``raw_input`` waits without a deadline (it polls the
stdin socket every 10 ms until a reply comes), so this module sends the same request on
the same socket itself and polls until ``TIMEOUT_S``; then the cell gets
``NotebookAccessError``. The front end's input box may stay open until the cell ends: a
late answer is discarded (a reply is matched to its request, and stale replies are
flushed before each request, as ipykernel does). An interrupt while waiting stops the
cell as usual. If the kernel lacks the internals this relies on, it falls back to
``raw_input``, which asks the same question without a time limit.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from typing import Any, Final

from .. import access

TIMEOUT_S: Final = 60.0
PROMPT_PREFIX: Final = "zingy-nb: allow notebook "
_JSON_STRING = r'"(?:[^"\\]|\\.)*"'
PROMPT_RE: Final = re.compile(
    rf"^{re.escape(PROMPT_PREFIX)}(?P<notebook>{_JSON_STRING}) to read profile "
    rf"(?P<profile>{_JSON_STRING})\? \[allow/deny\] $"
)


def prompt_text(name: str, notebook: str) -> str:
    return (
        f"{PROMPT_PREFIX}{json.dumps(notebook, ensure_ascii=False)} to read profile "
        f"{json.dumps(name)}? [allow/deny] "
    )


def parse_prompt(text: str) -> tuple[str, str] | None:
    """(notebook, profile) of a zingy-nb prompt; None for any other prompt."""
    found = PROMPT_RE.match(text)
    if found is None:
        return None
    return json.loads(found["notebook"]), json.loads(found["profile"])


def answer_of(value: object) -> str:
    return access.ALLOW if str(value).strip().lower() == "allow" else access.DENY


class StdinAsker:
    """``access.Asker`` for one ipykernel kernel."""

    def __init__(self, kernel: Any) -> None:
        self._kernel = kernel
        self.timeout = TIMEOUT_S
        self._lock = threading.Lock()

    def can_ask(self) -> bool:
        return bool(getattr(self._kernel, "_allow_stdin", False))

    def ask(self, name: str, notebook: str) -> str:
        text = prompt_text(name, notebook)
        kernel = self._kernel
        with self._lock:
            if not all(hasattr(kernel, a) for a in ("stdin_socket", "session", "get_parent")):
                return answer_of(kernel.raw_input(text))  # no time limit: see the docstring
            return self._ask_with_deadline(text, time.monotonic() + self.timeout)

    def _ask_with_deadline(self, text: str, deadline: float) -> str:
        import zmq

        kernel = self._kernel
        socket, session = kernel.stdin_socket, kernel.session
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        while True:  # stale replies (a late answer to an earlier request)
            try:
                socket.recv_multipart(zmq.NOBLOCK)
            except zmq.ZMQError as exc:
                if exc.errno == zmq.EAGAIN:
                    break
                raise
        parent = kernel.get_parent("shell")
        ident = kernel._parent_ident["shell"]
        request = session.send(
            socket, "input_request", {"prompt": text, "password": False}, parent, ident=ident
        )
        request_id = request["header"]["msg_id"]
        while (left := deadline - time.monotonic()) > 0:
            ready, _, failed = zmq.select([socket], [], [socket], min(left, 0.05))
            if not (ready or failed):
                continue
            try:
                _, reply = session.recv(socket)
            except Exception:  # an invalid message: ipykernel logs and keeps waiting too
                continue
            if reply is None or reply.get("msg_type") != "input_reply":
                continue
            # Some clients (jupyter_client's ``input()``) send no parent header.
            replied_to = (reply.get("parent_header") or {}).get("msg_id")
            if replied_to not in (None, "", request_id):
                continue
            return answer_of((reply.get("content") or {}).get("value", ""))
        return access.NO_ANSWER


def install(ipython: Any) -> None:
    """Let the core ask through this kernel's stdin (nothing to do outside a kernel)."""
    kernel = getattr(ipython, "kernel", None)
    if kernel is not None:
        access.set_asker(StdinAsker(kernel))
