"""Consent through the front end: the agent asks a person, never the kernel.

A kernel holding a capability is judged by the agent (``access.judge``), and when its
notebook was never allowed to read a profile, the question goes to the Jupyter servers
connected as the agent's front end (op ``frontend``; the server shows it in JupyterLab
and relays the answer of a browser session). With none connected it is refused at once,
naming what to do. A registered kernel, or any process it started, cannot be a front
end: a kernel never answers its own question.

``FrontEnds`` is the ``access.Asker`` of the agent. The wait for an answer happens with
no lock held: ``consented`` runs a retrieval once; when ``judge`` reaches the asker, the
asker stops that attempt (``_MustAsk``, before anything is audited), the question is
asked and waited for outside every lock, and the retrieval runs again with the answer
at hand, so that ``judge`` records, audits and words the outcome exactly as it does for
a kernel's own asker. Other kernels' retrievals go on meanwhile. One question per
(notebook, profile) is open at a time: retrievals that need the same answer share it.

A retrieval that finds the store's key locked (``vault.locked``) waits the same way
for a person to unlock it: the agent sends ``{"event": "locked", "ask"}`` to its front
ends (JupyterLab shows the Unlock dialog; the server unlocks with op ``unlock`` on a
connection of its own) and retries once the key is unlocked, or fails as locked after
the timeout. One such question is open at a time, shared by every waiting retrieval.

On the wire, after ``frontend`` is accepted the connection carries only events from
the agent, ``{"event": "ask", "ask", "profile", "notebook"}`` and ``{"event":
"locked", "ask"}`` (every open question is sent at once to a new front end) and
``{"event": "settled", "ask"}`` (answered, unlocked, or timed out), and answers from
the front end, ``{"op": "answer", "ask", "answer": "allow"|"deny"}``, which get no
reply. None of it holds a value or a passphrase.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from .. import access
from ..errors import NotebookAccessError, StoreLockedError, ZingyError
from ..kernel.access_prompt import TIMEOUT_S
from .protocol import MAX_LINE, decode, encode

T = TypeVar("T")

#: What ``_wait`` answers when no front end is connected.
NOBODY: Final = "nobody"
NOBODY_WHY = (
    "it was never allowed, and nobody can be asked: no JupyterLab is connected to the "
    "zingy-nb agent. Open the notebook in JupyterLab (its server asks you in a dialog) "
    "and run the cell again"
)
FROM_KERNEL = (
    "A registered kernel, or a process it started, cannot answer notebook-access "
    "questions: a kernel never answers its own. Answer them in JupyterLab, or allow a "
    "notebook with `zingy-nb profiles allow` in a terminal."
)
ANSWERS: Final = (access.ALLOW, access.DENY)


class _MustAsk(Exception):
    """Stops a retrieval that needs an answer not yet given (never leaves this module)."""


@dataclass
class Ask:
    """One open question: may ``notebook`` read ``profile``?"""

    id: str
    profile: str
    notebook: str
    deadline: float
    answer: str | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def event(self) -> dict[str, Any]:
        return {"event": "ask", "ask": self.id, "profile": self.profile, "notebook": self.notebook}


@dataclass
class Unlock:
    """The open question "unlock the store's key", shared by the retrievals waiting."""

    id: str
    deadline: float
    done: threading.Event = field(default_factory=threading.Event)

    def event(self) -> dict[str, Any]:
        return {"event": "locked", "ask": self.id}


class _End:
    """One front end's connection; events are sent whole, one writer at a time."""

    def __init__(self, conn: socket.socket, pid: int) -> None:
        self.conn = conn
        self.pid = pid  # the front end's process (``SO_PEERCRED``): the Jupyter server
        self._lock = threading.Lock()

    def send(self, event: dict[str, Any]) -> bool:
        try:
            with self._lock:
                self.conn.sendall(encode(event))
            return True
        except OSError:
            return False


class FrontEnds:
    """The agent's front ends and open questions; the agent's ``access.Asker``."""

    def __init__(self, log: Callable[[str], None], timeout: float = TIMEOUT_S) -> None:
        self.log = log
        self.timeout = timeout
        self._lock = threading.Lock()
        self._ends: list[_End] = []
        self._asks: dict[tuple[str, str], Ask] = {}
        self._unlock: Unlock | None = None
        self._local = threading.local()  # per retrieval: (consenting, answer)

    # -- access.Asker ---------------------------------------------------------------------
    def can_ask(self) -> bool:
        consenting, answer = getattr(self._local, "state", (False, None))
        if not consenting:
            return False  # a judge outside ``consented``: nobody to ask for it
        if answer is None:
            raise _MustAsk
        return bool(answer != NOBODY)

    def ask(self, name: str, notebook: str) -> str:
        _, answer = getattr(self._local, "state", (False, None))
        return str(answer or access.NO_ANSWER)

    # -- the retrieval side ---------------------------------------------------------------
    def consented(self, name: str, notebook: str | None, attempt: Callable[[], T]) -> T:
        """``attempt()`` (a retrieval judged by ``access.judge``), asking the front end
        first, with no lock held, if the judge needs an answer."""
        if notebook is None:
            return attempt()
        try:
            self._local.state = (True, None)
            try:
                return attempt()
            except _MustAsk:
                pass
            answer = self._wait(name, notebook)
            self._local.state = (True, answer)
            try:
                return attempt()
            except NotebookAccessError:
                if answer == NOBODY:  # judge's own wording speaks of stdin: say ours
                    raise NotebookAccessError.for_notebook(name, notebook, NOBODY_WHY) from None
                raise
        finally:
            self._local.state = (False, None)

    def when_unlocked(self, attempt: Callable[[], T]) -> T:
        """``attempt()``; if the key is locked and a front end is connected, ask it to
        unlock (no lock held) and try once more when unlocked or timed out."""
        try:
            return attempt()
        except StoreLockedError:
            with self._lock:
                if not self._ends:
                    raise
                ask = self._unlock
                new = ask is None
                if ask is None:
                    ask = self._unlock = Unlock(
                        secrets.token_hex(8), time.monotonic() + self.timeout
                    )
                ends = list(self._ends)
        if new:
            self.log("asking the front end to unlock the key")
            self._send(ends, ask.event())
        if not ask.done.wait(max(0.0, ask.deadline - time.monotonic())):
            self.settle_unlock()
        return attempt()

    def settle_unlock(self) -> None:
        """The key was unlocked (or the question timed out): wake the waiting ones."""
        with self._lock:
            ask, self._unlock = self._unlock, None
            ends = list(self._ends)
        if ask is not None:
            ask.done.set()
            self._send(ends, {"event": "settled", "ask": ask.id})

    def connected(self) -> bool:
        return self.count() > 0

    def count(self) -> int:
        """How many front ends are connected."""
        with self._lock:
            return len(self._ends)

    def _wait(self, name: str, notebook: str) -> str:
        key = (notebook, name)
        with self._lock:
            if not self._ends:
                return NOBODY
            ask = self._asks.get(key)
            new = ask is None
            if ask is None:
                ask = Ask(secrets.token_hex(8), name, notebook, time.monotonic() + self.timeout)
                self._asks[key] = ask
            ends = list(self._ends)
        if new:
            self.log(f"asking the front end about profile {name!r} for a notebook")
            self._send(ends, ask.event())
        if not ask.done.wait(max(0.0, ask.deadline - time.monotonic())):
            self._settle(ask, None)
        return ask.answer or access.NO_ANSWER

    def _settle(self, ask: Ask, answer: str | None) -> bool:
        """Close ``ask`` with ``answer`` (None: unanswered); whether it was still open."""
        with self._lock:
            if self._asks.get((ask.notebook, ask.profile)) is not ask:
                return False
            del self._asks[(ask.notebook, ask.profile)]
            ask.answer = answer
            ends = list(self._ends)
        ask.done.set()
        self._send(ends, {"event": "settled", "ask": ask.id})
        return True

    def _send(self, ends: list[_End], event: dict[str, Any]) -> None:
        for end in ends:
            if not end.send(event):
                self._drop(end)

    def _drop(self, end: _End) -> None:
        with self._lock:
            if end in self._ends:
                self._ends.remove(end)

    # -- the front end's side -------------------------------------------------------------
    def answer(self, ask_id: object, answer: object) -> bool:
        """A front end's answer to an open question; whether it closed one."""
        if answer not in ANSWERS:
            return False
        with self._lock:
            ask = next((a for a in self._asks.values() if a.id == ask_id), None)
        return ask is not None and self._settle(ask, str(answer))

    def is_front_end(self, pid: int) -> bool:
        """Whether ``pid`` is a connected front end's process (a Jupyter server, whose
        sidebar may wait for the unlock its own dialog asks for)."""
        with self._lock:
            return any(end.pid == pid for end in self._ends)

    def serve(self, conn: socket.socket, reader: Any, pid: int = 0) -> None:
        """Serve one front end's connection until it closes (in its connection thread)."""
        end = _End(conn, pid)
        with self._lock:
            self._ends.append(end)
            open_now = [ask.event() for ask in self._asks.values()]
            if self._unlock is not None:
                open_now.append(self._unlock.event())
        self.log("a front end connected")
        try:
            for event in open_now:
                end.send(event)
            while line := reader.readline(MAX_LINE + 1):
                try:
                    message = decode(line)
                except ZingyError:
                    continue
                if message.get("op") == "answer":
                    self.answer(message.get("ask"), message.get("answer"))
        except OSError:
            pass
        finally:
            self._drop(end)
            self.log("a front end disconnected")
