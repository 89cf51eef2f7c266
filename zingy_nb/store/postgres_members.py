"""The team store with member keys: members, per-profile wraps and signatures in SQL.

``MemberKeyStore`` is the PostgreSQL team store (``url.open_store`` opens every
``postgresql://`` URL with it), at the member-key schema (``migrations_members``). It stores and returns what ``vault.member`` computes (public
keys, wraps, signatures) and does no cryptography itself; row-level security decides,
as for profiles, who may write which row. Operations that must re-seal a profile
(grant, revoke) are handed to the vault that ``Profiles`` attaches (``attach``).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import StoreError, TeamRoleError
from ..vault.member_keys import MemberPublicKey
from .base import AccessSigner, Row, StoreInfo, Transaction
from .migrations import ADMIN_ROLE, MEMBER_ROLE, SCHEMA
from .migrations_members import PG_MEMBER_KEYS, POSTGRES_MEMBER_KEYS
from .postgres import PostgresStore
from .postgres_transaction import COLUMNS, PgTransaction, one, row_from_record, utc

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class MemberRecord:
    """A member's published public keys, as the database holds them (not yet trusted)."""

    role: str
    public: MemberPublicKey
    fingerprint: str  # as stored; a reader recomputes it from ``public``
    self_signature: bytes = field(repr=False)
    joined: datetime
    admin: bool  # a member of zingy_nb_admin, as the database says


@dataclass(frozen=True)
class Endorsement:
    """An admin's signature over another member's key (a new admin key needs one)."""

    role: str
    fingerprint: str
    endorsed_by: str
    signature: bytes = field(repr=False)


@dataclass(frozen=True)
class Wrap:
    """A profile's data key sealed for one member, signed by whoever wrapped it."""

    role: str
    fingerprint: str
    key_id: str
    wrap: bytes = field(repr=False)
    wrapped_by: str
    signature: bytes = field(repr=False)


@dataclass(frozen=True)
class Sealed:
    """A profile row with its writer's signature and the caller's own wrap, if any."""

    row: Row
    pid: int
    signer: str | None
    signature: bytes | None = field(repr=False)
    wrap: Wrap | None


class Vault(Protocol):
    def grant(self, name: str, role: str, level: str) -> None: ...
    def revoke(self, name: str, role: str) -> bool: ...


_IS_SUPERUSER = "SELECT current_setting('is_superuser') = 'on'"
_WRAP_COLUMNS = "role, fingerprint, key_id, wrap, wrapped_by, signature"


def _wrap(rec: tuple) -> Wrap:
    role, fp, key_id, wrap, by, sig = rec
    return Wrap(str(role), fp, key_id, bytes(wrap), str(by), bytes(sig))


class MemberTxn(PgTransaction):
    """One write transaction on a member-key store (holding the change lock)."""

    def __init__(
        self, conn: psycopg.Connection, signer: AccessSigner | None = None, signs: bool = True
    ) -> None:
        super().__init__(conn, signer)
        self.conn = conn
        self.signs_access = signs

    def sealed(self, name: str) -> Sealed | None:
        return sealed(self._conn, name)

    def readers(self, pid: int) -> list[tuple[str, bool]]:
        """(role, joined) of every member who may read profile ``pid`` (the caller must
        be able to write it; otherwise the list is empty)."""
        recs = self._conn.execute(
            f"SELECT role, joined FROM {SCHEMA}.readers(%s, current_user)", (pid,)
        ).fetchall()
        return [(str(r), bool(j)) for r, j in recs]

    def wraps(self, pid: int) -> list[Wrap]:
        recs = self._conn.execute(
            f"SELECT {_WRAP_COLUMNS} FROM {SCHEMA}.wraps WHERE profile_id = %s ORDER BY role",
            (pid,),
        ).fetchall()
        return [_wrap(r) for r in recs]

    def write_sealed(self, row: Row, signature: bytes, old_name: str | None = None) -> int:
        """Put a re-sealed profile with its writer's signature; returns its id."""
        if old_name is not None and old_name != row.name:
            self.rename(old_name, row)
        else:
            self.put(row)
        pid = int(self._one(f"SELECT id FROM {SCHEMA}.profiles WHERE name = %s", (row.name,)))
        self._conn.execute(
            f"UPDATE {SCHEMA}.profiles SET signer = current_user, signature = %s WHERE id = %s",
            (signature, pid),
        )
        return pid

    def replace_wraps(self, pid: int, wraps: list[Wrap]) -> None:
        """Every wrap of profile ``pid`` becomes ``wraps`` (old ones are removed)."""
        self._conn.execute(f"DELETE FROM {SCHEMA}.wraps WHERE profile_id = %s", (pid,))
        if wraps:
            self._conn.cursor().executemany(
                f"INSERT INTO {SCHEMA}.wraps (profile_id, role, fingerprint, key_id, wrap, "
                "signature) VALUES (%s, %s, %s, %s, %s, %s)",
                [(pid, w.role, w.fingerprint, w.key_id, w.wrap, w.signature) for w in wraps],
            )

    def legacy_names(self) -> list[str]:
        """Visible profiles still sealed under the old shared master key."""
        recs = self._conn.execute(
            f'SELECT name FROM {SCHEMA}.profiles WHERE signer IS NULL ORDER BY name COLLATE "C"'
        ).fetchall()
        return [str(r[0]) for r in recs]

    def drop_master_key(self) -> None:
        self._conn.execute(f"DELETE FROM {SCHEMA}.store_meta WHERE key IN ('key_id', 'verifier')")

    def _one(self, sql: str, args: tuple) -> Any:
        rec = self._conn.execute(sql.encode(), args).fetchone()
        assert rec is not None
        return rec[0]


def _prefixed(alias: str, columns: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


#: A profile and the caller's wrap of its data key, read in one statement (one snapshot):
#: two statements could straddle a commit and pair a row with another version's wrap.
_SEALED = (
    f"SELECT {_prefixed('p', COLUMNS)}, p.id, p.signer, p.signature, "
    f"{_prefixed('w', _WRAP_COLUMNS)} FROM {SCHEMA}.profiles p "
    f"LEFT JOIN {SCHEMA}.wraps w ON w.profile_id = p.id AND w.role = current_user "
    "WHERE p.name = %s"
)


def sealed(conn: psycopg.Connection, name: str) -> Sealed | None:
    rec = conn.execute(_SEALED, (name,)).fetchone()
    if rec is None:
        return None
    pid, signer, signature, mine = rec[6], rec[7], rec[8], rec[9:]
    return Sealed(
        row_from_record(rec[:6]),
        int(pid),
        str(signer) if signer is not None else None,
        bytes(signature) if signature is not None else None,
        _wrap(mine) if mine[0] is not None else None,
    )


class MemberKeyStore(PostgresStore):
    """A team store whose profiles are sealed with per-profile data keys."""

    MIGRATIONS = POSTGRES_MEMBER_KEYS
    member_keys = True
    SIGNS_ACCESS = True

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._vault: Vault | None = None
        self._role: str | None = None
        self._superuser: bool | None = None

    def _outdated(self, version: int, needed: int) -> StoreError:
        if version < PG_MEMBER_KEYS:
            return StoreError(
                f"The team store at {self.location} is still on the shared master key "
                f"(schema version {version}); this zingy-nb uses member keys (version "
                f"{needed}). The database's owner runs `zingy-nb store upgrade`, then a "
                "member of zingy_nb_admin who holds the old master key runs it too, to "
                "convert its profiles (docs/teams.md, Migration)."
            )
        return super()._outdated(version, needed)

    def attach(self, vault: Vault) -> None:
        """The vault that re-seals on grant and revoke (``Profiles`` attaches one)."""
        self._vault = vault

    # -- the store record: a store id, and the master key record until converted ----------
    RECORD_KEYS = ("store_id",)
    RECORD_NAME = "store record"

    def create(self, info: StoreInfo) -> None:
        with self._write() as conn:
            if conn.execute(f"SELECT 1 FROM {SCHEMA}.store_meta").fetchone():
                return
            conn.execute(
                f"INSERT INTO {SCHEMA}.store_meta (key, value) VALUES ('store_id', %s)",
                (info.store_id.encode(),),
            )

    @contextmanager
    def member_transaction(self) -> Iterator[MemberTxn]:
        with self._write() as conn:
            yield MemberTxn(conn, self.signer, self.SIGNS_ACCESS)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A profile write (save, update, rename, delete): never a superuser's (see
        ``MemberKeyVault.refuse_superuser``), refused before it starts."""
        if self.superuser():
            raise TeamRoleError.superuser(self.role(), MEMBER_ROLE)
        with self.member_transaction() as txn:
            yield txn

    # -- members ------------------------------------------------------------------------
    def role(self) -> str:
        """The database role this store connects as (the member's own role)."""
        if self._role is None:
            self._role = str(self._run(lambda c: one(c, "SELECT current_user"), default=""))
        return self._role

    def superuser(self) -> bool:
        """Whether the role this store connects as is a PostgreSQL superuser (asked once)."""
        if self._superuser is None:
            found = self._run(lambda c: one(c, _IS_SUPERUSER), default=None)
            if found is None:
                return False  # no schema yet: nothing to protect; asked again once there is
            self._superuser = bool(found)
        return self._superuser

    def legacy_count(self) -> int:
        """Profiles still sealed under the old master key, across the whole store (what
        tells a stale master-key record from one with profiles to convert)."""
        return int(self._run(lambda c: one(c, f"SELECT {SCHEMA}.legacy_profiles()"), default=0))

    def members(self) -> builtins.list[MemberRecord]:
        def read(conn: psycopg.Connection) -> builtins.list[MemberRecord]:
            recs = conn.execute(
                "SELECT role, enc_key, sig_key, fingerprint, self_signature, joined, "
                f"{SCHEMA}.role_in(role, %s) FROM {SCHEMA}.members "
                'ORDER BY role COLLATE "C"',
                (ADMIN_ROLE,),
            ).fetchall()
            found = []
            for role, enc, sig, fp, self_sig, joined, admin in recs:
                try:
                    public = MemberPublicKey(bytes(enc), bytes(sig))
                except ValueError:
                    continue  # malformed: never trusted, shown by `team members` as absent
                found.append(
                    MemberRecord(str(role), public, fp, bytes(self_sig), utc(joined), bool(admin))
                )
            return found

        return self._run(read, default=[])

    def endorsements(self) -> builtins.list[Endorsement]:
        def read(conn: psycopg.Connection) -> builtins.list[Endorsement]:
            recs = conn.execute(
                f"SELECT role, fingerprint, endorsed_by, signature FROM {SCHEMA}.endorsements"
            ).fetchall()
            return [Endorsement(str(r), fp, str(b), bytes(s)) for r, fp, b, s in recs]

        return self._run(read, default=[])

    def is_admin(self, role: str) -> bool:
        return bool(
            self._run(
                lambda c: one(c, f"SELECT {SCHEMA}.role_in(%s, %s)", (role, ADMIN_ROLE)),
                default=False,
            )
        )

    def publish(self, public: MemberPublicKey, self_signature: bytes) -> None:
        """Publish (or replace) the caller's own member key."""
        with self._write() as conn:
            conn.execute(
                f"INSERT INTO {SCHEMA}.members (enc_key, sig_key, fingerprint, self_signature) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (role) DO UPDATE SET "
                "enc_key = excluded.enc_key, sig_key = excluded.sig_key, "
                "fingerprint = excluded.fingerprint, self_signature = excluded.self_signature, "
                "joined = now()",
                (public.enc, public.sig, public.fingerprint, self_signature),
            )

    def endorse(self, role: str, fingerprint: str, signature: bytes) -> None:
        with self._write() as conn:
            conn.execute(
                f"INSERT INTO {SCHEMA}.endorsements (role, fingerprint, signature) "
                "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (role, fingerprint, signature),
            )

    def sealed(self, name: str) -> Sealed | None:
        return self._run(lambda conn: sealed(conn, name), default=None)

    def names(self) -> builtins.list[str]:
        return [m.name for m in self.list()]

    # -- grants carry keys ----------------------------------------------------------------
    def _vault_or_error(self) -> Vault:
        if self._vault is None:
            raise StoreError(
                "Grants on a member-key team store wrap keys: use Profiles.grant/revoke "
                "(or `zingy-nb profiles grant`), not the store directly."
            )
        return self._vault

    def grant(self, name: str, role: str, level: str) -> None:
        self._vault_or_error().grant(name, role, level)

    def revoke(self, name: str, role: str) -> bool:
        return self._vault_or_error().revoke(name, role)

    def grant_rows(self, name: str, role: str, level: str) -> None:
        """Only the grant row (the vault wraps in the same transaction)."""
        PostgresStore.grant(self, name, role, level)

    def revoke_rows(self, name: str, role: str) -> bool:
        return PostgresStore.revoke(self, name, role)
