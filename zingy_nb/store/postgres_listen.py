"""Warm reads without the database: the team store's change listener.

Each ``PostgresStore`` listens on the store's change channel (``LISTEN``, on its one
connection: no second connection per process). Every committed change notifies that
channel (the ``bump_changes`` trigger, once per transaction), so while the listener is
healthy ``change_token()`` is a local value bumped by each notification and a warm read
makes no query at all.

Healthy means: a heartbeat this process sent itself came back recently. Every
``HEARTBEAT_S`` the listener thread runs ``SELECT pg_notify(<own channel>, <n>)`` and
notes when it sent ``n``. PostgreSQL keeps one notification queue per cluster, in
commit order, and a session receives its entries in that order: hearing heartbeat
``n`` back proves that every change committed before ``n`` was sent has been heard.
So the listener answers for ``FRESH_S`` after the send time of the last heartbeat it
heard; past that (a connection that died silently, a stalled thread, a pooler that
cannot ``LISTEN``), ``token()`` returns ``None`` and the store reads its change
counter on every read, as without a listener, until heartbeats come back.
Hence the bound: a warm read never misses a change committed more than ``FRESH_S``
before it began; normally it sees one within milliseconds of its commit.

The token is one number per store instance, which only grows: the change counter as
first read, plus one for each change notification heard, plus how far the counter moved
whenever it is read (by a fallback read, or when (re)starting to listen: after
``LISTEN`` is in effect, so a change committed meanwhile is either in that reading or
notified later). A change may be counted twice (heard, and read), never missed; and
as long as nothing is counted twice it equals the database's counter, as before.

Writes committed by this process (through any store instance) also move every
instance's token at once: a process sees its own changes without waiting for their
notification (a kernel that revokes, then reads as another role, is refused at once).

Heartbeats use a channel of their own (``zingy_nb_beat_<backend pid>``), so other
processes' listeners are not woken by them; one heartbeat is one tiny transaction (it
takes a transaction id). A process that has not read for ``IDLE_S`` stops sending them:
its next read queries once and wakes the thread, and warm reads are query-free again
as soon as a heartbeat comes back (a round trip).
"""

from __future__ import annotations

import select
import socket
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Final

from .migrations import CHANGE_CHANNEL, SCHEMA

if TYPE_CHECKING:
    import psycopg

    from .postgres import PostgresStore

#: Seconds between heartbeats.
HEARTBEAT_S: Final = 0.5
#: A heartbeat heard back keeps warm reads query-free for this long after it was sent.
FRESH_S: Final = 1.5
#: No heartbeats after this many seconds without a read (idle kernels cost nothing).
IDLE_S: Final = 60.0
_BEAT_PREFIX: Final = "zingy_nb_beat_"

_written_lock = threading.Lock()
_written = 0  # writes committed by this process, through any store


def wrote_here() -> None:
    """A write of this process has committed: every store's token moves now."""
    global _written
    with _written_lock:
        _written += 1


class ChangeListener:
    """Listens on one store's connection in a daemon thread; see the module docstring.

    Holds the store weakly (a store dropped without ``close()`` still hangs up, and the
    thread ends). All use of the connection is under the store's lock.
    """

    def __init__(self, store: PostgresStore) -> None:
        self._store = weakref.ref(store)
        self._lock: threading.RLock = store._lock
        self._conn: psycopg.Connection | None = None  # the connection we LISTEN on
        self._hooked: weakref.WeakSet[Any] = weakref.WeakSet()  # handler registered
        self._pid = 0  # its backend's pid
        self._beat_channel = ""
        self._token: int | None = None  # see the module docstring
        self._counter: int | None = None  # the change counter as last read
        self._fresh_until = 0.0  # time.monotonic() before which the token is good
        self._sent: dict[int, float] = {}  # heartbeat number -> when it was sent
        self._seq = 0
        self._next_beat = 0.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake: tuple[socket.socket, socket.socket] | None = None  # wakes the thread
        self._asked = 0.0  # when token() was last called
        #: Heartbeats sent, and LISTENs issued, by this listener (tests, benchmarks).
        self.heartbeats = 0
        self.listens = 0

    # -- the hot path (no lock, no query) -------------------------------------------------
    def token(self) -> object | None:
        """The change token while healthy; None when the caller must query."""
        now = self._asked = time.monotonic()
        if now < self._fresh_until:
            return (self._token, _written)
        if self._thread is None or not self._thread.is_alive():
            self._start_thread()
        self._kick()
        return None

    @property
    def healthy(self) -> bool:
        return time.monotonic() < self._fresh_until

    # -- hooks for the store --------------------------------------------------------------
    def counted(self, counter: int) -> object:
        """The token after reading the change counter (the store's lock held)."""
        if self._token is None or self._counter is None:
            self._token = counter
        elif counter != self._counter:
            self._token += counter - self._counter if counter > self._counter else 1
        self._counter = counter
        return (self._token, _written)

    def lost(self) -> None:
        """The store dropped its connection: stop answering until listening again."""
        self._fresh_until = 0.0
        self._conn = None

    def stop(self) -> None:
        """End the thread (the store is closing); a later ``token()`` restarts it."""
        self._fresh_until = 0.0
        self._stop.set()
        self._kick()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2 * HEARTBEAT_S + 1)
        self._thread = None
        self.lost()  # again: a heartbeat heard while the thread was ending

    # -- the thread -----------------------------------------------------------------------
    def _start_thread(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop = threading.Event()
            self._wake = socket.socketpair()
            for end in self._wake:
                end.setblocking(False)
            self._thread = threading.Thread(
                target=self._loop,
                args=(self._wake, self._stop),
                name="zingy-nb-listen",
                daemon=True,
            )
            self._thread.start()

    def _kick(self) -> None:
        wake = self._wake
        if wake is not None:
            try:
                wake[1].send(b"\0")
            except OSError:  # full (a wake-up is pending anyway) or closed
                pass

    def _heard(self, channel: str, payload: str, pid: int) -> None:
        """One notification (from the thread, or from any query's result processing)."""
        if channel == CHANGE_CHANNEL:
            if self._token is not None:  # else the first reading of the counter has it
                self._token += 1
            return
        if channel != self._beat_channel or pid != self._pid:
            return
        try:
            sent = self._sent.pop(int(payload))
        except (ValueError, KeyError):
            return
        for older in [n for n in self._sent if n < int(payload)]:
            del self._sent[older]
        self._fresh_until = max(self._fresh_until, sent + FRESH_S)

    def _on_notify(self, notify: Any) -> None:
        self._heard(notify.channel, notify.payload, notify.pid)

    def _listen(self, conn: psycopg.Connection) -> None:
        """(Re)start on ``conn`` (lock held): LISTEN, then read the counter."""
        from psycopg import sql

        from .postgres_transaction import one

        self._fresh_until = 0.0
        self._conn = None
        self._sent.clear()
        if conn not in self._hooked:
            conn.add_notify_handler(self._on_notify)
            self._hooked.add(conn)
        pid = conn.info.backend_pid
        beat = f"{_BEAT_PREFIX}{pid}"
        for channel in (CHANGE_CHANNEL, beat):
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        # LISTEN is in effect (autocommit): what commits from now on is heard, what
        # committed before is in this reading.
        self.counted(int(one(conn, f"SELECT counter FROM {SCHEMA}.changes WHERE id = 1")))
        self._pid, self._beat_channel = pid, beat
        self._conn = conn
        self.listens += 1
        self._next_beat = 0.0

    def _beat(self, conn: psycopg.Connection) -> None:
        self._seq += 1
        now = time.monotonic()
        # One that has not come back by now would no longer make us fresh.
        self._sent = {n: t for n, t in self._sent.items() if now - t < FRESH_S}
        self._sent[self._seq] = now
        conn.execute("SELECT pg_notify(%s, %s)", (self._beat_channel, str(self._seq)))
        self.heartbeats += 1
        self._next_beat = time.monotonic() + HEARTBEAT_S

    def _drain(self, conn: psycopg.Connection) -> None:
        pgconn = conn.pgconn
        pgconn.consume_input()
        enc = conn.info.encoding
        while (n := pgconn.notifies()) is not None:
            self._heard(n.relname.decode(enc), n.extra.decode(enc), n.be_pid)
        if conn.closed:  # the server hung up (its last words may have been read)
            raise OSError("the team store's connection was closed")

    @staticmethod
    def _wait(fds: list[Any], timeout: float) -> list[Any]:
        readable, _, _ = select.select(fds, [], [], timeout)
        for end in readable:
            if isinstance(end, socket.socket):
                try:
                    end.recv(4096)
                except OSError:
                    pass
        return readable

    def _step(self, wake: socket.socket, stop: threading.Event) -> bool:
        """One round: attach, wait for input or the next heartbeat. False: end."""
        import psycopg

        store = self._store()
        if store is None or stop.is_set():
            return False
        conn = store._conn
        if conn is None or conn.closed or store._version is None:
            self.lost()
            del store
            self._wait([wake], IDLE_S)  # a read that needs us kicks
            return True
        try:
            if conn is not self._conn:
                with self._lock:
                    if store._conn is not conn or conn.closed or stop.is_set():
                        return True
                    self._listen(conn)
            del store
            fd = conn.fileno()
            idle = time.monotonic() - self._asked > IDLE_S
            wait = IDLE_S if idle else max(0.0, self._next_beat - time.monotonic())
            readable = self._wait([fd, wake], wait)
            idle = time.monotonic() - self._asked > IDLE_S
            with self._lock:
                store = self._store()
                if store is None or store._conn is not conn or self._conn is not conn:
                    return True
                if fd in readable:
                    self._drain(conn)
                if not idle and time.monotonic() >= self._next_beat:
                    self._beat(conn)
        except (psycopg.Error, OSError, ValueError):
            with self._lock:
                self.lost()
                store = self._store()
                if store is not None and store._conn is conn:
                    store._drop()  # the next read reconnects; we listen on that one
        return True

    def _loop(self, wake: tuple[socket.socket, socket.socket], stop: threading.Event) -> None:
        try:
            while self._step(wake[0], stop):
                pass
        finally:
            if self._wake is wake:
                self._wake = None
            for end in wake:
                end.close()
