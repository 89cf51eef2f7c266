"""Talking to the agent: ``connect`` to a running one, ``ensure_agent`` to start it.

``ensure_agent`` starts the agent on demand as a detached child (``python -m
zingy_nb.agent --detach``, which returns once the agent listens), under a start lock in
the agent's private folder, so two callers at once start one agent. The store reaches
the agent through its environment (a team store's URL may hold a password: never argv);
so do ``ZINGY_NB_MASTER_KEY`` and ``ZINGY_NB_MEMBER_KEY`` when the caller has them. A
client whose agent stopped gets ``AgentUnavailableError`` naming the fix.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Final

from ..errors import AgentUnavailableError, ZingyError
from .fastpath import REPLY_TIMEOUT
from .harden import peer_credentials, supported
from .location import LOG, START_LOCK, StoreLocation, prepare_folder
from .protocol import MAX_LINE, decode, encode, raise_failure

START_TIMEOUT: Final = 60.0


class AgentClient:
    """One connection to an agent; requests are answered in order. Thread-safe."""

    def __init__(self, sock: socket.socket, location: StoreLocation) -> None:
        self.location = location
        self._sock = sock
        self._reader = sock.makefile("rb")
        self._lock = threading.Lock()
        self._next = 0
        creds = peer_credentials(sock)
        #: The agent's pid, as the operating system reports it.
        self.pid = creds[0] if creds else None
        if creds is not None and creds[1] != os.getuid():
            self.close()
            raise self._unavailable("its socket is served by another user's process")

    def _unavailable(self, why: str) -> AgentUnavailableError:
        return AgentUnavailableError.for_store(self.location.key, why)

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one request; the reply's fields, or the agent's error raised here."""
        with self._lock:
            self._next += 1
            request_id = self._next
            try:
                self._sock.sendall(encode({"id": request_id, "op": op, **fields}))
                reply = self._reply(request_id)
            except OSError:  # a timeout too: a late reply would answer the next request
                self.close()
                raise self._unavailable("the connection to it broke (it stopped?)") from None
        if reply is None:
            raise self._unavailable("it closed the connection (it stopped?)")
        if reply.get("ok") is not True:
            raise_failure(reply)
        if reply.get("id") != request_id:
            raise self._unavailable("it answered out of turn (not a zingy-nb agent?)")
        return reply

    def _reply(self, request_id: int) -> dict[str, Any] | None:
        """The reply to ``request_id`` (None: the agent closed the connection). Replies
        to earlier requests that their caller gave up on (a cell interrupted while the
        agent asked the person) are skipped."""
        while True:
            line = self._reader.readline(MAX_LINE + 1)
            if not line:
                return None
            reply = decode(line)
            earlier = reply.get("id")
            if not (isinstance(earlier, int) and earlier < request_id):
                return reply

    def status(self) -> dict[str, Any]:
        """The agent's pid, uid, dumpable flag, store and kernel count: no value."""
        return self.call("status")

    def list(self) -> list[dict[str, Any]]:
        """The profiles' metadata, as ``ProfileMeta.to_json``: no value."""
        return list(self.call("list")["profiles"])

    def register(
        self,
        flow: str,
        notebook: str | None = None,
        via: str | None = None,
        named: str | None = None,
        kernel_id: str | None = None,
        kind: str = "kernel",
    ) -> str:
        """A capability for this process (a launcher, before it execs the kernel).
        ``notebook`` is judged; ``via`` (the runner that started it, ``ZINGY_NB_VIA``)
        and ``named`` (the notebook a runner named, unchecked) are for the audit."""
        reply = self.call(
            "register",
            flow=flow,
            notebook=notebook,
            pid=os.getpid(),
            via=via,
            named=named,
            kernel_id=kernel_id,
            kind=kind,
        )
        return str(reply["cap"])

    def retrieve(self, cap: str, name: str, caller: str | None = None) -> tuple[str | None, ...]:
        """The values of ``name``, if ``cap`` is this process's kernel's and cloud-flow."""
        return tuple(self.call("retrieve", cap=cap, name=name, caller=caller)["values"])

    def save(self, cap: str | None, name: str, values: tuple[str | None, ...]) -> dict[str, Any]:
        """Seal and write ``values`` as profile ``name``; its metadata as ``to_json``."""
        return dict(self.call("save", cap=cap, name=name, values=list(values))["meta"])

    def update(self, cap: str | None, name: str, changes: dict[str, str | None]) -> dict[str, Any]:
        return dict(self.call("update", cap=cap, name=name, changes=changes)["meta"])

    def rename(self, cap: str | None, old: str, new: str) -> dict[str, Any]:
        return dict(self.call("rename", cap=cap, old=old, new=new)["meta"])

    def delete(self, cap: str | None, name: str) -> None:
        self.call("delete", cap=cap, name=name)

    def key_status(self, cap: str | None, which: str = "key") -> dict[str, Any]:
        """``KeyStatus.to_json`` of the store's key (``which="store"``: the reader's)."""
        return dict(self.call("key_status", cap=cap, which=which)["status"])

    def spans(
        self, cap: str | None, texts: builtins.list[str]
    ) -> builtins.list[builtins.list[tuple[int, int]]]:
        """Where each of ``texts`` holds a run of a stored value (the scrubs), as
        ``Redactor.spans`` gives them. ``cap`` None: this process is no kernel's."""
        found = self.call("spans", cap=cap, texts=texts)["spans"]
        return [[(int(s), int(e)) for s, e in each] for each in found]

    def counted(self, cap: str, counts: builtins.list[builtins.list[Any]]) -> int:
        """Send warm retrievals ([name, count, first, last]) for the agent's audit."""
        return int(self.call("counted", cap=cap, counts=counts)["recorded"])

    def flag(self, cap: str, flow: str) -> None:
        """Narrow this kernel's recorded flow (or flag an unflagged kernel once)."""
        self.call("flag", cap=cap, flow=flow)

    def watch(self, cap: str) -> tuple[socket.socket, BinaryIO]:
        """Make this connection the agent's change pushes to this process (``pushes``):
        its socket and reader, which this client no longer uses."""
        self.call("watch", cap=cap)
        self._sock.settimeout(None)  # pushes come when they come
        return self._sock, self._reader

    # -- for people (``widening``): refused from a kernel or a process it started -------
    def allow(self, name: str, notebook: str, how: str = "cli") -> tuple[str, bool]:
        """Allow ``notebook`` (an absolute path) to read ``name``: (path kept, new?)."""
        reply = self.call("allow", name=name, notebook=notebook, how=how)
        return str(reply["path"]), bool(reply["new"])

    def disallow(self, name: str, notebook: str, role: str | None = None) -> tuple[str, bool]:
        reply = self.call("disallow", name=name, notebook=notebook, role=role)
        return str(reply["path"]), bool(reply["removed"])

    def follow(self, old: str, new: str | None) -> int:
        """Allowances of notebook ``old`` move to ``new`` (a rename) or go (None)."""
        return int(self.call("follow", old=old, new=new)["count"])

    def set_setting(self, value: str) -> None:
        """The store's notebook-access setting (``off`` widens)."""
        self.call("set_setting", value=value)

    def export_key(self) -> str:
        return str(self.call("export_key")["key"])

    def import_key(self, text: str) -> str:
        """Keep ``text`` (from ``export_key``) as the store's key; where it was kept."""
        return str(self.call("import_key", key=text)["where"])

    def protect(self, passphrase: str, lock_after: float | None = None) -> str:
        """Lock the store's key with ``passphrase``; returns the locked file."""
        return str(self.call("protect", passphrase=passphrase, lock_after=lock_after)["where"])

    def rotate(self, passphrase: str | None) -> str:
        """Rotate the store's key (a locked one needs its passphrase); the new key id."""
        return str(self.call("rotate", passphrase=passphrase)["key_id"])

    def unlock(self, passphrase: str) -> str:
        """Unlock the agent's key with ``passphrase``; returns the key id."""
        return str(self.call("unlock", passphrase=passphrase)["key_id"])

    def lock(self) -> bool:
        """Make the agent forget the key; whether it was unlocked."""
        return bool(self.call("lock")["was_unlocked"])

    def grant(self, name: str, role: str, level: str) -> None:
        self.call("grant", name=name, role=role, level=level)

    def revoke(self, name: str, role: str) -> tuple[bool, bool]:
        """(whether ``role`` had a grant, whether the store has member keys)."""
        reply = self.call("revoke", name=name, role=role)
        return bool(reply["revoked"]), bool(reply["member_keys"])

    def frontend(self) -> FrontEndLink:
        """Serve as the agent's front end (a Jupyter server): the connection then
        carries only the agent's questions and this process's answers."""
        self.call("frontend")
        self._sock.settimeout(None)  # questions come when they come
        return FrontEndLink(self)

    @property
    def closed(self) -> bool:
        """Whether this connection was closed (by ``close``, or after it broke)."""
        return self._sock.fileno() < 0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a thread reading it
        with contextlib.suppress(OSError):
            self._reader.close()
        with contextlib.suppress(OSError):
            self._sock.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FrontEndLink:
    """A front end's connection: the agent's events in, answers out (``agent.frontend``)."""

    def __init__(self, client: AgentClient) -> None:
        self._client = client

    def events(self) -> Iterator[dict[str, Any]]:
        """The agent's events, until the connection ends (closed, or the agent stopped)."""
        while True:
            try:
                line = self._client._reader.readline(MAX_LINE + 1)
            except (OSError, ValueError):  # ValueError: closed meanwhile
                return
            if not line:
                return
            with contextlib.suppress(ZingyError):
                yield decode(line)

    def answer(self, ask_id: str, answer: str) -> None:
        """Answer a question (``allow`` or ``deny``); no reply comes back."""
        try:
            with self._client._lock:
                self._client._sock.sendall(
                    encode({"op": "answer", "ask": ask_id, "answer": answer})
                )
        except OSError:
            raise self._client._unavailable("the connection to it broke (it stopped?)") from None

    def close(self) -> None:
        self._client.close()


def connect(store: StoreLocation | None = None) -> AgentClient:
    """A connection to the running agent of ``store`` (default: this process's)."""
    location = store or StoreLocation.current()
    if not supported():
        raise AgentUnavailableError.for_store(
            location.key, "the agent runs on Linux only; here the kernel keeps today's rules"
        )
    path = location.socket_path()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(REPLY_TIMEOUT)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        raise AgentUnavailableError.for_store(location.key, "it is not running") from None
    return AgentClient(sock, location)


@contextlib.contextmanager
def _start_lock(folder: Path, timeout: float, where: str) -> Iterator[None]:
    import fcntl

    fd = os.open(folder / START_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AgentUnavailableError.for_store(
                        where, f"another process has been starting it for {timeout:g} s"
                    ) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)


def _spawn(location: StoreLocation, folder: Path, idle_timeout: float | None) -> bool:
    """Start a detached agent; whether it said it listens."""
    argv = [sys.executable, "-m", "zingy_nb.agent", "--detach"]
    if idle_timeout is not None:
        argv += ["--idle-timeout", repr(float(idle_timeout))]
    log = os.open(folder / LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        done = subprocess.run(
            argv,
            env=location.environ(os.environ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            timeout=START_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    finally:
        os.close(log)
    return done.returncode == 0


def ensure_agent(
    store: StoreLocation | None = None, idle_timeout: float | None = None
) -> AgentClient:
    """A connection to the agent of ``store``, started first if it is not running."""
    location = store or StoreLocation.current()
    with contextlib.suppress(AgentUnavailableError):
        return connect(location)
    if not supported():
        return connect(location)  # raises, naming why
    location.socket_path()  # raises if no socket can be made there, naming the fix
    folder = prepare_folder(location)
    with _start_lock(folder, START_TIMEOUT, location.key):
        for _attempt in range(2):  # once more if an idle agent was stopping meanwhile
            with contextlib.suppress(AgentUnavailableError):
                return connect(location)
            if _spawn(location, folder, idle_timeout):
                break
    try:
        return connect(location)
    except AgentUnavailableError:
        raise AgentUnavailableError.for_store(
            location.key, f"it did not start; its log is {folder / LOG}"
        ) from None
