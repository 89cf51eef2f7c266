"""The team store: profiles in a shared PostgreSQL database, access enforced by it.

Rows are what ``Profiles`` hands any store: names and metadata in clear, the four
values as one blob sealed by zingy-nb before it leaves the process, so the database
(and its DBA) never holds a value in clear nor the key. Each member connects as their
own database role; row-level security policies (forced, so they bind the tables'
owner too) decide which profiles a role sees and changes, from the profile's owner and
its grants (read < write < manage). See ``migrations`` for the schema and policies,
and ``docs/teams.md`` for the setup.

Writers serialise on one counter row, bumped by a trigger on every change, which also
notifies the store's change channel. While this process hears that channel
(``postgres_listen``), ``change_token()`` is local and a warm retrieval makes no query;
otherwise it reads the counter (one small query, never stale).

``PostgresStore`` holds the tables, policies and change tracking; on its own it is the
schema of zingy-nb before member keys (version 2, every value under one shared master
key), which only the tests still create, to prove the migration. Every team store a
process opens is its subclass ``MemberKeyStore`` (``postgres_members``).

psycopg 3 is imported only here, when a ``postgresql://`` URL is used.
"""

from __future__ import annotations

import builtins
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ..errors import (
    InvalidProfileError,
    ProfileAccessError,
    ProfileNotFoundError,
    StoreError,
    TeamRoleError,
    ZingyError,
)
from ..rules import ProfileMeta, validate_name
from . import migrations
from .base import (
    LEVELS,
    AuditEntry,
    Grant,
    Row,
    Store,
    StoreInfo,
    Transaction,
    meta_from_record,
)
from .migrations import ADMIN_ROLE, CHANGE_CHANNEL, MEMBER_ROLE, SCHEMA
from .postgres_listen import ChangeListener, wrote_here
from .postgres_notebooks import PgNotebooks
from .postgres_transaction import PgTransaction, one, psycopg_module, refused, utc
from .url_password import redact_url, scrub

if TYPE_CHECKING:
    import psycopg

SCHEMA_VERSION: Final = migrations.latest(migrations.POSTGRES)
CONNECT_TIMEOUT_S: Final = 10
AUDIT_MAX_AGE_DAYS: Final = 90
AUDIT_MAX_ENTRIES: Final = 100_000

T = TypeVar("T")


class PostgresStore(PgNotebooks, Store):
    """A team store at a ``postgresql://`` URL (the shared-key schema; see the module's
    note). One connection per instance, thread-safe."""

    #: The schema steps this store creates and expects (its latest version is required).
    MIGRATIONS: tuple[migrations.Migration, ...] = migrations.POSTGRES

    def __init__(self, url: str) -> None:
        self._url = url
        self.location = redact_url(url)
        self._conn: psycopg.Connection | None = None
        self._closer: weakref.finalize[Any, Any] | None = None
        self._version: int | None = None
        self._lock = threading.RLock()
        self._listener = ChangeListener(self)

    # -- connection -------------------------------------------------------------------
    def _error(self, exc: Exception) -> ZingyError:
        psycopg = psycopg_module()
        text = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else "", self._url)
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            outsider = self._outsider()
            if outsider is not None:
                return TeamRoleError.not_member(*outsider, self.location, text, MEMBER_ROLE)
            return ProfileAccessError(
                f"The team store at {self.location} refused this ({text}). The profile's "
                f"owner (or a member of {ADMIN_ROLE}) must grant you the access it needs."
            )
        if isinstance(exc, psycopg.OperationalError):
            self._drop()
            return StoreError(
                f"Cannot reach the team store at {self.location} ({text}). Check that the "
                "database server is up and that ZINGY_NB_STORE_URL is right."
            )
        return StoreError(f"The team store at {self.location} failed: {text}")

    def _outsider(self) -> tuple[str, str] | None:
        """(role, role as an SQL identifier) when the connected role is not in
        ``zingy_nb_member``, so a refusal can say what is missing; else None."""
        psycopg = psycopg_module()
        if self._conn is None or self._conn.closed:
            return None
        try:
            rec = self._conn.execute(
                "SELECT current_user, quote_ident(current_user), EXISTS (SELECT 1 FROM "
                "pg_catalog.pg_roles r WHERE r.rolname = %s AND "
                "pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER'))",
                (MEMBER_ROLE,),
            ).fetchone()
        except psycopg.Error:
            return None
        if rec is None or rec[2]:
            return None
        return str(rec[0]), str(rec[1])

    def _drop(self) -> None:
        self._listener.lost()
        conn, self._conn = self._conn, None
        if self._closer is not None:
            self._closer.detach()
            self._closer = None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def _connection(self) -> psycopg.Connection:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        psycopg = psycopg_module()
        try:
            self._conn = psycopg.connect(
                self._url,
                autocommit=True,
                application_name="zingy-nb",
                connect_timeout=CONNECT_TIMEOUT_S,
            )
        except psycopg.Error as exc:
            raise self._error(exc) from None
        # A store dropped without close() (a kernel's cache, a script) still hangs up.
        self._closer = weakref.finalize(self, self._conn.close)
        return self._conn

    def _stored_version(self, conn: psycopg.Connection) -> int | None:
        found = conn.execute(
            "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = 'schema_version'",
            (SCHEMA,),
        ).fetchone()
        if found is None:
            return None
        rec = conn.execute(f"SELECT max(version) FROM {SCHEMA}.schema_version").fetchone()
        return int(rec[0]) if rec and rec[0] is not None else None

    def _ready(self, conn: psycopg.Connection) -> bool:
        """True once the schema exists and is this code's version; raises otherwise."""
        if self._version is not None:
            return True
        version = self._stored_version(conn)
        if version is None:
            return False
        migrations.check_known(version, self.MIGRATIONS, self.location)
        needed = migrations.latest(self.MIGRATIONS)
        if version < needed:
            raise self._outdated(version, needed)
        self._version = version
        return True

    def _outdated(self, version: int, needed: int) -> StoreError:
        return StoreError(
            f"The team store at {self.location} has schema version {version}; this "
            f"zingy-nb needs {needed}. An admin runs `zingy-nb store upgrade` "
            "(every member's zingy-nb must then be at least this version)."
        )

    def _run(self, fn: Callable[[psycopg.Connection], T], *, default: T) -> T:
        psycopg = psycopg_module()
        with self._lock:
            conn = self._connection()
            try:
                if not self._ready(conn):
                    return default
                return fn(conn)
            except psycopg.Error as exc:
                raise self._error(exc) from None

    def _missing(self) -> StoreError:
        return StoreError(
            f"The team store at {self.location} has no zingy-nb schema yet: its admin "
            "creates it with `zingy-nb store upgrade` (see docs/teams.md)."
        )

    def require_schema(self) -> None:
        """Raise unless the schema exists at this code's version (no query once known)."""
        self._run(lambda conn: None, default=None)
        if self._version is None:
            raise self._missing()

    @contextmanager
    def _write(self) -> Iterator[psycopg.Connection]:
        """A transaction holding the store's change lock: writers run one at a time."""
        psycopg = psycopg_module()
        with self._lock:
            conn = self._connection()
            try:
                if not self._ready(conn):
                    raise self._missing()
                with conn.transaction():
                    conn.execute(f"SELECT counter FROM {SCHEMA}.changes WHERE id = 1 FOR UPDATE")
                    yield conn
                wrote_here()  # this process's readers see it now, not at its NOTIFY
            except psycopg.Error as exc:
                raise self._error(exc) from None

    def announce_change(self) -> None:
        """Have every listener check what it holds again, as a committed change does
        (``bump_changes``): after a member locks their key, their kernels drop the values
        they hold (the locked file's time is part of what they check)."""
        with self._write() as conn:
            conn.execute(
                f"UPDATE {SCHEMA}.changes SET counter = counter + 1, "
                "last_txid = txid_current() WHERE id = 1"
            )
            conn.execute("SELECT pg_notify(%s, '')", (CHANGE_CHANNEL,))

    # -- Store ------------------------------------------------------------------------
    #: The ``store_meta`` keys a record must hold, and what the record is called when one
    #: is missing (a member-key store keeps only its id).
    RECORD_KEYS: tuple[str, ...] = ("store_id", "key_id", "verifier")
    RECORD_NAME = "key record"

    def info(self) -> StoreInfo | None:
        def read(conn: psycopg.Connection) -> StoreInfo | None:
            meta = {
                k: bytes(v)
                for k, v in conn.execute(f"SELECT key, value FROM {SCHEMA}.store_meta").fetchall()
            }
            if not meta:
                return None
            if any(k not in meta for k in self.RECORD_KEYS):
                raise StoreError(
                    f"The team store at {self.location} has lost its {self.RECORD_NAME}. It "
                    "is left untouched: restore it from a backup."
                )
            return StoreInfo(
                meta["store_id"].decode(),
                meta.get("key_id", b"").decode(),
                meta.get("verifier", b""),
            )

        return self._run(read, default=None)

    def create(self, info: StoreInfo) -> None:
        with self._write() as conn:
            if conn.execute(f"SELECT 1 FROM {SCHEMA}.store_meta").fetchone():
                return  # another member created it first
            conn.cursor().executemany(
                f"INSERT INTO {SCHEMA}.store_meta (key, value) VALUES (%s, %s)",
                [
                    ("store_id", info.store_id.encode()),
                    ("key_id", info.key_id.encode()),
                    ("verifier", info.verifier),
                ],
            )

    def list(self) -> builtins.list[ProfileMeta]:
        def read(conn: psycopg.Connection) -> builtins.list[ProfileMeta]:
            recs = conn.execute(
                f"SELECT name, slots, created, updated FROM {SCHEMA}.profiles "
                'ORDER BY name COLLATE "C"'
            ).fetchall()
            return [meta_from_record(n, m, c, u, utc) for n, m, c, u in recs]

        return self._run(read, default=[])

    def get(self, name: str) -> Row | None:
        return self._run(lambda conn: PgTransaction(conn).get(name), default=None)

    def count(self) -> int:
        return int(
            self._run(lambda conn: one(conn, f"SELECT count(*) FROM {SCHEMA}.profiles"), default=0)
        )

    def change_token(self) -> object:
        if self._version is not None and (heard := self._listener.token()) is not None:
            return heard  # no query: see postgres_listen for the staleness bound
        return self._run(
            lambda conn: self._listener.counted(
                int(one(conn, f"SELECT counter FROM {SCHEMA}.changes WHERE id = 1"))
            ),
            default=None,
        )

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._write() as conn:
            yield PgTransaction(conn, self.signer)

    def audit_add(self, entries: builtins.list[AuditEntry]) -> None:
        if not entries:
            return

        def write(conn: psycopg.Connection) -> None:
            with conn.transaction():
                conn.cursor().executemany(
                    f"INSERT INTO {SCHEMA}.audit (profile, flow, outcome, process, kernel_id, "
                    "notebook, first, last, count, via) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (profile, flow, outcome, process, role) DO UPDATE SET "
                    "count = audit.count + excluded.count, "
                    "last = greatest(audit.last, excluded.last)",
                    [
                        (e.profile, e.flow, e.outcome, e.process, e.kernel_id, e.notebook,
                         e.first, e.last, e.count, e.via)
                        for e in entries
                    ],
                )  # fmt: skip
                conn.execute(
                    f"SELECT {SCHEMA}.audit_prune(%s, %s)",
                    (timedelta(days=AUDIT_MAX_AGE_DAYS), AUDIT_MAX_ENTRIES),
                )

        self._run(write, default=None)

    def audit(self, profile: str | None = None) -> builtins.list[AuditEntry]:
        def read(conn: psycopg.Connection) -> builtins.list[AuditEntry]:
            sql = (
                "SELECT profile, flow, outcome, process, kernel_id, notebook, first, last, "
                f"count, role, via FROM {SCHEMA}.audit"
            )
            args: tuple = ()
            if profile is not None:
                sql, args = sql + " WHERE profile = %s", (profile,)
            rows = conn.execute(sql + " ORDER BY last DESC, id DESC", args).fetchall()
            return [AuditEntry.from_record(r, utc) for r in rows]

        return self._run(read, default=[])

    def close(self) -> None:
        self._listener.stop()
        with self._lock:
            self._drop()

    # -- schema -----------------------------------------------------------------------
    def schema_version(self) -> int | None:
        psycopg = psycopg_module()
        with self._lock:
            try:
                return self._stored_version(self._connection())
            except psycopg.Error as exc:
                raise self._error(exc) from None

    def upgrade(self) -> tuple[int | None, int]:
        """Create or migrate the schema (run by the store's admin, who may create roles)."""
        psycopg = psycopg_module()
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext('zingy_nb upgrade'))")
                    before = self._stored_version(conn)
                    if before is not None:
                        migrations.check_known(before, self.MIGRATIONS, self.location)
                    for step in migrations.pending(self.MIGRATIONS, before or 0):
                        conn.execute(step.sql.encode())
                        conn.execute(
                            f"UPDATE {SCHEMA}.schema_version SET version = %s", (step.version,)
                        )
            except psycopg.errors.InsufficientPrivilege as exc:
                raise StoreError(
                    f"Your role cannot create the zingy-nb schema in {self.location} "
                    f"({scrub(str(exc).splitlines()[0], self._url)}). Run the upgrade as the "
                    "database's owner, with the CREATEROLE attribute (see docs/teams.md)."
                ) from None
            except psycopg.Error as exc:
                raise self._error(exc) from None
            self._version = None
            return before, migrations.latest(self.MIGRATIONS)

    # -- access control -----------------------------------------------------------------
    def _profile_level(self, conn: psycopg.Connection, name: str) -> tuple[int, int]:
        rec = conn.execute(
            f"SELECT id, {SCHEMA}.level(id, current_user) FROM {SCHEMA}.profiles WHERE name = %s",
            (validate_name(name),),
        ).fetchone()
        if rec is None:
            raise ProfileNotFoundError.for_name(name)
        return int(rec[0]), int(rec[1])

    def grant(self, name: str, role: str, level: str) -> None:
        if level not in LEVELS:
            raise InvalidProfileError(
                f"Unknown access level {level!r}: use one of {', '.join(LEVELS)}."
            )
        with self._write() as conn:
            if (
                conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
                is None
            ):
                raise InvalidProfileError(
                    f"There is no database role {role!r} in the team store's server: grant to "
                    "the role a member connects as (or to a group role they belong to)."
                )
            pid, mine = self._profile_level(conn, name)
            if mine < 3:
                raise refused(name, "grant access to", "manage")
            conn.execute(
                f"INSERT INTO {SCHEMA}.grants (profile_id, grantee, level) VALUES (%s, %s, %s) "
                "ON CONFLICT (profile_id, grantee) DO UPDATE SET level = excluded.level, "
                "granted_by = current_user, granted = now()",
                (pid, role, LEVELS.index(level) + 1),
            )

    def revoke(self, name: str, role: str) -> bool:
        with self._write() as conn:
            pid, mine = self._profile_level(conn, name)
            if mine < 3:
                raise refused(name, "revoke access to", "manage")
            return (
                conn.execute(
                    f"DELETE FROM {SCHEMA}.grants WHERE profile_id = %s AND grantee = %s",
                    (pid, role),
                ).rowcount
                > 0
            )

    def grants(self, name: str) -> builtins.list[Grant]:
        def read(conn: psycopg.Connection) -> builtins.list[Grant]:
            rec = conn.execute(
                f"SELECT id, owner FROM {SCHEMA}.profiles WHERE name = %s", (validate_name(name),)
            ).fetchone()
            if rec is None:
                raise ProfileNotFoundError.for_name(name)
            found = [Grant(name, str(rec[1]), "owner", str(rec[1]))]
            for grantee, level, by in conn.execute(
                f"SELECT grantee, level, granted_by FROM {SCHEMA}.grants WHERE profile_id = %s "
                'ORDER BY grantee COLLATE "C"',
                (rec[0],),
            ).fetchall():
                found.append(Grant(name, str(grantee), LEVELS[level - 1], str(by)))
            return found

        return self._run(read, default=None) or []
