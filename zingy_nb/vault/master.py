"""The master-key vault of the embedded store: one key opens every profile.

The key is looked up (``custody``: ``ZINGY_NB_MASTER_KEY``, the OS keyring, a 0600 key
file) and checked against the store's verifier before any read; a key that cannot be
found is an error, and a new key is never made over an existing store. For people it
also shows the key's status, rotates it, exports and imports it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from .. import redact
from ..errors import KeyUnavailableError, PassphraseError, ProfileNotFoundError
from ..rules import Secrets
from ..store.base import Row, Store, StoreInfo, Transaction
from . import access_mac, locked
from .base import KeyStatus, Vault
from .crypto import Cipher, decode_key, encode_key, new_key
from .custody import ENV_VAR, LOCKED_WHERE, KeyLocator, MasterKey, env_key, key_locator
from .sealing import sealed_row


class MasterKeyVault(Vault):
    """Profiles sealed under the store's master key (``Cipher``: AES-256-GCM)."""

    kind = "master"

    def __init__(self, store: Store, home: Path) -> None:
        self.store = store
        self.keys: KeyLocator = key_locator(store, home)
        self._key: MasterKey | None = None
        self._cipher: Cipher | None = None
        self._mac_key: tuple[str, bytes] | None = None  # (key id, MAC key derived from it)

    # -- the key ----------------------------------------------------------------------
    @staticmethod
    def _opens(key: MasterKey | None, info: StoreInfo) -> Cipher | None:
        if key is None:
            return None
        cipher = Cipher(key.key)
        if cipher.key_id == info.key_id and cipher.check_verifier(info.verifier):
            return cipher
        return None

    def find_key(self, info: StoreInfo) -> tuple[MasterKey, Cipher]:
        """The key that opens the store, registered for redaction: with a copy of the
        store it opens every profile, so this process never shows it."""
        key, cipher = self._locate_key(info)
        redact.register_value(encode_key(key.key))
        return key, cipher

    def _locate_key(self, info: StoreInfo) -> tuple[MasterKey, Cipher]:
        env = env_key()
        if env is not None:
            cipher = self._opens(env, info)
            if cipher is None:
                raise KeyUnavailableError(
                    f"{ENV_VAR} holds a different key than the store at "
                    f"{self.store.location} was encrypted with (the store expects key id "
                    f"{info.key_id}). Set it to that store's key, or unset it."
                )
            return env, cipher
        saved = self.keys.load(info.store_id)
        cipher = self._opens(saved, info)
        if saved is not None and cipher is not None:
            return saved, cipher
        pending = self.keys.load(info.store_id, pending=True)
        cipher = self._opens(pending, info)
        if pending is not None and cipher is not None:
            # A rotation committed the store but stopped before promoting its key.
            promoted = self.keys.save(info.store_id, pending.key)
            self.keys.discard_pending(info.store_id)
            return promoted, cipher
        where = self.keys.describe()
        if saved is None:
            raise KeyUnavailableError(
                f"No master key for the store at {self.store.location} was found in "
                f"{where}. The store is left untouched and no new key was made. Restore "
                "the key with `zingy-nb key import` (from a `zingy-nb key export` "
                f"backup) or set {ENV_VAR}."
            )
        raise KeyUnavailableError(
            f"The master key in {where} does not open the store at "
            f"{self.store.location} (it expects key id {info.key_id}). The store is left "
            "untouched. Restore the right key with `zingy-nb key import`."
        )

    def _cipher_for_key_id(self, key_id: str) -> Cipher:
        """The cipher for the store's current key, reloading it once if it changed."""
        if self._cipher is not None and self._cipher.key_id == key_id:
            return self._cipher
        info = self.store.info()
        if info is None:
            raise KeyUnavailableError(f"The store at {self.store.location} has no key record.")
        self._key, self._cipher = self.find_key(info)
        return self._cipher

    def _info(self, what: str) -> StoreInfo:
        info = self.store.info()
        if info is None:
            raise KeyUnavailableError(
                f"There is no store at {self.store.location} yet, so no key to {what}."
            )
        return info

    def _create_store(self) -> None:
        store_id = uuid.uuid4().hex
        env = env_key()
        key = env if env is not None else self.keys.save(store_id, new_key(), keep_existing=True)
        cipher = Cipher(key.key)
        self.store.create(StoreInfo(store_id, cipher.key_id, cipher.make_verifier()))

    # -- allowances' MAC --------------------------------------------------------------
    def access_mac(self, fields: Sequence[str]) -> bytes:
        info = self.store.info()
        if info is None:
            raise KeyUnavailableError(f"There is no store at {self.store.location} yet.")
        cipher = self._cipher_for_key_id(info.key_id)
        if self._mac_key is None or self._mac_key[0] != cipher.key_id:
            assert self._key is not None
            self._mac_key = (cipher.key_id, access_mac.derive(self._key.key, info.store_id))
        return access_mac.tag(self._mac_key[1], fields)

    # -- sealing and opening ----------------------------------------------------------
    def ensure_store(self) -> None:
        if self.store.info() is None:
            self._create_store()
        info = self.store.info()
        assert info is not None
        self._cipher_for_key_id(info.key_id)

    def seal(
        self,
        txn: Transaction,
        name: str,
        values: Secrets,
        created: datetime,
        updated: datetime,
        old_name: str | None = None,
    ) -> Row:
        row = sealed_row(name, values, created, updated, self._cipher_for_key_id(txn.key_id()))
        if old_name is None:
            txn.put(row)
        else:
            txn.rename(old_name, row)
        return row

    def unseal(self, name: str, row: Row | None = None, txn: Transaction | None = None) -> Secrets:
        row = row if row is not None else self.store.get(name)
        if row is None:
            raise ProfileNotFoundError.for_name(name)
        return self._cipher_for_key_id(row.key_id).open(name, row.blob)

    def cannot_open(self) -> tuple[type[Exception], ...]:
        return ()  # the master key opens every profile: without it, opening raises

    # -- the key, for people ----------------------------------------------------------
    def store_status(self) -> KeyStatus:
        return self.key_status()

    def key_status(self) -> KeyStatus:
        info = self.store.info()
        env = env_key() if info is None else None
        problem: str | None = None
        source = "none"
        if info is not None:
            try:
                key, _ = self.find_key(info)
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

    def rotate_key(self, passphrase: str | None = None) -> str:
        """Re-encrypt every profile under a new key in one transaction; returns its id.

        The new key is saved as pending before the store commits and promoted after,
        so a crash at any point leaves a key that opens every profile. A locked key
        needs its passphrase: the new key is wrapped with it (pending: ``.next``), and
        ``unlock`` promotes a pending key that the store was committed under.
        """
        if env_key() is not None:
            raise KeyUnavailableError(
                f"The key comes from {ENV_VAR}, which zingy-nb cannot change. Generate a "
                "new key yourself, re-encrypt with it by importing the old one into the "
                f"keyring (`zingy-nb key import`), unset {ENV_VAR}, rotate, then export."
            )
        info = self._info("rotate")
        self._key, old_cipher = self.find_key(info)
        old_mac = access_mac.derive(self._key.key, info.store_id)
        fresh = new_key()
        new_cipher = Cipher(fresh)
        wrapped = self.locked_path()
        is_locked = wrapped.exists()  # once: the whole rotation keeps one custody
        if is_locked:
            pending = self._wrap_pending(wrapped, info.store_id, fresh, passphrase)
        else:
            self.keys.save(info.store_id, fresh, pending=True)
        with self.store.transaction() as txn:
            if txn.key_id() != old_cipher.key_id:
                if is_locked:
                    pending.unlink(missing_ok=True)
                raise KeyUnavailableError(
                    "Another process rotated the key at the same time. Run the "
                    "rotation again if you still want a new key."
                )
            for row in list(txn.rows()):
                values = old_cipher.open(row.name, row.blob)
                txn.put(sealed_row(row.name, values, row.created, row.updated, new_cipher))
            txn.set_key(new_cipher.key_id, new_cipher.make_verifier())
            new_mac = access_mac.derive(fresh, info.store_id)
            txn.resign_access(
                lambda fields: access_mac.tag(old_mac, fields),
                lambda fields: access_mac.tag(new_mac, fields),
            )
        if is_locked:
            os.replace(pending, wrapped)
            locked.remember(wrapped, fresh)
            self._key = MasterKey(fresh, "locked", LOCKED_WHERE)
        else:
            self._key = self.keys.save(info.store_id, fresh)
            self.keys.discard_pending(info.store_id)
        self._cipher = new_cipher
        self._mac_key = None
        return new_cipher.key_id

    def _wrap_pending(
        self, wrapped: Path, store_id: str, fresh: bytes, passphrase: str | None
    ) -> Path:
        """The new key wrapped with the passphrase of the locked file ``wrapped``
        (checked: it must unwrap the current key, so a typo cannot lock the store
        away), pending."""
        if passphrase is None:
            raise PassphraseError(
                "The key is locked with a passphrase, and a new key is locked with it "
                "too: run `zingy-nb key rotate` in a terminal, which asks for it (or "
                "give it with --stdin). Nothing was changed."
            )
        locked.unwrap(wrapped, store_id, passphrase)  # a wrong one: nothing changes
        pending = locked.pending_file(wrapped)
        return locked.protect(pending, store_id, fresh, passphrase, locked.lock_after(wrapped))

    # -- locked custody (``locked``): in the agent ------------------------------------
    def protect(self, passphrase: str, lock_after: float | None = None) -> str:
        """Wrap the key with ``passphrase`` and remove every unwrapped copy; returns the
        locked file. This process keeps the key unlocked. Run again (unlocked), it
        changes the passphrase."""
        if env_key() is not None:
            raise KeyUnavailableError(
                f"The key comes from {ENV_VAR}, which zingy-nb cannot remove. Import it "
                f"(`zingy-nb key import`), unset {ENV_VAR}, then protect it."
            )
        info = self._info("protect")
        key, _ = self.find_key(info)  # locked and not unlocked: StoreLockedError
        path = locked.protect(self.locked_path(), info.store_id, key.key, passphrase, lock_after)
        locked.remember(path, key.key)
        self.keys.discard_unwrapped(info.store_id)
        self._key = self._cipher = None
        return str(path)

    def unlock(self, passphrase: str) -> str:
        """Unwrap the key with ``passphrase`` and keep it in this process; returns its
        id. A wrong passphrase raises ``WrongPassphraseError`` and changes nothing."""
        path = self.locked_path()
        if not path.exists():
            raise KeyUnavailableError(
                f"The key of the store at {self.store.location} is not locked, so there "
                "is nothing to unlock (`zingy-nb key protect` locks it)."
            )
        info = self._info("unlock")
        key = locked.unwrap(path, info.store_id, passphrase)
        pending = locked.pending_file(path)
        if self._opens(MasterKey(key, "locked", ""), info) is None and pending.exists():
            # a rotation committed the store but stopped before promoting its key
            key = locked.unwrap(pending, info.store_id, passphrase)
            if self._opens(MasterKey(key, "locked", ""), info) is not None:
                os.replace(pending, path)
        else:
            pending.unlink(missing_ok=True)  # one left by a rotation that never committed
        if self._opens(MasterKey(key, "locked", ""), info) is None:
            raise KeyUnavailableError(
                f"The locked key file {path} holds a key that does not "
                f"open the store at {self.store.location}. Import the right key from a "
                "`zingy-nb key export` backup."
            )
        locked.remember(path, key)
        self._key = self._cipher = self._mac_key = None
        return info.key_id

    def require_key(self) -> None:
        info = self.store.info()
        if info is not None and self.locked_path().exists():
            self._cipher_for_key_id(info.key_id)  # StoreLockedError while locked

    def lock(self) -> bool:
        """Forget the unlocked key; whether it was unlocked. Touches the locked file:
        kernels drop the values they hold when it changes (``locked.stamp``)."""
        self._key = self._cipher = self._mac_key = None
        locked.touch(self.locked_path())
        return locked.forget(self.locked_path())

    def locked_path(self) -> Path:
        return locked.locked_file(self.keys.home)

    def export_key(self) -> str:
        """The store's master key as URL-safe base64, for a backup or another machine."""
        info = self._info("export")
        key, _ = self.find_key(info)
        return encode_key(key.key)

    def import_key(self, text: str) -> MasterKey:
        """Keep a key from ``export_key`` for this store (keyring, else key file).

        With a store present the key must open it; with none, a new empty store is
        created under that key.
        """
        key = decode_key(text, where="the imported text")
        if env_key() is not None:
            raise KeyUnavailableError(
                f"{ENV_VAR} is set and always wins; unset it before importing a key."
            )
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
        return saved
