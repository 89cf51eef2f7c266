"""The agent process: its socket, its connections, and when it stops.

At start it makes itself undumpable, takes the run lock of its folder (one agent per
store; a second one stops at once), binds the socket 0600 and writes its pid. It stops
on SIGTERM or SIGINT, or when it has had no client connection and no live registered
kernel for ``idle_timeout`` seconds (before its first client, at least a minute). With ``detach`` it forks once it listens, so the
process that started it (``client.ensure_agent``) returns as soon as it answers and
never has to reap it. Its log lines name pids and flows, never a value or a token.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from .. import flow
from ..access import SESSION_ENV
from ..audit import VIA_ENV
from ..errors import ZingyError
from . import harden, hook
from .location import PID_FILE, RUN_LOCK, StoreLocation, prepare_folder
from .ops import Agent
from .protocol import MAX_LINE, decode, encode, failure

DEFAULT_IDLE_TIMEOUT: Final = 600.0
TICK: Final = 0.25
FLUSH_EVERY: Final = 30.0
#: Until its first client connects an agent waits at least this long: the process that
#: started it may be slow to connect on a loaded machine.
FIRST_CLIENT_GRACE: Final = 60.0


def _log(line: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    sys.stderr.write(f"[{stamp} zingy-nb agent {os.getpid()}] {line}\n")
    sys.stderr.flush()


@contextlib.contextmanager
def _run_lock(folder: Path) -> Iterator[bool]:
    """Whether this process holds the folder's run lock (held until the block ends)."""
    import fcntl

    fd = os.open(folder / RUN_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


class Server:
    """Serves one agent on a listening socket until stopped or idle."""

    def __init__(self, agent: Agent, listener: socket.socket, idle_timeout: float) -> None:
        self.agent = agent
        self.listener = listener
        self.idle_timeout = idle_timeout
        self.stopping = threading.Event()
        self._count_lock = threading.Lock()
        self.connections = 0
        self.last_busy = time.monotonic()
        self.served = False  # whether any client has connected yet

    def serve(self) -> str:
        """Accept until stopped; returns why it stopped."""
        self.listener.settimeout(TICK)
        last_flush = time.monotonic()
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                conn = None
            except OSError:
                if self.stopping.is_set():
                    break
                raise
            if conn is not None:
                conn.settimeout(None)
                with self._count_lock:
                    self.connections += 1
                    self.served = True
                threading.Thread(target=self._connection, args=(conn,), daemon=True).start()
            now = time.monotonic()
            flush = now - last_flush >= FLUSH_EVERY
            if flush:
                last_flush = now
            live = self.agent.tidy(flush_all=flush)
            self.agent.notice()  # a change no request made: another member, the file
            with self._count_lock:
                if self.connections or live:
                    self.last_busy = now
                elif now - self.last_busy >= self._idle_limit():
                    return f"idle for {self.idle_timeout:g} s with no client and no kernel"
        return "asked to stop"

    def _idle_limit(self) -> float:
        return self.idle_timeout if self.served else max(self.idle_timeout, FIRST_CLIENT_GRACE)

    def _connection(self, conn: socket.socket) -> None:
        try:
            creds = harden.peer_credentials(conn)
            if creds is None or creds[1] != os.getuid():
                error = ZingyError("This zingy-nb agent serves only its own user's processes.")
                conn.sendall(encode(failure(None, error)))
                return
            reader = conn.makefile("rb")
            while True:
                line = reader.readline(MAX_LINE + 1)
                if not line:
                    return
                if len(line) > MAX_LINE:
                    too_long = ZingyError(
                        f"A request to the zingy-nb agent is at most {MAX_LINE >> 20} MiB."
                    )
                    conn.sendall(encode(failure(None, too_long)))
                    return
                try:
                    request = decode(line)
                except ZingyError as exc:
                    conn.sendall(encode(failure(None, exc)))
                    continue
                reply = self.agent.handle(request, creds[0])
                conn.sendall(encode(reply))
                if request.get("op") == "frontend" and reply.get("ok"):
                    self.agent.frontends.serve(conn, reader, creds[0])  # the connection is its now
                    return
                if request.get("op") == "watch" and reply.get("ok"):
                    self.agent.pushes.serve(conn, reader, creds[0])  # acks only, from now on
                    return
        except OSError:
            return
        finally:
            conn.close()
            with self._count_lock:
                self.connections -= 1
                self.last_busy = time.monotonic()


def _listen(path: Path) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a stale socket: only the run lock's holder gets here
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    listener.listen(64)
    return listener


def _detach() -> Callable[[], None] | None:
    """Fork: the parent exits once the child says it listens (0) or fails (1). In the
    child, returns the function that says so."""
    read_end, write_end = os.pipe()
    if os.fork():
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            said = pipe.read()
        os._exit(0 if said == b"ready" else 1)
    os.close(read_end)
    os.setsid()

    def ready() -> None:
        os.write(write_end, b"ready")
        os.close(write_end)

    return ready


def run(idle_timeout: float = DEFAULT_IDLE_TIMEOUT, detach: bool = False) -> int:
    """Run the agent of this process's store; the exit status."""
    if not harden.supported():
        _log("the agent runs on Linux only (it needs SO_PEERCRED and /proc); not started")
        return 1
    ready = _detach() if detach else None
    if not harden.set_not_dumpable():
        _log("could not make the agent undumpable (prctl failed); not started")
        return 1
    # The agent is no kernel, no notebook, and no runner's: what the process that
    # started it was must not mark the audit of every kernel it serves.
    for var in (flow.ENV_VAR, SESSION_ENV, VIA_ENV):
        os.environ.pop(var, None)
    flow.flag(flow.PAGE_FLOW)  # it never retrieves for itself: only through capabilities
    hook.after_write = None  # its writes are pushed by itself, not told to itself
    location = StoreLocation.current()
    try:
        folder = prepare_folder(location)
        path = location.socket_path()
    except ZingyError as exc:
        _log(str(exc))
        return 1
    with _run_lock(folder) as mine:
        if not mine:
            _log("another agent already serves this store; this one stops")
            return 1
        listener = _listen(path)
        pid_file = folder / PID_FILE
        fd = os.open(pid_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"{os.getpid()}\n")
        agent = Agent(location, _log)
        server = Server(agent, listener, idle_timeout)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: server.stopping.set())
        _log(f"serving the store at {location.key} (idle timeout {idle_timeout:g} s)")
        if ready is not None:
            ready()
        try:
            why = server.serve()
        finally:
            listener.close()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            with contextlib.suppress(FileNotFoundError):
                pid_file.unlink()
            agent.tidy(flush_all=True)
        _log(f"stopped: {why}")
    return 0
