"""The member-key vault of a team store: data keys, wraps, signatures, trust.

Every write seals the profile's four values with a fresh random data key (``Cipher``:
AES-256-GCM bound to the name and the data key's id), signs the sealed row with the
writer's member key, and wraps the data key (HPKE, ``member_keys``) for every member who
may read the profile at that moment (the database's ``readers`` function: owner,
``zingy_nb_admin`` members, grantees, group grants expanded), each wrap signed too. A
grant or a revoke re-seals in the same transaction, so a revoke rotates the data key:
what the revoked member could unwrap before opens nothing written after.

No save that nobody can read: a write after which its writer, or a reader who held a
wrap for their published key, could not read the profile is refused before it commits
(``LockoutError``: a reader whose key the writer does not trust is one the writer cannot
wrap for). A superuser never acts as a member: row-level security cannot bind one, and
``readers`` never wraps for one (``TeamRoleError``).

A reader verifies the row's and its wrap's signatures against member keys it trusts
(``trust``), unwraps with its private key (``member_custody``) and opens the blob.
No team master key takes part; ``ZINGY_NB_MASTER_KEY`` is read only for ``convert``
(``old_master_key``), which turns a store sealed under the old shared key into this form.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, cast

from .. import redact
from ..errors import (
    DecryptionError,
    KeyUnavailableError,
    LockoutError,
    MemberKeyError,
    ProfileAccessError,
    ProfileNotFoundError,
    SignatureError,
    StoreError,
    TeamRoleError,
    UntrustedKeyError,
    ZingyError,
)
from ..rules import Secrets
from ..store.base import Row, StoreInfo, Transaction
from ..store.migrations import MEMBER_ROLE
from ..store.postgres_members import MemberKeyStore, MemberRecord, MemberTxn, Sealed, Wrap
from . import access_mac, locked
from .base import KeyStatus, Vault
from .crypto import Cipher
from .member_custody import ENV_VAR as MEMBER_KEY_ENV
from .member_custody import MemberKey, MemberKeyLocator, env_member_key
from .member_keys import (
    MemberKeyPair,
    member_statement,
    new_data_key,
    profile_statement,
    statement,
    unwrap_data_key,
    wrap_context,
    wrap_data_key,
    wrap_statement,
)
from .sealing import sealed_row
from .trust import Pins, Trust

if TYPE_CHECKING:
    from pathlib import Path

    from .custody import MasterKey


class NoWrapError(ProfileAccessError):
    """The caller may see a profile but holds no wrap of its data key (not yet granted
    since joining, or wrapped for a key they no longer have)."""


@dataclass
class Resealed:
    """What a re-seal did: who got a wrap, who could not (not joined, key untrusted)."""

    name: str
    wrapped: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    untrusted: list[str] = field(default_factory=list)
    refused: str = ""  # why ``team sync`` left it as it was (it would have locked someone out)


#: Profiles a member sees but cannot open (no wrap for them yet, still under the old
#: master key, or written by a key they do not trust): nothing to scrub.
_NOT_MINE_TO_OPEN = (
    ProfileAccessError,
    KeyUnavailableError,
    UntrustedKeyError,
    SignatureError,
    DecryptionError,
)


class MemberKeyVault(Vault):
    """Profiles of one ``MemberKeyStore``, sealed with member keys; no master key."""

    kind = "member"

    def __init__(self, store: MemberKeyStore, home: Path) -> None:
        self.store = store
        self.home = home
        self._key: MemberKey | None = None
        store.attach(self)

    # -- identity and trust ---------------------------------------------------------------
    @property
    def role(self) -> str:
        return self.store.role()

    def locator(self) -> MemberKeyLocator:
        return MemberKeyLocator(self.home, self.role)

    def member_key(self) -> MemberKeyPair:
        if self._key is None:
            self.refuse_superuser()
            self._key = self.locator().require(self.store.location)
        return self._key.pair

    # -- locked custody (``locked``): the member's own key, in the agent -------------------
    def locked_path(self) -> Path:
        return self.locator().locked_file

    def protect(self, passphrase: str, lock_after: float | None = None) -> str:
        """Wrap the member key with ``passphrase`` and remove every unwrapped copy;
        returns the locked file. This process keeps it unlocked. Run again (unlocked),
        it changes the passphrase."""
        if env_member_key() is not None:
            raise KeyUnavailableError(
                f"Your member key comes from {MEMBER_KEY_ENV}, which zingy-nb cannot "
                "remove: it is your spawner's to keep. Nothing was changed."
            )
        locator = self.locator()
        found = locator.require(self.store.location)  # locked and not unlocked: raises
        text = found.pair.encode().encode("ascii")
        path = locked.protect(locator.locked_file, locator.bound, text, passphrase, lock_after)
        locked.remember(path, text)
        locator.discard_unwrapped()
        self._key = None
        return str(path)

    def unlock(self, passphrase: str) -> str:
        """Unwrap the member key with ``passphrase`` into this process; returns its
        fingerprint. A wrong passphrase raises ``WrongPassphraseError``, changing nothing."""
        locator = self.locator()
        path = locator.locked_file
        if not path.exists():
            raise KeyUnavailableError(
                f"Your member key for the team store at {self.store.location} is not "
                "locked, so there is nothing to unlock (`zingy-nb key protect` locks it)."
            )
        raw = locked.unwrap(path, locator.bound, passphrase, length=None)
        try:
            pair = MemberKeyPair.decode(raw.decode("ascii"), where=str(path))
        except (UnicodeDecodeError, ZingyError):
            raise KeyUnavailableError(
                f"The locked key file {path} holds no member key. Restore it from a "
                "backup, or run `zingy-nb team join --new-key` and ask to be granted again."
            ) from None
        locked.remember(path, raw)
        self._key = None
        return pair.fingerprint

    def require_key(self) -> None:
        if self.locator().locked_file.exists():
            self.member_key()  # StoreLockedError while locked

    def lock(self) -> bool:
        """Forget the unlocked member key; whether it was unlocked. Touches the locked
        file: kernels drop the values they hold when it changes (``locked.stamp``)."""
        self._key = None
        path = self.locator().locked_file
        locked.touch(path)
        was = locked.forget(path)
        with contextlib.suppress(StoreError):  # unreachable: its kernels ask again later
            self.store.announce_change()
        return was

    def refuse_superuser(self) -> None:
        """A superuser never acts as a member: no profile is wrapped for one (``readers``
        leaves them out, as row-level security cannot bind them), so their saves would be
        ones nobody can read."""
        if self.store.superuser():
            raise TeamRoleError.superuser(self.role, MEMBER_ROLE)

    def store_id(self, *, create: bool = False) -> str:
        info = self.store.info()
        if info is None:
            if not create:
                raise ProfileNotFoundError("The team store has no profiles yet.")
            self.store.create(StoreInfo(uuid.uuid4().hex, "", b""))
            info = self.store.info()
            assert info is not None
        return info.store_id

    def trust(self) -> Trust:
        store_id = self.store_id()
        return Trust(Pins(self.home, store_id, self.role), store_id)

    def _keys(self) -> tuple[Trust, dict[str, MemberRecord], list]:
        members = {m.role: m for m in self.store.members()}
        return self.trust(), members, self.store.endorsements()

    def require_joined(self) -> MemberKeyPair:
        """The caller's key, checked against what they published (saving before joining
        is refused with the ``team join`` hint)."""
        pair = self.member_key()
        mine = {m.role: m for m in self.store.members()}.get(self.role)
        if mine is None or mine.fingerprint != pair.fingerprint:
            raise MemberKeyError(
                f"Your member key ({pair.fingerprint}) is not the one published for role "
                f"{self.role!r} in the team store at {self.store.location}. Run `zingy-nb "
                "team join` first (then a manager grants you again if your key changed)."
            )
        return pair

    # -- allowances' MAC and the store-wide setting's signature ---------------------------
    def access_mac(self, fields: Sequence[str]) -> bytes:
        """A MAC with the caller's own key: a member's allowances are their own."""
        raw = self.member_key().encode().encode("ascii")
        return access_mac.tag(access_mac.derive(raw, self.store_id()), fields)

    def setting_tag(self, fields: Sequence[str]) -> bytes:
        """The store-wide setting applies to every member, who cannot check each other's
        MAC: an admin signs it with their member key, as ``<role>\\n<signature>``."""
        pair = self.require_joined()
        message = statement("access-setting", self.store_id(), *fields)
        return self.role.encode("utf-8") + b"\n" + pair.sign(message)

    def setting_verifies(self, fields: Sequence[str], tag: bytes | None) -> bool:
        """Signed by a member of zingy_nb_admin whose key this member trusts."""
        if tag is None or b"\n" not in bytes(tag):
            return False
        raw_role, signature = bytes(tag).split(b"\n", 1)
        role = raw_role.decode("utf-8", "replace")
        trust, members, endorsements = self._keys()
        rec = members.get(role)
        if rec is None or not rec.admin:
            return False
        try:
            public = trust.key(rec, role, members, endorsements)
            public.verify(signature, statement("access-setting", trust.store_id, *fields))
        except (SignatureError, UntrustedKeyError):
            return False
        return True

    def ensure_store(self) -> None:
        self.store.require_schema()
        self.require_joined()  # before the record: a refused save writes nothing at all
        self.store_id(create=True)

    # -- the vault interface --------------------------------------------------------------
    def seal(
        self,
        txn: Transaction,
        name: str,
        values: Secrets,
        created: datetime,
        updated: datetime,
        old_name: str | None = None,
    ) -> Row:
        return self.write(cast(MemberTxn, txn), name, values, created, updated, old_name)[0]

    def unseal(self, name: str, row: Row | None = None, txn: Transaction | None = None) -> Secrets:
        if txn is not None:
            return self.open_in(cast(MemberTxn, txn), name)[1]
        return self.open(name)

    def cannot_open(self) -> tuple[type[Exception], ...]:
        self.require_joined()  # no usable member key: say so, as without a master key
        return _NOT_MINE_TO_OPEN

    def store_status(self) -> KeyStatus:
        """The member's own key (joined or not), and whether a save would accept it."""
        locator = self.locator()
        source, fingerprint, problem = "none", None, None
        try:
            found = locator.load()
            if found is not None:
                source, fingerprint = found.source, found.pair.fingerprint
            self.require_joined()  # the same check a save makes, with its `team join` hint
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

    def _no_master_key(self) -> KeyUnavailableError:
        """The master-key commands are refused here, saying what replaces them (profiles
        are sealed with per-profile data keys wrapped for each member)."""
        return KeyUnavailableError(
            f"The team store at {self.store.location} has no master key: each member has "
            "their own key, and each profile its own data key wrapped for its readers. "
            "Use `zingy-nb team join` (make and publish your member key), `zingy-nb team "
            "members` (keys and fingerprints), `zingy-nb team trust` and `zingy-nb team "
            "sync`; ZINGY_NB_MASTER_KEY is neither needed nor used here."
        )

    def key_status(self) -> KeyStatus:
        raise self._no_master_key()

    def rotate_key(self, passphrase: str | None = None) -> str:
        raise self._no_master_key()

    def export_key(self) -> str:
        raise self._no_master_key()

    def import_key(self, text: str) -> MasterKey:
        raise self._no_master_key()

    def old_master_key(self, info: StoreInfo) -> Cipher:
        """The team store's old shared master key, read only to convert its profiles
        (``zingy-nb store upgrade``): ``ZINGY_NB_MASTER_KEY`` or the OS keyring."""
        from .master import MasterKeyVault

        return MasterKeyVault(self.store, self.home).find_key(info)[1]

    # -- reading ------------------------------------------------------------------------
    def open(self, name: str) -> Secrets:
        found = self.store.sealed(name)
        if found is None:
            raise ProfileNotFoundError.for_name(name)
        return self._open(found, name)

    def _open(self, found: Sealed, name: str) -> Secrets:
        row = found.row
        if found.signer is None or found.signature is None:
            raise KeyUnavailableError(
                f"Profile {name!r} is still sealed under the team store's old master key. "
                "An admin who holds that key runs `zingy-nb store upgrade` to convert it."
            )
        pair = self.member_key()  # before trust: a reader without a key pins nothing
        store_id = self.store_id()
        trust, members, endorsements = self._keys()
        signer = trust.key(members.get(found.signer), found.signer, members, endorsements)
        signer.verify(
            found.signature,
            profile_statement(store_id, name, row.key_id, row.slots_mask, row.blob, found.signer),
            f"Profile {name!r}",
        )
        wrap = found.wrap
        if wrap is None or wrap.fingerprint != pair.fingerprint:
            raise NoWrapError(
                f"You may see profile {name!r} but hold no key for it"
                + (" (it was wrapped for your previous member key)" if wrap else "")
                + ". Ask a manager of it to run `zingy-nb profiles grant` for you again, or "
                "`zingy-nb team sync`."
            )
        if wrap.key_id != row.key_id:
            raise DecryptionError(name)
        context = wrap_context(store_id, name, wrap.key_id, self.role, wrap.fingerprint)
        by = trust.key(members.get(wrap.wrapped_by), wrap.wrapped_by, members, endorsements)
        by.verify(
            wrap.signature, wrap_statement(context, wrap.wrap, wrap.wrapped_by), f"Profile {name!r}"
        )
        data_key = unwrap_data_key(wrap.wrap, pair, context, name)
        cipher = Cipher(data_key)
        if cipher.key_id != row.key_id:
            raise DecryptionError(name)
        return cipher.open(name, row.blob)

    def open_in(self, txn: MemberTxn, name: str) -> tuple[Sealed, Secrets]:
        found = txn.sealed(name)
        if found is None:
            raise ProfileNotFoundError.for_name(name)
        return found, self._open(found, name)

    # -- writing ------------------------------------------------------------------------
    def write(
        self,
        txn: MemberTxn,
        name: str,
        values: Secrets,
        created: datetime,
        updated: datetime,
        old_name: str | None = None,
    ) -> tuple[Row, Resealed]:
        """Seal ``values`` under a new data key and wrap it for every joined reader."""
        pair = self.require_joined()
        store_id = self.store_id()
        data_key = new_data_key()
        cipher = Cipher(data_key)
        row = sealed_row(name, values, created, updated, cipher)
        signature = pair.sign(
            profile_statement(store_id, name, cipher.key_id, row.slots_mask, row.blob, self.role)
        )
        pid = txn.write_sealed(row, signature, old_name)
        trust, members, endorsements = self._keys()
        done = Resealed(name)
        wraps: list[Wrap] = []
        readers = txn.readers(pid)
        for role, joined in readers:
            if not joined:
                done.pending.append(role)
                continue
            try:
                public = trust.key(members.get(role), role, members, endorsements)
            except UntrustedKeyError:
                done.untrusted.append(role)
                continue
            fp = public.fingerprint
            context = wrap_context(store_id, name, cipher.key_id, role, fp)
            wrapped = wrap_data_key(data_key, public, context)
            sig = pair.sign(wrap_statement(context, wrapped, self.role))
            wraps.append(Wrap(role, fp, cipher.key_id, wrapped, self.role, sig))
            done.wrapped.append(role)
        # The wraps being replaced are still there: who could read the profile until now.
        self._refuse_lockout(txn, pid, name, done, {r for r, _ in readers}, members)
        txn.replace_wraps(pid, wraps)
        return row, done

    def _refuse_lockout(
        self,
        txn: MemberTxn,
        pid: int,
        name: str,
        done: Resealed,
        readers: set[str],
        members: dict[str, MemberRecord],
    ) -> None:
        """Raise (the transaction rolls back) if, after this write, its writer could not
        read the profile, or a reader who holds a wrap for their published key lost it."""
        kept = set(done.wrapped)
        if self.role not in kept:
            raise LockoutError(
                f"Saving {name!r} was refused: afterwards you ({self.role}) could not read it "
                f"yourself, because {self._why_not(self.role, readers, members)} Nothing was "
                "changed."
            )
        if not done.untrusted:
            return  # every joined reader got a wrap (one who did not join held none)
        untrusted = set(done.untrusted)
        lost = sorted(
            w.role
            for w in txn.wraps(pid)
            if w.role in untrusted
            and (rec := members.get(w.role)) is not None
            and rec.fingerprint == w.fingerprint
        )
        if lost:
            raise LockoutError(
                f"Saving {name!r} was refused: {', '.join(lost)} could read it until now but "
                f"could not afterwards, because {self._why_not(lost[0], readers, members)} "
                "Then save again, or ask a member who trusts their key to make this change. "
                "Nothing was changed."
            ).showing(*lost)

    def _why_not(self, role: str, readers: set[str], members: dict[str, MemberRecord]) -> str:
        """Why this member cannot wrap a data key for ``role``, and what to do."""
        if role not in readers:
            return (
                f"{role!r} is not among its readers (roles in {MEMBER_ROLE} that can log "
                "in, never superusers)."
            )
        trust = self.trust()
        rec, pinned = members.get(role), trust.pins.load().get(role)
        if role == self.role and rec and pinned and pinned.fingerprint != rec.fingerprint:
            return (
                f"your member key ({rec.fingerprint}, the one this process holds and "
                f"published) is not the one this zingy-nb home trusts for you "
                f"({pinned.fingerprint}). If you replaced your key on purpose (`team join "
                f"--new-key` elsewhere), confirm it here with `zingy-nb team trust {role} "
                f"{rec.fingerprint}`, then save again."
            )
        try:
            trust.key(rec, role, members, self.store.endorsements())
        except UntrustedKeyError as exc:
            return f"you do not trust {role!r}'s member key: {exc}"
        return f"{role!r} has no member key you can use."

    def grant(self, name: str, role: str, level: str) -> None:
        """Grant ``role`` access and wrap the data key for it (for a group role: for each
        of its members who joined), re-sealing in the same transaction."""
        with self.store.member_transaction() as txn:
            self.store.grant_rows(name, role, level)
            found, values = self.open_in(txn, name)
            row = found.row
            _, done = self.write(txn, name, values, row.created, row.updated)
            joined = set(done.wrapped)
            targets = [r for r, _ in txn.readers(found.pid) if self._is_in(txn, r, role)]
            if not any(t in joined for t in targets):
                untrusted = [t for t in targets if t in done.untrusted]
                # The role exists (grant_rows checked): its name is no typed secret.
                if untrusted:
                    raise UntrustedKeyError(
                        f"{role!r} has a member key you do not trust yet: compare its "
                        f"fingerprint with them and run `zingy-nb team trust {untrusted[0]} "
                        "FINGERPRINT`, then grant again. Nothing was changed."
                    ).showing(role, *untrusted)
                who = (
                    f"{role!r} has not joined the team store (no member key): {role} runs"
                    if role in targets
                    else f"No member of {role!r} has joined the team store: they run"
                )
                raise MemberKeyError(
                    f"{who} `zingy-nb team join` first, then you grant again. Nothing was changed."
                ).showing(role)

    @staticmethod
    def _is_in(txn: MemberTxn, who: str, role: str) -> bool:
        rec = txn.conn.execute("SELECT zingy_nb.role_in(%s, %s)", (who, role)).fetchone()
        return bool(rec and rec[0])

    def revoke(self, name: str, role: str) -> bool:
        """Remove ``role``'s grant and rotate the data key (re-seal, re-wrap) at once."""
        with self.store.member_transaction() as txn:
            found, values = self.open_in(txn, name)
            if not self.store.revoke_rows(name, role):
                return False
            self.write(txn, name, values, found.row.created, found.row.updated)
            return True

    def sync(self) -> list[Resealed]:
        """Re-seal every profile whose wraps differ from its readers' trusted keys."""
        report = []
        with self.store.member_transaction() as txn:
            for name in [m.name for m in self.store.list()]:
                found = txn.sealed(name)
                if found is None or found.signer is None:
                    continue
                expected = self._expected(txn, found.pid)
                if expected is None:
                    continue
                have = {(w.role, w.fingerprint) for w in txn.wraps(found.pid)}
                if have != expected:
                    values = self._open(found, name)
                    try:
                        with txn.conn.transaction():  # a refused one stays as it was
                            row = found.row
                            report.append(
                                self.write(txn, name, values, row.created, row.updated)[1]
                            )
                    except LockoutError as exc:
                        report.append(Resealed(name, refused=str(exc)))
        return report

    def _expected(self, txn: MemberTxn, pid: int) -> set[tuple[str, str]] | None:
        readers = txn.readers(pid)
        if not readers:
            return None  # the caller may not write it
        trust, members, endorsements = self._keys()
        expected = set()
        for role, joined in readers:
            if joined:
                try:
                    key = trust.key(members.get(role), role, members, endorsements)
                except UntrustedKeyError:
                    continue
                expected.add((role, key.fingerprint))
        return expected

    def out_of_sync(self) -> list[str]:
        """Profiles the caller may write whose wraps differ from their readers."""
        stale = []
        with self.store.member_transaction() as txn:
            for meta in self.store.list():
                found = txn.sealed(meta.name)
                if found is None:
                    continue
                expected = self._expected(txn, found.pid)
                if expected is not None and expected != {
                    (w.role, w.fingerprint) for w in txn.wraps(found.pid)
                }:
                    stale.append(meta.name)
        return stale

    # -- joining and trusting -----------------------------------------------------------
    def join(self, *, new_key: bool = False) -> tuple[MemberKey, str | None]:
        """Publish the caller's member key (making one if they have none); returns it and
        the fingerprint it replaced, if any."""
        self.refuse_superuser()
        store_id = self.store_id(create=True)
        locator = self.locator()
        kept = None if new_key else locator.load()
        if kept is None:
            kept = locator.save(MemberKeyPair.generate())
        pair = kept.pair
        before = {m.role: m for m in self.store.members()}.get(self.role)
        self.store.publish(
            pair.public, pair.sign(member_statement(store_id, self.role, pair.public))
        )
        Pins(self.home, store_id, self.role).pin(
            self.role, pair.fingerprint, self.store.is_admin(self.role)
        )
        self._key = kept
        replaced = before.fingerprint if before and before.fingerprint != pair.fingerprint else None
        return kept, replaced

    def trust_member(self, role: str, fingerprint: str) -> bool:
        """Pin ``role``'s current key after an out-of-band check; an admin also endorses
        an admin's key for the team. Returns whether an endorsement was written."""
        store_id = self.store_id()
        rec = {m.role: m for m in self.store.members()}.get(role)
        if rec is None or not Trust.well_formed(store_id, rec):
            raise UntrustedKeyError(
                f"{role!r} has no valid member key to trust: they run `zingy-nb team join` first."
            )
        if rec.fingerprint != fingerprint.strip():
            raise UntrustedKeyError(
                f"{role!r}'s published key has another fingerprint than the one you gave: "
                "nothing was trusted. Check with them again."
            )
        Pins(self.home, store_id, self.role).pin(role, rec.fingerprint, rec.admin)
        if rec.admin and self.store.is_admin(self.role) and role != self.role:
            pair = self.require_joined()
            self.store.endorse(
                role, rec.fingerprint, pair.sign(member_statement(store_id, role, rec.public))
            )
            return True
        return False

    # -- migration from the shared master key -------------------------------------------
    def convert(self, master: Cipher) -> list[Resealed]:
        """Re-seal every profile still under the master key, in one transaction; the
        store's master-key record is removed at the end (an admin only)."""
        if not self.store.is_admin(self.role):
            raise ProfileAccessError(
                "Converting a team store to member keys re-seals every profile: a member "
                "of zingy_nb_admin who holds the old master key runs `zingy-nb store upgrade`."
            )
        done = []
        with self.store.member_transaction() as txn:
            for name in txn.legacy_names():
                found = txn.sealed(name)
                assert found is not None
                if found.row.key_id != master.key_id:
                    raise KeyUnavailableError(
                        f"Profile {name!r} is not under the master key given. Nothing was "
                        "converted."
                    )
                values = master.open(name, found.row.blob)
                redact.redactor.register_all(values)
                row = found.row
                done.append(self.write(txn, name, values, row.created, row.updated)[1])
            txn.drop_master_key()
        return done
