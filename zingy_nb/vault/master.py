"""The master key, for people: status, rotation, export and import of a store's key
(and, for ``GET status``, the member's own key on a team store).

``Profiles`` exposes these as methods; they live here because they concern the key's
custody, not profiles. Each takes the ``Profiles`` whose store it works on (``self``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import KeyUnavailableError, ZingyError
from ..store.base import StoreInfo
from .crypto import Cipher, decode_key, encode_key, new_key
from .custody import ENV_VAR, MasterKey, env_key
from .sealing import sealed_row

if TYPE_CHECKING:
    from ..profiles import Profiles


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


def no_master_key(self: Profiles) -> None:
    """Refuse the master-key commands on a member-key team store, saying what replaces
    them (its profiles are sealed with per-profile data keys wrapped for each member)."""
    if getattr(self, "vault", None) is not None:
        raise KeyUnavailableError(
            f"The team store at {self.store.location} has no master key: each member has "
            "their own key, and each profile its own data key wrapped for its readers. "
            "Use `zingy-nb team join` (make and publish your member key), `zingy-nb team "
            "members` (keys and fingerprints), `zingy-nb team trust` and `zingy-nb team "
            "sync`; ZINGY_NB_MASTER_KEY is neither needed nor used here."
        )


def store_status(self: Profiles) -> KeyStatus:
    """The key that opens what this process reads: the store's master key, or on a team
    store the member's own key (joined or not); never a key itself."""
    if self.vault is None:
        return key_status(self)
    vault = self.vault
    locator = vault.locator()
    source, fingerprint, problem = "none", None, None
    try:
        found = locator.load()
        if found is not None:
            source, fingerprint = found.source, found.pair.fingerprint
        vault.require_joined()  # the same check a save makes, with its `team join` hint
    except ZingyError as exc:
        problem = str(exc)
    return KeyStatus(
        store=self.store.location,
        store_exists=self.store.info() is not None,
        profiles=self.store.count(),
        key_source=source,
        key_location=locator.describe(),
        key_id=fingerprint,
        problem=problem,
        key_kind="member",
    )


def key_status(self: Profiles) -> KeyStatus:
    no_master_key(self)
    info = self.store.info()
    env = env_key() if info is None else None
    problem: str | None = None
    source = "none"
    if info is not None:
        try:
            key, _ = self._find_key(info)
            source = key.source
        except KeyUnavailableError as exc:
            problem = str(exc)
    elif env is not None:
        source = "env"
    return KeyStatus(
        store=self.store.location,
        store_exists=info is not None,
        profiles=self.store.count(),
        key_source=source,
        key_location=self.keys.describe(),
        key_id=info.key_id if info else None,
        problem=problem,
    )


def rotate_key(self: Profiles) -> str:
    """Re-encrypt every profile under a new key in one transaction; returns its id.

    The new key is saved as pending before the store commits and promoted after,
    so a crash at any point leaves a key that opens every profile.
    """
    no_master_key(self)
    if env_key() is not None:
        raise KeyUnavailableError(
            f"The key comes from {ENV_VAR}, which zingy-nb cannot change. Generate a "
            "new key yourself, re-encrypt with it by importing the old one into the "
            f"keyring (`zingy-nb key import`), unset {ENV_VAR}, rotate, then export."
        )
    with self._lock:
        info = self.store.info()
        if info is None:
            raise KeyUnavailableError(
                f"There is no store at {self.store.location} yet, so no key to rotate."
            )
        self._key, old_cipher = self._find_key(info)
        fresh = new_key()
        new_cipher = Cipher(fresh)
        self.keys.save(info.store_id, fresh, pending=True)
        with self.store.transaction() as txn:
            if txn.key_id() != old_cipher.key_id:
                raise KeyUnavailableError(
                    "Another process rotated the key at the same time. Run the "
                    "rotation again if you still want a new key."
                )
            for row in list(txn.rows()):
                values = old_cipher.open(row.name, row.blob)
                txn.put(sealed_row(row.name, values, row.created, row.updated, new_cipher))
            txn.set_key(new_cipher.key_id, new_cipher.make_verifier())
        self._key = self.keys.save(info.store_id, fresh)
        self.keys.discard_pending(info.store_id)
        self._cipher = new_cipher
        self._changed()
        return new_cipher.key_id


def export_key(self: Profiles) -> str:
    """The store's master key as URL-safe base64, for a backup or another machine."""
    no_master_key(self)
    with self._lock:
        info = self.store.info()
        if info is None:
            raise KeyUnavailableError(
                f"There is no store at {self.store.location} yet, so no key to export."
            )
        key, _ = self._find_key(info)
        return encode_key(key.key)


def import_key(self: Profiles, text: str) -> MasterKey:
    """Keep a key from ``export_key`` for this store (keyring, else key file).

    With a store present the key must open it; with none, a new empty store is
    created under that key.
    """
    no_master_key(self)
    key = decode_key(text, where="the imported text")
    if env_key() is not None:
        raise KeyUnavailableError(
            f"{ENV_VAR} is set and always wins; unset it before importing a key."
        )
    with self._lock:
        info = self.store.info()
        if info is None:
            store_id = uuid.uuid4().hex
            saved = self.keys.save(store_id, key)
            cipher = Cipher(key)
            self.store.create(StoreInfo(store_id, cipher.key_id, cipher.make_verifier()))
            return saved
        candidate = MasterKey(key, "import", "the imported text")
        if self._opens(candidate, info) is None:
            raise KeyUnavailableError(
                f"That key does not open the store at {self.store.location} (it "
                f"expects key id {info.key_id}). Nothing was changed."
            )
        saved = self.keys.save(info.store_id, key)
        self._key, self._cipher = saved, Cipher(key)
        self._changed()
        return saved
