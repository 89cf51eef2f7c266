"""The profiles API: every entry point (magic, panel, CLI, server, zingyConn) uses this.

It joins a ``Store`` backend and the vault its store chose (``vault.open_vault``: the
master key of the embedded store, or member keys on a team store), which seals and opens
every profile; ``Profiles`` never asks which one it has. The flow gate lives here,
where every path to a stored value passes: ``secrets`` refuses outside cloud-flow, and
in a kernel with a notebook identity it asks ``access.judge`` whether that notebook may
read the profile (cold only: the answer is cached with the values and revalidated by
the same change token). ``zingyConn`` is a thin shell over it. Managing profiles is
allowed everywhere. Every value this process retrieves or writes is registered with
its redactor.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from . import access, flow, redact
from .agent import hook
from .audit import LOCKED, PROTECTED, UNLOCK_REFUSED, UNLOCKED, AuditLog, audit_log
from .errors import (
    InvalidProfileError,
    ProfileExistsError,
    ProfileNotFoundError,
    WrongPassphraseError,
)
from .paths import store_home
from .rules import (
    SLOTS,
    ProfileMeta,
    Secrets,
    validate_name,
    validate_secrets,
    validate_slot,
    validate_value,
)
from .store.base import AuditEntry, Row, Store, Transaction, utcnow
from .store.url import open_store, store_url
from .vault import KeyStatus, MasterKey, Vault, key_locked, open_vault


class Profiles:
    """Encrypted profiles in one store. Thread-safe; one instance per store and process."""

    def __init__(
        self, home: Path | str | None = None, store: Store | None = None, url: str | None = None
    ) -> None:
        """``url``: a team store (``postgresql://...``); default ``ZINGY_NB_STORE_URL``,
        and without either the embedded store in ``home``."""
        self.home = Path(home) if home is not None else store_home()
        self._url = (url if url is not None else store_url()) or ""
        self.store: Store = store or open_store(self._url, self.home)
        self.vault: Vault = open_vault(self.store, self.home)
        self._lock = threading.RLock()
        self._token: object = object()
        self._cache: dict[str, Secrets] = {}
        self._allowed: set[str] = set()  # profiles this process's notebook may read
        self._generation = 0  # own writes: SQLite's data_version only counts others'

    # -- sealing, through the vault ---------------------------------------------------
    def _seal(
        self,
        txn: Transaction,
        name: str,
        values: Secrets,
        created: datetime,
        old_name: str | None = None,
    ) -> Row:
        """Write ``values`` sealed by the vault, replacing ``old_name`` if given."""
        return self.vault.seal(txn, name, values, created, utcnow(), old_name)

    def _unseal(self, name: str, row: Row | None = None, txn: Transaction | None = None) -> Secrets:
        return self.vault.unseal(name, row, txn)

    def _ensure_store(self) -> None:
        self.vault.ensure_store()

    #: Whether a write here is this process's own, to be told to the store's agent
    #: (``agent.hook.after_write``); not where the agent made it.
    _tells_agent = True

    def _changed(self) -> None:
        self._cache.clear()
        self._allowed.clear()
        self._generation += 1
        tell = hook.after_write
        if tell is not None and self._tells_agent:
            tell(self.home, self._url)

    def change_token(self) -> object:
        """Differs once anyone, this instance included, has committed a change."""
        return (self.store.change_token(), self._generation)

    # -- reading ----------------------------------------------------------------------
    def list(self) -> list[ProfileMeta]:
        """Metadata of every profile, sorted by name. Needs no key."""
        return self.store.list()

    def show(self, name: str) -> ProfileMeta:
        """Metadata of one profile. Needs no key."""
        row = self.store.get(validate_name(name))
        if row is None:
            raise ProfileNotFoundError.for_name(name)
        return row.meta

    def exists(self, name: str) -> bool:
        return self.store.get(validate_name(name)) is not None

    def secrets(self, name: str, *, caller: str = "Profiles.secrets()") -> Secrets:
        """The four values of a profile, always as last committed by anyone.

        Cloud-flow only: anywhere else it raises ``CloudFlowOnlyError`` (audited, with
        ``caller`` named in the message). In a notebook that was not allowed to read
        ``name`` it asks, or raises ``NotebookAccessError`` (see ``access``). The values
        are registered with the process's redactor. A warm call costs the flow check and
        one cheap change check; it neither queries nor decrypts.
        """
        mode = flow.current()
        if mode != flow.CLOUD_FLOW:
            self._refuse(name, mode, caller)
        values, cold = self._open(name, notebook=access.notebook())
        if cold:
            redact.redactor.register_all(values)
            audit_log.retrieved(self, name, flow.CLOUD_FLOW)
        else:
            audit_log.bump(self, name, flow.CLOUD_FLOW)
        return values

    def _secrets_as(
        self, name: str, mode: str, notebook: str | None, audit: AuditLog, caller: str
    ) -> Secrets:
        """``secrets`` for a kernel the agent serves: gated by the flow and notebook the
        agent recorded for it (not this process's own), audited in its ``audit``. The
        notebook is judged on every call: ``_allowed`` is for this process's notebook."""
        if mode != flow.CLOUD_FLOW:
            error = flow.refusal(caller, mode)  # the kernel's flow, not the agent's
            audit.refused(self, name, mode)  # an invalid or unknown name without its text
            raise error
        if notebook is not None:
            self.vault.require_key()  # locked: say so, not "never allowed"
            access.judge(self, validate_name(name), notebook)
        values, cold = self._open(name)
        if cold:
            redact.redactor.register_all(values)
        audit.retrieved(self, name, flow.CLOUD_FLOW)
        return values

    def _refuse(self, name: object, mode: str | None, caller: str) -> NoReturn:
        """Raise the flow refusal, audited under ``audit.recorded_name``: an invalid or
        unknown name is recorded without its text (it may be a pasted secret)."""
        audit_log.refused(self, name, mode or "unflagged")
        raise flow.refusal(caller)

    def _fresh(self) -> object:
        """Revalidate the caches against the store's change token (with the lock held)."""
        token = self.store.change_token()
        if token != self._token:
            self._cache.clear()
            self._allowed.clear()
            self._token = token
        return token

    def _open(self, name: str, notebook: str | None = None) -> tuple[Secrets, bool]:
        """The values and whether they were decrypted now rather than taken from the
        warm cache. Ungated, for this module's own work, unless ``notebook`` is given:
        then that notebook must be allowed to read ``name`` (``access.judge``)."""
        with self._lock:
            token = self._fresh()
            hit = self._cache.get(name)
            if hit is not None and (notebook is None or name in self._allowed):
                return hit, False
        if notebook is not None and name not in self._allowed:
            access.judge(self, validate_name(name), notebook)  # may ask: no lock held
            with self._lock:
                if self._token == token:  # else a change came meanwhile: judge again
                    self._allowed.add(name)
        with self._lock:
            self._fresh()
            hit = self._cache.get(name)
            if hit is not None:
                return hit, False
            values = self._unseal(validate_name(name))
            self._cache[name] = values
            return values, True

    def _redactor_of_all(self) -> redact.Redactor:
        """A redactor holding every stored value, for the server's save-time scrub.

        Not public: it decrypts without the flow gate, and hands the caller a matcher,
        never a value.
        """
        redactor = redact.Redactor()
        not_mine = self.vault.cannot_open()  # raises if this process holds no usable key
        for meta in self.list():
            try:
                redactor.register_all(self._open(meta.name)[0])
            except ProfileNotFoundError:  # deleted meanwhile
                continue
            except not_mine:  # seen here, not this process's to open: nothing to scrub
                continue
        return redactor

    # -- writing ----------------------------------------------------------------------
    def set(
        self,
        name: str,
        secret1: str | None,
        secret2: str | None = None,
        secret3: str | None = None,
        secret4: str | None = None,
    ) -> ProfileMeta:
        """Create or replace a profile: all four slots; unset ones become ``None``."""
        validate_name(name)
        values = validate_secrets((secret1, secret2, secret3, secret4))
        with self._lock:
            self._ensure_store()
            with self.store.transaction() as txn:
                old = txn.get(name)
                row = self._seal(txn, name, values, old.created if old else utcnow())
                if old is None:
                    access.created(txn, name)  # the notebook that creates it may read it
            self._changed()
        redact.redactor.register_all(values)
        return row.meta

    def update(self, name: str, changes: Mapping[str, str | None]) -> ProfileMeta:
        """Change only the slots given; a slot given as ``None`` is cleared.

        ``secret1`` cannot be cleared: every profile keeps its main secret.
        """
        validate_name(name)
        if not changes:
            raise InvalidProfileError(
                f"Nothing to update in {name!r}: give at least one slot to set or clear."
            )
        for slot, value in changes.items():
            validate_slot(slot)
            if value is not None:
                validate_value(slot, value)
        if "secret1" in changes and changes["secret1"] is None:
            raise InvalidProfileError(
                "secret1 cannot be cleared: every profile needs its main secret. "
                "Delete the profile instead."
            )
        with self._lock:
            if self.store.info() is None:
                raise ProfileNotFoundError.for_name(name)
            with self.store.transaction() as txn:
                old = txn.get(name)
                if old is None:
                    raise ProfileNotFoundError.for_name(name)
                values = list(self._unseal(name, old, txn))
                for slot, value in changes.items():
                    values[SLOTS.index(slot)] = value
                new_values = validate_secrets((values[0], values[1], values[2], values[3]))
                row = self._seal(txn, name, new_values, old.created)
            self._changed()
        redact.redactor.register_all(changes.values())
        return row.meta

    def rename(self, old_name: str, new_name: str) -> ProfileMeta:
        """Give a profile a new name; its values are re-sealed for that name."""
        validate_name(old_name)
        validate_name(new_name)
        with self._lock:
            if self.store.info() is None:
                raise ProfileNotFoundError.for_name(old_name)
            with self.store.transaction() as txn:
                old = txn.get(old_name)
                if old is None:
                    raise ProfileNotFoundError.for_name(old_name)
                if old_name == new_name:
                    return old.meta
                if txn.get(new_name) is not None:
                    raise ProfileExistsError(
                        f"A profile named {new_name!r} already exists. Delete it first or "
                        "choose another name."
                    )
                values = self._unseal(old_name, old, txn)
                row = self._seal(txn, new_name, values, old.created, old_name)
            self._changed()
            return row.meta

    def delete(self, name: str) -> None:
        """Delete a profile. Needs no key: removing data never requires reading it."""
        validate_name(name)
        with self._lock:
            if self.store.info() is None:
                raise ProfileNotFoundError.for_name(name)
            with self.store.transaction() as txn:
                if not txn.delete(name):
                    raise ProfileNotFoundError.for_name(name)
            self._changed()

    def _audit_add(self, entries: Sequence[AuditEntry]) -> None:
        """Write audit entries (``audit_log``'s); a kernel's go to its agent instead."""
        self.store.audit_add([*entries])

    def move_notebooks(self, old: str, new: str) -> int:
        """Allowances of notebook (or folder) ``old`` now name ``new``, re-signed; how
        many. Widens what ``new`` may read: for a person's process (the server)."""
        return self.store.move_notebooks(old, new)

    def forget_notebooks(self, path: str) -> int:
        """Drop the allowances of a deleted notebook (or folder); how many."""
        return self.store.forget_notebooks(path)

    # -- the key, for people (the vault's) ---------------------------------------------
    def key_status(self) -> KeyStatus:
        """Where the master key lives and whether it opens the store; never the key."""
        return self.vault.key_status()

    def store_status(self) -> KeyStatus:
        """``key_status``, or on a team store the state of the member's own key."""
        return self.vault.store_status()

    def rotate_key(self, passphrase: str | None = None) -> str:
        """Re-encrypt every profile under a new key in one transaction; returns its id.
        A key locked with a passphrase needs it (the new key is locked with it)."""
        return self._typed(lambda: self.vault.rotate_key(passphrase))

    def _typed(self, call: Callable[[], str]) -> str:
        """``call()``, which checks a typed passphrase; a wrong one is audited."""
        try:
            with self._lock:
                done = call()
                self._changed()
        except WrongPassphraseError:
            audit_log.key_event(self, UNLOCK_REFUSED)
            raise
        return done

    # -- locked custody: done by the agent, which then holds the only unwrapped key -----
    def protect_key(self, passphrase: str, lock_after: float | None = None) -> str:
        """Lock the key with ``passphrase`` (``vault.locked``); returns the locked file."""
        with self._lock:
            where = self.vault.protect(passphrase, lock_after)
            self._changed()
        audit_log.key_event(self, PROTECTED)
        return where

    def unlock(self, passphrase: str) -> str:
        """Unwrap the locked key into this process; a wrong passphrase is audited."""
        key_id = self._typed(lambda: self.vault.unlock(passphrase))
        audit_log.key_event(self, UNLOCKED)
        return key_id

    def lock(self, outcome: str = LOCKED) -> bool:
        """Forget the unlocked key and every value this process holds."""
        with self._lock:
            was = self.vault.lock()
            self._changed()
        audit_log.key_event(self, outcome)  # moves the change token: kernels revalidate
        return was

    def export_key(self) -> str:
        """The store's master key as URL-safe base64, for a backup or another machine."""
        with self._lock:
            return self.vault.export_key()

    def import_key(self, text: str) -> MasterKey:
        """Keep a key from ``export_key`` for this store (keyring, else key file)."""
        with self._lock:
            saved = self.vault.import_key(text)
            self._changed()
            return saved


_instances: dict[tuple[Path, str], Profiles] = {}
_instances_lock = threading.Lock()


def _build(home: Path, url: str) -> Profiles:
    """A new ``Profiles``, or what a launched kernel set instead (``agent.hook``)."""
    made = hook.factory
    if made is not None:
        return made(home, url)
    person = hook.locked_factory
    if person is not None and key_locked(home, team=bool(url)):
        return person(home, url)  # only the agent holds a locked key
    return Profiles(home, url=url)


def get_profiles(home: Path | str | None = None, url: str | None = None) -> Profiles:
    """The process-wide ``Profiles`` of a store (default: ``ZINGY_NB_STORE_URL``, else
    the embedded store in ``store_home()``)."""
    path = Path(home) if home is not None else store_home()
    where = (url if url is not None else store_url()) or ""
    with _instances_lock:
        found = _instances.get((path, where))
        if found is None:
            found = _instances[(path, where)] = _build(path, where)
        return found
