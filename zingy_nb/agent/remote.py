"""``Profiles`` in a kernel that holds a capability: the agent keeps the key.

A kernel its launcher registered (``ZINGY_NB_AGENT_CAP`` in its environment) reads
metadata and change tokens from the store itself (they need no key), and asks the agent
for everything that needs the key: values (gated by the flow and notebook the agent
recorded, audited there), saving (the agent seals), and the history scrub's matching.
Its vault is ``AgentHeld``: nothing in this process can seal or open a profile.

Warm reads stay in the kernel: values it received are cached until the agent pushes a
change (``pushes``, ``watch``), or, where no pushes reach it, until the store's change
token moves, as in ``Profiles``; a warm ``zingyConn.apikey()`` makes no round trip.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, NoReturn

from .. import flow, redact
from ..audit import audit_log
from ..errors import AgentUnavailableError, KeyUnavailableError, ZingyError
from ..paths import CAP_ENV, ERROR_ENV
from ..profiles import Profiles
from ..rules import ProfileMeta, Secrets, validate_name
from ..store.base import AuditEntry, Row, Store, Transaction
from ..store.url import open_store, store_url
from ..vault import KeyStatus, MasterKey, Vault
from .client import AgentClient, connect
from .location import StoreLocation
from .protocol import MAX_TEXTS
from .pushes import content
from .watch import Watch

_PUSHED: Final = "pushed"  # a cache token that counts the agent's pushes

NO_KEY: Final = (
    "This kernel holds no key: the zingy-nb agent seals and opens profiles for it, and "
    "a kernel never gets the key. {what} from a terminal outside Jupyter (`zingy-nb "
    "key ...`) or from JupyterLab."
)


def capability() -> str | None:
    """The capability this process's launcher gave it, or None."""
    return os.environ.get(CAP_ENV) or None


class AgentHeld(Vault):
    """The vault of a kernel: every key operation is the agent's."""

    kind = "agent"

    def _no(self, what: str = "Key operations happen") -> NoReturn:
        raise KeyUnavailableError(NO_KEY.format(what=what))

    def ensure_store(self) -> None:
        self._no()

    def seal(
        self,
        txn: Transaction,
        name: str,
        values: Secrets,
        created: datetime,
        updated: datetime,
        old_name: str | None = None,
    ) -> Row:
        self._no()

    def unseal(self, name: str, row: Row | None = None, txn: Transaction | None = None) -> Secrets:
        self._no()

    def cannot_open(self) -> tuple[type[Exception], ...]:
        self._no()

    def store_status(self) -> KeyStatus:
        self._no()

    def key_status(self) -> KeyStatus:
        self._no()

    def rotate_key(self, passphrase: str | None = None) -> str:
        self._no("Rotate the key")

    def export_key(self) -> str:
        self._no("Export the key")

    def import_key(self, text: str) -> MasterKey:
        self._no("Import a key")

    def access_mac(self, fields: Sequence[str]) -> bytes:
        self._no("Allowances are signed by the agent: allow notebooks")


#: Characters per request to the agent's ``spans``: at most 12 bytes each in JSON (an
#: escaped astral character), so a request stays below the agent's line limit. A text
#: up to this long (most notebooks) is matched whole, as its JSON.
WINDOW: Final = 1 << 20
#: Longer texts go in windows that overlap by this much: a value cut at a window's edge
#: is still masked from both sides (runs of ``redact.RUN`` characters are matched).
OVERLAP: Final = 4 * 1024


def _pieces(texts: Sequence[str]) -> list[tuple[int, int, str]]:
    """(text index, offset, piece) for every text: long ones in overlapping windows."""
    out = []
    for i, text in enumerate(texts):
        starts = range(0, max(len(text) - OVERLAP, 1), WINDOW - OVERLAP)
        out += [(i, a, text[a : a + WINDOW]) for a in starts]
    return out


class _AgentMatcher(redact.Redactor):
    """Its own values, then the agent's: for the scrubs, a batch at a time."""

    def __init__(self, profiles: RemoteProfiles) -> None:
        super().__init__()
        self._profiles = profiles

    def __len__(self) -> int:
        return super().__len__() + 1  # the agent's values count, unseen here

    def count(self, text: str) -> tuple[str, int]:
        return self.count_all([text])[0]

    def _clean(self, obj: Any) -> bool:
        return False  # the agent's values are not in the local automata

    def count_all(self, texts: Sequence[str]) -> list[tuple[str, int]]:
        if super().__len__():  # not ``self.count``: that comes back here
            own = [redact.Redactor.count(self, t) for t in texts]
        else:
            own = [(t, 0) for t in texts]
        found: list[list[tuple[int, int]]] = [[] for _ in own]
        batch: list[tuple[int, int, str]] = []
        size = 0
        for piece in [*_pieces([t for t, _ in own]), None]:
            if piece is None or size + len(piece[2]) > WINDOW or len(batch) >= MAX_TEXTS:
                if batch:
                    spans = self._profiles.scrub_spans([p for _, _, p in batch])
                    for (i, a, _), each in zip(batch, spans):
                        found[i] += [(a + s, a + e) for s, e in each]
                batch, size = [], 0
            if piece is not None:
                batch.append(piece)
                size += len(piece[2])
        return [
            (masked[0], n + masked[1])
            for (text, n), spans in zip(own, found)
            for masked in [redact.masked(text, spans)]
        ]


class RemoteProfiles(Profiles):
    """``Profiles`` for a kernel whose agent holds the key. Thread-safe."""

    _tells_agent = False  # its writes are the agent's own

    def __init__(
        self,
        home: Path | str | None = None,
        store: Store | None = None,
        url: str | None = None,
        *,
        stated: bool = False,
    ) -> None:
        # Not Profiles.__init__: it would open a vault, which reads a key.
        where = url if url is not None else store_url()
        self.home = Path(home) if home is not None else StoreLocation.current().home
        self.store = store or open_store(where, self.home)
        self.vault = AgentHeld()
        self._lock = threading.RLock()
        self._token = object()
        self._cache = {}
        self._allowed = set()
        self._generation = 0
        self._content_seen: object = object()
        self._location = StoreLocation(self.home, where or None)
        self._stated = stated  # no launcher: registers itself when it first asks
        self._cap = None if stated else capability()
        self._why = "" if stated else os.environ.get(ERROR_ENV) or ""
        self._flow = flow.wire(flow.current())  # as the agent recorded it
        self._client: AgentClient | None = None
        self._client_pid = 0
        self._client_lock = threading.Lock()
        self._watch: Watch | None = None
        self._watch_pid = 0  # the process that asked for pushes (once per process)

    # -- the agent --------------------------------------------------------------------
    def _agent(self) -> tuple[AgentClient, str]:
        """A connection to the agent (one per process: a forked child opens its own)."""
        if self._cap is None and self._stated:
            from .stated import register_self

            with self._client_lock:
                if self._cap is None:
                    self._cap, self._flow = register_self(self._location)
        if self._cap is None:
            if self._why:  # the launcher's own error: it says what failed and what to do
                raise AgentUnavailableError(self._why)
            raise AgentUnavailableError.for_store(
                self._location.key, "this kernel was given no capability"
            )
        with self._client_lock:
            if self._client is None or self._client_pid != os.getpid():
                self._client = connect(self._location)
                self._client_pid = os.getpid()
            return self._client, self._cap

    @property
    def pushed(self) -> bool:
        """Whether the agent's pushes reach this process now, so that a change is known
        before its writer is answered (``watch``)."""
        watch = self._watch
        return watch is not None and watch.live

    def _fresh(self) -> object:
        """Revalidate the cache (lock held). While the agent's pushes reach this process
        (``watch``) that is comparing their count: the agent pushes, and waits for the
        push to be taken, before it answers whoever changed a profile, an allowance or
        the notebook-access setting. Without them (none yet, the agent gone, a forked
        child), the store's change token is read: it moves on every commit, the
        agent's audit writes included, so the cache goes only when the content did."""
        watch = self._watch
        if watch is not None and watch.live:
            pushed = (_PUSHED, watch.generation)
            if pushed != self._token:
                self._cache.clear()
                self._token = pushed
                self._content_seen = self._content()  # where the token would go on from
            return pushed
        if isinstance(self._token, tuple) and self._token[:1] == (_PUSHED,):
            self._token = object()  # the pushes ended: from here on, the change token
            if watch is not None and watch.dropped:  # too late to take one: it may be
                self._cache.clear()  # a change this process never heard of
                self._content_seen = object()
        token = self.store.change_token()
        if token != self._token:
            content = self._content()
            if content != self._content_seen:
                self._cache.clear()
                self._content_seen = content
            self._token = token
        return token

    def _content(self) -> object:
        """What the values this kernel holds, and its right to them, depend on."""
        return content(self.store, self.home)  # `zingy-nb lock` empties the cache too

    def _changed(self) -> None:
        super()._changed()
        self._token = object()
        self._content_seen = object()

    def _changed_meta(self, name: str) -> ProfileMeta:
        self._changed()
        return self.show(name)

    # -- reading ----------------------------------------------------------------------
    def secrets(self, name: str, *, caller: str = "Profiles.secrets()") -> Secrets:
        """The values of ``name`` as the agent hands them to this kernel (it refuses
        outside cloud-flow and for a notebook that was not allowed); warm from cache."""
        with self._lock:
            token = self._fresh()
            hit = self._cache.get(name)
        if hit is not None and flow.current() == flow.CLOUD_FLOW:
            audit_log.bump(self, name, flow.CLOUD_FLOW)
            return hit
        client, cap = self._reader()
        self._sync_flow(client, cap)
        if self._watch_pid != os.getpid():  # before the first retrieval: a change
            with self._lock:  # after it is pushed
                self._watch_pid = os.getpid()
                self._watch = self._watched(cap)
                token = self._fresh()
        values: Secrets = client.retrieve(cap, name, caller)  # type: ignore[assignment]
        redact.redactor.register_all(values)
        with self._lock:
            if self._token == token:  # else a change came meanwhile: ask again next time
                self._cache[name] = values
        return values

    def _watched(self, cap: str) -> Watch | None:
        """This process's pushes from the agent, on a connection of their own; None
        if the agent takes none (the store's change token does instead)."""
        try:
            return Watch(connect(self._location), cap)
        except ZingyError:
            return None

    def _sync_flow(self, client: AgentClient, cap: str) -> None:
        """Tell the agent a flow flagged here since (it accepts narrowing only)."""
        now = flow.wire(flow.current())
        if now != self._flow and now in flow.MODES:
            client.flag(cap, now)
            self._flow = now
            with self._lock:
                self._cache.clear()  # what it received before narrowing goes too

    def _reader(self) -> tuple[AgentClient, str]:
        """The connection and capability values are asked with."""
        return self._agent()

    def _audit_add(self, entries: Sequence[AuditEntry]) -> None:
        """Warm retrievals go to the agent, which audits them as this kernel's."""
        client, cap = self._reader()
        client.counted(
            cap, [[e.profile, e.count, e.first.timestamp(), e.last.timestamp()] for e in entries]
        )

    def _redactor_of_all(self) -> redact.Redactor:
        """A matcher of this process's own values that asks the agent for the rest.
        Raises, as ``Profiles._redactor_of_all`` does, if the agent cannot open the
        store (it builds its matcher now)."""
        self.scrub_spans([])
        return _AgentMatcher(self)

    def scrub_spans(self, texts: list[str]) -> list[list[tuple[int, int]]]:
        """Where each of ``texts`` holds a run of a stored value, found by the agent."""
        client, cap = self._agent()
        return client.spans(cap, texts)

    # -- writing: the agent seals -------------------------------------------------------
    def set(
        self,
        name: str,
        secret1: str | None,
        secret2: str | None = None,
        secret3: str | None = None,
        secret4: str | None = None,
    ) -> ProfileMeta:
        validate_name(name)
        values = (secret1, secret2, secret3, secret4)
        client, cap = self._agent()
        with self._lock:
            client.save(cap, name, values)
            redact.redactor.register_all(values)
            return self._changed_meta(name)

    def update(self, name: str, changes: Mapping[str, str | None]) -> ProfileMeta:
        client, cap = self._agent()
        with self._lock:
            client.update(cap, name, dict(changes))
            redact.redactor.register_all(changes.values())
            return self._changed_meta(name)

    def rename(self, old_name: str, new_name: str) -> ProfileMeta:
        client, cap = self._agent()
        with self._lock:
            client.rename(cap, old_name, new_name)
            return self._changed_meta(new_name)

    def delete(self, name: str) -> None:
        client, cap = self._agent()
        with self._lock:
            client.delete(cap, name)
            self._changed()

    # -- the key stays with the agent ---------------------------------------------------
    def key_status(self) -> KeyStatus:
        client, cap = self._agent()
        return KeyStatus(**client.key_status(cap))

    def store_status(self) -> KeyStatus:
        client, cap = self._agent()
        return KeyStatus(**client.key_status(cap, "store"))

    def rotate_key(self, passphrase: str | None = None) -> str:
        return self.vault.rotate_key(passphrase)

    def export_key(self) -> str:
        return self.vault.export_key()

    def import_key(self, text: str) -> MasterKey:
        return self.vault.import_key(text)
