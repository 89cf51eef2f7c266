"""Change pushes: the agent tells every kernel holding values when they may be stale.

A kernel that reads values keeps one more connection to its agent (op ``watch``, with
its capability). Whenever what its cached values depend on changes (a profile, an
allowance, the notebook-access setting, the key being locked), the agent sends
``{"push": N}`` on every such connection and waits, up to ``ACK_WAIT`` for all of them
together, for ``{"ack": N}`` before it answers the request that made the change: once
``zingy-nb profiles delete`` returns, no kernel that took the push serves its copy. A
kernel that does not answer in time is dropped (told so, and its connection shut): it
empties its cache and from then on reads the store's change token on every retrieval,
as a kernel does whose agent stopped (which keeps what it cached). Changes the agent
did not make (another member of a team store, a process writing the store's file) it
notices on its next tick, or when the writer tells it (``poke``), and pushes alike.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from io import BufferedReader
from pathlib import Path
from typing import Final

from ..errors import StoreError, ZingyError
from ..store.base import Store
from ..vault import locked_stamp
from .protocol import decode, encode

#: How long a change waits, at most, for every kernel to take its push.
ACK_WAIT: Final = 1.0


def content(store: Store, home: Path) -> object:
    """What the values a kernel holds, and its right to them, depend on: each profile's
    last update, the allowances and the notebook-access setting, and the key's lock."""
    profiles = tuple((m.name, m.updated) for m in store.list())
    try:
        rules: object = (
            tuple((a.profile, a.notebook, a.role) for a in store.allowances()),
            store.access_setting(),
        )
    except StoreError:  # a store that keeps no allowances
        rules = None
    return profiles, rules, locked_stamp(home)


class _Watcher:
    def __init__(self, conn: socket.socket, pid: int, sent: int) -> None:
        self.conn = conn
        self.pid = pid
        self.acked = sent  # pushes before it came are nothing to it


class Pushes:
    """The watching connections of one agent, and the pushes sent on them."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self._watchers: set[_Watcher] = set()
        self._cond = threading.Condition()
        self._sent = 0
        self._sending = threading.Lock()  # one push at a time, in order

    def count(self) -> int:
        with self._cond:
            return len(self._watchers)

    def serve(self, conn: socket.socket, reader: BufferedReader, pid: int) -> None:
        """Keep ``conn`` as a watcher until it closes; what it sends are acks."""
        with self._cond:
            watcher = _Watcher(conn, pid, self._sent)
            self._watchers.add(watcher)
        try:
            while line := reader.readline(256):
                ack = decode(line).get("ack")
                if not isinstance(ack, int):
                    return
                with self._cond:
                    watcher.acked = max(watcher.acked, ack)
                    self._cond.notify_all()
        except (OSError, ZingyError):
            return
        finally:
            with self._cond:
                self._watchers.discard(watcher)
                self._cond.notify_all()

    def push(self) -> int:
        """Tell every watcher, and wait for them to take it; how many did in time."""
        with self._sending:
            with self._cond:
                self._sent += 1
                sent, watchers = self._sent, list(self._watchers)
            line = encode({"push": sent})
            late = []
            for watcher in watchers:
                try:  # never blocks: a kernel that stopped reading is late, not a jam
                    if watcher.conn.send(line, socket.MSG_DONTWAIT) != len(line):
                        late.append(watcher)
                except OSError:
                    late.append(watcher)
            deadline = time.monotonic() + ACK_WAIT
            with self._cond:
                while True:
                    waiting = [
                        w
                        for w in watchers
                        if w in self._watchers and w.acked < sent and w not in late
                    ]
                    left = deadline - time.monotonic()
                    if not waiting or left <= 0:
                        break
                    self._cond.wait(left)
            for watcher in late + waiting:
                self.log(
                    f"kernel pid {watcher.pid} did not take a change within {ACK_WAIT:g} s; "
                    "it revalidates by itself from now on"
                )
                with contextlib.suppress(OSError):  # it clears its cache when it reads this
                    watcher.conn.send(encode({"dropped": sent}), socket.MSG_DONTWAIT)
                with contextlib.suppress(OSError):
                    watcher.conn.shutdown(socket.SHUT_RDWR)
            return len(watchers) - len(late) - len(waiting)


class ChangeNotices:
    """Whether what kernels' values depend on changed since the last look; the push
    when it did."""

    def __init__(self, pushes: Pushes, token: Callable[[], object], now: Callable[[], object]):
        self.pushes = pushes
        self._read_token = token  # cheap: moves on every commit, audit writes included
        self._read_content = now  # dear: the profiles, the allowances, the setting
        self._lock = threading.Lock()
        self._token: object = object()
        self._content: object = object()

    def look(self, force: bool = False) -> bool:
        """Push if the content moved since the last look (checked only once the token
        moved, unless ``force``); whether it pushed. Returns once the push is taken,
        so a request that changed something is answered after the kernels know."""
        with self._lock:
            if not self.pushes.count():
                return False
            token = self._read_token()
            if not force and token == self._token:
                return False
            current = self._read_content()
            self._token = token
            if current == self._content:
                return False
            self._content = current
            self.pushes.push()
            return True

    def baseline(self) -> None:
        """Before a new watcher's first read: a change not pushed yet goes to those
        already watching; with none, what the store holds now is the baseline."""
        self.look(force=True)
        with self._lock:
            if not self.pushes.count():
                self._token, self._content = self._read_token(), self._read_content()
