"""The vault interface: how a profile is sealed and opened, and with whose key.

Two key models implement it: the master-key vault of the embedded store (``master``)
and the member-key vault of a team store (``member``); the store chooses one
(``open_vault``). ``Profiles`` keeps the flow gate, the cache, audit and redaction and
never asks which vault it has: everything that needs a key goes through here. Values
leave only through ``unseal``; a key leaves only through ``export_key``, for a person.
Allowances and the notebook-access setting carry a MAC only a holder of the key can
make (``access_mac``): the store counts only rows whose MAC verifies.
"""

from __future__ import annotations

import hmac
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from ..errors import KeyUnavailableError

if TYPE_CHECKING:
    from pathlib import Path

    from ..rules import Secrets
    from ..store.base import Row, Transaction
    from .custody import MasterKey


@dataclass(frozen=True)
class KeyStatus:
    """Where the key lives and whether it opens the store; never the key itself."""

    store: str
    store_exists: bool
    profiles: int
    key_source: str  # "env", "keyring", "file" or "none"
    key_location: str
    key_id: str | None  # a member key: its fingerprint
    problem: str | None
    key_kind: str = "master"  # "master" (the embedded store), or "member" (a team store)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Vault(ABC):
    """Seals and opens the profiles of one store. ``Profiles`` holds the lock around
    every call, so an implementation needs none of its own."""

    #: Which key model: "master" or "member" (as ``KeyStatus.key_kind``), for the
    #: commands that exist for one model only.
    kind: ClassVar[str]

    @abstractmethod
    def ensure_store(self) -> None:
        """Before a first write: create the store's key record if there is none, and
        make sure this process holds the key that writes to it."""

    @abstractmethod
    def seal(
        self,
        txn: Transaction,
        name: str,
        values: Secrets,
        created: datetime,
        updated: datetime,
        old_name: str | None = None,
    ) -> Row:
        """Write ``values`` sealed in ``txn``, replacing ``old_name`` if given."""

    @abstractmethod
    def unseal(self, name: str, row: Row | None = None, txn: Transaction | None = None) -> Secrets:
        """The values of ``name`` (from ``row`` or ``txn`` if given, else the store)."""

    @abstractmethod
    def cannot_open(self) -> tuple[type[Exception], ...]:
        """The errors that mark a profile this process sees but may not open, which the
        save-time scrub skips. Raises first if this process holds no usable key at all."""

    @abstractmethod
    def store_status(self) -> KeyStatus:
        """The key that opens what this process reads, and whether it does."""

    @abstractmethod
    def key_status(self) -> KeyStatus:
        """The store's master key: where it lives and whether it opens the store."""

    @abstractmethod
    def rotate_key(self, passphrase: str | None = None) -> str:
        """Re-encrypt every profile under a new master key; returns its id. A locked
        key needs its ``passphrase``, which then wraps the new one."""

    @abstractmethod
    def export_key(self) -> str:
        """The store's master key as text, for a backup or another machine."""

    @abstractmethod
    def import_key(self, text: str) -> MasterKey:
        """Keep a key from ``export_key`` for this store."""

    def require_key(self) -> None:  # noqa: B027 (most vaults have nothing to check)
        """Raise if this process cannot open profiles now (a locked key): checked
        before anything that would read a missing key as "not signed"."""

    # -- locked custody (``locked``): a master key, or a member's own key ---------------
    def _not_lockable(self) -> NoReturn:
        raise KeyUnavailableError(
            "Locking a key with a passphrase is for the embedded store's master key and a "
            "team member's own key; this store's key cannot be locked. Nothing was changed."
        )

    def protect(self, passphrase: str, lock_after: float | None = None) -> str:
        """Wrap the key with a passphrase, removing every unwrapped copy."""
        self._not_lockable()

    def unlock(self, passphrase: str) -> str:
        """Unwrap the locked key into this process (the agent)."""
        self._not_lockable()

    def lock(self) -> bool:
        """Forget the unlocked key."""
        self._not_lockable()

    def locked_path(self) -> Path | None:
        """Where this vault's key is (or would be) kept locked; None: it never is."""
        return None

    # -- allowances and the notebook-access setting (``store.base.AccessSigner``) -------
    @abstractmethod
    def access_mac(self, fields: Sequence[str]) -> bytes:
        """The MAC of an allowance or setting row, with a key derived from this vault's
        key (``access_mac`` module). Raises if this process holds no key."""

    def access_verifies(self, fields: Sequence[str], mac: bytes | None) -> bool:
        """Whether ``mac`` is this vault's over ``fields`` (None: an unsigned row)."""
        return mac is not None and hmac.compare_digest(self.access_mac(fields), bytes(mac))

    def setting_tag(self, fields: Sequence[str]) -> bytes:
        """What signs the store-wide setting; by default the same MAC."""
        return self.access_mac(fields)

    def setting_verifies(self, fields: Sequence[str], tag: bytes | None) -> bool:
        return self.access_verifies(fields, tag)
