"""What the agent does for a request: ``status``, ``list``, ``register``, ``retrieve``,
``frontend`` (a Jupyter server through which the agent asks a person; see ``.frontend``).

Every decision uses the peer's pid as the operating system reports it (``SO_PEERCRED``),
and the policy the agent recorded at ``register``; nothing a kernel sends widens it.
Retrieval goes through ``Profiles``, one per agent, so the key is read once, by today's
custody, and stays in this process.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from .. import access, flow, redact
from ..audit import IDLE_LOCKED, LOCKED, audit_log
from ..errors import FlowModeError, InvalidProfileError, NotebookAccessError, ZingyError
from ..profiles import Profiles
from ..rules import Secrets
from ..vault import holds_unlocked_key, lock_after, locked_stamp
from . import kernel_ops, widening
from .capabilities import Capabilities, Kernel
from .frontend import FROM_KERNEL, FrontEnds
from .harden import dumpable
from .location import StoreLocation
from .protocol import failure
from .pushes import ChangeNotices, Pushes, content

#: What a kernel may call itself in a refusal ("zingyConn.apikey()"); anything else is
#: not quoted back.
_CALLER = re.compile(r"^[A-Za-z_%][\w.%() -]{0,60}$")
DEFAULT_CALLER = "Retrieving secrets"
#: Requests that do not count as a use of the key (for ``lock_if_idle``).
_NOT_USE = ("status", "list", "key_status", "frontend", "lock")
#: Requests that change nothing a kernel's cached values depend on: after any other the
#: agent looks, and pushes to the kernels before it answers (``pushes``).
_UNCHANGING = (
    "status", "list", "register", "retrieve", "key_status", "spans", "counted", "flag",
    "frontend", "watch", "person",
)  # fmt: skip
_VIA = re.compile(r"^[\w.:-]{1,100}$")  # "serve", "run", "scheduler:<job id>"
_KERNEL_ID = re.compile(r"^[\w-]{1,64}$")  # Jupyter's kernel id (a UUID), for the audit


@contextlib.contextmanager
def _judged_as(kernel: Kernel) -> Iterator[None]:
    """While ``access.judge`` runs for ``kernel``: its notebook-access events name the
    kernel's notebook, and an allowance that moved away from its path counts only if it
    moved after the kernel registered (as in a kernel, with the kernel's start time).
    Callers hold ``Agent._lock``: this is process state."""
    state = access._state
    before = (audit_log.context.get("notebook"), state.started)
    audit_log.context["notebook"], state.started = kernel.notebook, kernel.registered
    try:
        yield
    finally:
        audit_log.context["notebook"], state.started = before


class Agent:
    """The agent's state: one store, its ``Profiles``, the registered kernels."""

    def __init__(self, location: StoreLocation, log: Callable[[str], None]) -> None:
        self.location = location
        self.log = log
        self.kernels = Capabilities()
        self._profiles: Profiles | None = None
        self._matcher: tuple[object, redact.Redactor] | None = None
        self._lock = threading.Lock()  # one retrieval at a time: audit context below
        self.used = time.monotonic()  # the last request that may need the key
        self._lock_after: tuple[object, float | None] = (None, None)  # (stamp, seconds)
        self.frontends = FrontEnds(log)
        self.pushes = Pushes(log)
        self.notices = ChangeNotices(
            self.pushes,
            lambda: (self.profiles.change_token(), locked_stamp(location.home)),
            lambda: content(self.profiles.store, location.home),
        )
        access.set_asker(self.frontends)  # the agent's questions go to its front ends
        self._ops: dict[str, Callable[[dict[str, Any], int], dict[str, Any]]] = {
            "status": self.status,
            "list": self.list,
            "register": self.register,
            "retrieve": self.retrieve,
            **{op: partial(fn, self) for op, fn in kernel_ops.OPS.items()},
            **{op: partial(fn, self) for op, fn in widening.OPS.items()},
            "frontend": self.frontend,
            "watch": self.watch,
            "look": self.look,
        }

    @property
    def profiles(self) -> Profiles:
        if self._profiles is None:
            self._profiles = Profiles(self.location.home, url=self.location.url or "")
        return self._profiles

    def matcher(self) -> redact.Redactor:
        """Every stored value, and every value this agent handled, as one matcher (for
        the scrubs); rebuilt only once the store changed, as decrypting them all is dear."""
        with self._lock:
            token = self.profiles.change_token()
            if self._matcher is None or self._matcher[0] != token:
                found = self.profiles._redactor_of_all()
                found.include(redact.redactor)
                self._matcher = (token, found)
            return self._matcher[1]

    def handle(self, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
        """The reply to one request from the process ``peer_pid``."""
        request_id = request.get("id")
        op = request.get("op")
        handler = self._ops.get(op) if isinstance(op, str) else None
        if op not in _NOT_USE:
            self.used = time.monotonic()
        try:
            if handler is None:
                raise ZingyError(
                    f"The zingy-nb agent has no such operation; it offers {', '.join(self._ops)}."
                )
            reply = {"id": request_id, "ok": True, **handler(request, peer_pid)}
            if op not in _UNCHANGING:
                self.notice(force=True)
            return reply
        except Exception as exc:  # every failure goes back as a reply, never a traceback
            if not isinstance(exc, ZingyError):
                self.log(f"{op} failed: {type(exc).__name__}")
            return failure(request_id, exc, str(op))

    # -- operations ---------------------------------------------------------------------
    def status(self, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "uid": os.getuid(),
            "dumpable": dumpable(),
            "store": self.location.key,
            "kernels": len(self.kernels.live()),
            "frontends": self.frontends.count(),
        }

    def list(self, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
        return {"profiles": [meta.to_json() for meta in self.profiles.list()]}

    def register(self, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
        mode, notebook, pid = request.get("flow"), request.get("notebook"), request.get("pid")
        if mode not in flow.STATED:
            raise FlowModeError(
                f"A kernel registers as {', '.join(flow.STATED)}; nothing was registered."
            )
        if notebook is not None and (
            not isinstance(notebook, str) or not os.path.isabs(notebook) or "\0" in notebook
        ):
            raise InvalidProfileError(
                "A kernel's notebook is an absolute path (or none); nothing was registered."
            )
        self.kernels.refuse_nested(peer_pid)  # first: inside a confined kernel's pid
        # namespace a nested launcher's own pid is not the one the agent sees
        if pid is not None and pid != peer_pid:
            raise InvalidProfileError(
                "A launcher registers its own pid (the kernel it execs keeps it); nothing "
                "was registered."
            )
        via = request.get("via")
        if not (via is None or (isinstance(via, str) and _VIA.match(via))):
            raise InvalidProfileError(
                "A kernel's runner (ZINGY_NB_VIA) is a short word; nothing was registered."
            )
        named = request.get("named")
        if not (named is None or (isinstance(named, str) and len(named) < 4096)):
            raise InvalidProfileError(
                "A kernel's notebook name is text (or none); nothing was registered."
            )
        kernel_id = request.get("kernel_id")
        if not (kernel_id is None or (isinstance(kernel_id, str) and _KERNEL_ID.match(kernel_id))):
            raise InvalidProfileError(
                "A kernel's id is Jupyter's (a UUID), or none; nothing was registered."
            )
        kind = request.get("kind", "kernel")
        if kind not in ("kernel", "process"):
            raise InvalidProfileError(
                "A registration is of a kernel or of a process; nothing was registered."
            )
        cap = self.kernels.register(
            peer_pid, str(mode), notebook, via, named, kernel_id, kernel=kind == "kernel"
        )
        self.log(f"registered a {mode} {kind}, pid {peer_pid}")
        return {"cap": cap}

    def retrieve(self, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
        kernel = self.kernels.holder(request.get("cap"), peer_pid)
        name = request.get("name")
        if not isinstance(name, str):
            raise InvalidProfileError("A profile name is a string.")
        caller = request.get("caller")
        if not (isinstance(caller, str) and _CALLER.match(caller)):
            caller = DEFAULT_CALLER

        def attempt() -> Secrets:
            with self._lock, _judged_as(kernel):
                return self.profiles._secrets_as(
                    name, kernel.flow, kernel.notebook, kernel.audit, caller
                )

        # Asking the person happens between attempts, with no lock held (``frontend``).
        values = self.frontends.when_unlocked(  # and the key unlocked, if it is locked
            lambda: self.frontends.consented(name, kernel.notebook, attempt)
        )
        return {"values": list(values)}

    def frontend(self, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
        """Accept the peer as a front end; the server then hands it the connection."""
        if self.kernels._enclosing(peer_pid) is not None:
            raise NotebookAccessError(FROM_KERNEL)
        return {"timeout": self.frontends.timeout}

    def watch(self, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
        """Accept the peer's connection for change pushes (the server then hands it
        over); a kernel or a process that registered, with its capability."""
        self.kernels.holder(request.get("cap"), peer_pid)
        self.notices.baseline()
        return {}

    def look(self, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
        """A process wrote to the store itself (``poke``): the look after every request
        that is not ``_UNCHANGING`` pushes what changed before this is answered."""
        return {}

    # -- housekeeping -------------------------------------------------------------------
    def notice(self, force: bool = False) -> None:
        """Push to the watching kernels if what their values depend on changed (every
        tick, and after each request that may have changed it). A store out of reach
        pushes nothing now: the next look, once it answers, does."""
        if self._profiles is None:
            return  # nothing was read yet: no kernel holds a value
        try:
            self.notices.look(force)
        except ZingyError as exc:
            self.log(f"could not check the store for changes: {type(exc).__name__}")

    def lock_if_idle(self) -> bool:
        """Forget an unlocked key nobody used for its lock-after setting (``key protect
        --lock-after``); whether it did. Called every tick: cheap while not unlocked."""
        try:
            path = None if self._profiles is None else self._profiles.vault.locked_path()
        except ZingyError:  # a team store out of reach: its key stays as it is
            return False
        if path is None or not holds_unlocked_key(path):
            return False
        stamp = locked_stamp(self.location.home)
        if self._lock_after[0] != stamp:
            self._lock_after = (stamp, lock_after(path))
        after = self._lock_after[1]
        if after is None or time.monotonic() - self.used < after:
            return False
        self.lock(IDLE_LOCKED)
        self.log(f"locked the key: unused for {after:g} s")
        return True

    def lock(self, outcome: str = LOCKED) -> bool:
        """Forget the unlocked key, and the matcher built with it (every stored value);
        whether it was unlocked."""
        with self._lock:
            self._matcher = None
            return self.profiles.lock(outcome)

    def tidy(self, flush_all: bool = False) -> int:
        """Forget gone kernels (flushing their audit), or flush all, and lock a key left
        unused too long; returns the live kernels."""
        self.lock_if_idle()
        gone = self.kernels.prune()
        live = self.kernels.live()
        for kernel in gone + (live if flush_all else []):
            kernel.audit.flush()
        for kernel in gone:
            self.log(f"kernel pid {kernel.proc.pid} is gone")
        return len(live)
