"""The embedded store: one SQLite file shared by kernels, the server and the CLI.

SQLite provides what a hand-written file format would get wrong: transactions, locking
across processes (WAL with a busy timeout) and crash safety.
"""

from __future__ import annotations

import builtins
import contextlib
import getpass
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, TypeVar

from ..errors import StoreError
from ..rules import ProfileMeta
from . import migrations
from .base import AuditEntry, Row, Store, StoreInfo, Transaction, meta_from_record
from .sqlite_notebooks import SQLiteNotebooks
from .sqlite_transaction import SQLiteTransaction as _SQLiteTransaction

SCHEMA_VERSION: Final = migrations.latest(migrations.SQLITE)
APPLICATION_ID: Final = 0x5A4E4231  # "ZNB1": tells our files from other SQLite files
BUSY_TIMEOUT_MS: Final = 30_000
#: Audit retention: entries older than this, and beyond this many, are pruned.
AUDIT_MAX_AGE_DAYS: Final = 90
AUDIT_MAX_ENTRIES: Final = 10_000
#: The first schema versions whose audit log has a ``role``, and a ``via``, column.
_AUDIT_ROLE_VERSION: Final = 2
_AUDIT_VIA_VERSION: Final = migrations.SQLITE_NOTEBOOKS

T = TypeVar("T")


class SQLiteStore(SQLiteNotebooks, Store):
    """Profiles in ``<home>/profiles.db``; the file is created only on first write."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    # -- connection -------------------------------------------------------------------
    def _damaged(self, exc: sqlite3.Error) -> StoreError:
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            return StoreError(
                f"The store at {self.location} stayed locked by another process for "
                f"{BUSY_TIMEOUT_MS // 1000} s. Try again; if it persists, find the process "
                "holding it (a stuck kernel or server)."
            )
        return StoreError(
            f"The store at {self.location} cannot be read as a zingy-nb store "
            f"({exc}). It is left untouched: restore it from a backup, or move it away "
            "to start a new store."
        )

    def _open(self, *, create: bool) -> sqlite3.Connection | None:
        if self._conn is not None:
            return self._conn
        if not self.path.exists():
            if not create:
                return None
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
        try:
            conn = sqlite3.connect(
                f"file:{self.path}?mode=rw",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
        except sqlite3.Error as exc:
            raise self._damaged(exc) from None
        try:
            self._check_schema(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # One statement, so one consistent snapshot even while another process
            # is creating the store.
            app_id, version, tables = conn.execute(
                "SELECT a.application_id, v.user_version, "
                "(SELECT count(*) FROM sqlite_master) "
                "FROM pragma_application_id() AS a, pragma_user_version() AS v"
            ).fetchone()
        except sqlite3.Error as exc:
            raise self._damaged(exc) from None
        if app_id == 0 and version == 0 and tables == 0:
            return  # an empty file: ``create`` lays the schema down
        if app_id != APPLICATION_ID:
            raise StoreError(
                f"{self.location} is an SQLite database but not a zingy-nb store. It is "
                f"left untouched: point {'ZINGY_NB_HOME'} at another folder or move it away."
            )
        migrations.check_known(version, migrations.SQLITE, self.location)

    def _run(self, fn: Callable[[sqlite3.Connection], T], *, default: T) -> T:
        with self._lock:
            conn = self._open(create=False)
            if conn is None:
                return default
            try:
                return fn(conn)
            except sqlite3.Error as exc:
                raise self._damaged(exc) from None

    # -- Store ------------------------------------------------------------------------
    def info(self) -> StoreInfo | None:
        def read(conn: sqlite3.Connection) -> StoreInfo | None:
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                return None
            meta = dict(conn.execute("SELECT key, value FROM store_meta").fetchall())
            try:
                return StoreInfo(meta["store_id"], meta["key_id"], bytes(meta["verifier"]))
            except KeyError:
                raise StoreError(
                    f"The store at {self.location} has lost its key record. It is left "
                    "untouched: restore it from a backup."
                ) from None

        return self._run(read, default=None)

    @contextmanager
    def _immediate(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed at the end, rolled back on any error.

        A body may end it early with ROLLBACK; SQLite errors become ``StoreError``.
        """
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                if conn.in_transaction:
                    conn.execute("COMMIT")
                    # Into the file now, not at the last close: a long-lived agent holds
                    # its connection, and a copy of profiles.db alone must be whole.
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._damaged(exc) from None

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection | None]:
        """A write transaction on the store, or None when there is none yet."""
        with self._lock:
            conn = self._open(create=False)
            if conn is None:
                yield None
                return
            with self._immediate(conn):
                yield conn if conn.execute("PRAGMA user_version").fetchone()[0] else None

    @staticmethod
    def _lay_schema(conn: sqlite3.Connection, info: StoreInfo) -> None:
        for step in migrations.SQLITE:
            for statement in step.statements():
                conn.execute(statement)
        conn.executemany(
            "INSERT INTO store_meta (key, value) VALUES (?, ?)",
            [("store_id", info.store_id), ("key_id", info.key_id), ("verifier", info.verifier)],
        )
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _publish(self, info: StoreInfo) -> None:
        """Build the store in a private file, then link it into place, never replacing.

        No process ever sees a half-made store, and racing creators agree: the first
        link wins and the others open the winner's store.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".profiles-", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("BEGIN IMMEDIATE")
                self._lay_schema(conn, info)
                conn.execute("COMMIT")
            finally:
                conn.close()  # the last connection checkpoints the WAL into the file
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass
        finally:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp + suffix)

    def create(self, info: StoreInfo) -> None:
        with self._lock:
            if self._conn is None and not self.path.exists():
                try:
                    self._publish(info)
                except sqlite3.Error as exc:
                    raise self._damaged(exc) from None
                except OSError as exc:
                    raise StoreError(
                        f"Cannot create the store at {self.location}: {exc.strerror}. "
                        "Check that its folder is writable."
                    ) from None
                return
            # An existing empty file (left by an older version): fill it in place.
            conn = self._open(create=True)
            assert conn is not None
            try:
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.Error as exc:
                raise self._damaged(exc) from None
            with self._immediate(conn):
                if conn.execute("PRAGMA user_version").fetchone()[0] != 0:
                    conn.execute("ROLLBACK")
                    return  # another process created it first
                self._lay_schema(conn, info)

    def list(self) -> builtins.list[ProfileMeta]:
        def read(conn: sqlite3.Connection) -> builtins.list[ProfileMeta]:
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                return []
            recs = conn.execute(
                "SELECT name, slots, created, updated FROM profiles ORDER BY name"
            ).fetchall()
            when = datetime.fromisoformat
            return [meta_from_record(n, m, c, u, when) for n, m, c, u in recs]

        return self._run(read, default=[])

    def get(self, name: str) -> Row | None:
        def read(conn: sqlite3.Connection) -> Row | None:
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                return None
            return _SQLiteTransaction(conn).get(name)

        return self._run(read, default=None)

    def count(self) -> int:
        def read(conn: sqlite3.Connection) -> int:
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                return 0
            return conn.execute("SELECT count(*) FROM profiles").fetchone()[0]

        return self._run(read, default=0)

    def change_token(self) -> object:
        conn = self._conn
        with self._lock:
            if conn is None:
                conn = self._open(create=False)
                if conn is None:
                    return None  # no store yet: its appearance is the change to notice
            try:
                return conn.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error as exc:
                raise self._damaged(exc) from None

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._lock:
            conn = self._open(create=False)
            if conn is None:
                raise StoreError(f"The store at {self.location} does not exist yet.")
            with self._immediate(conn):
                yield _SQLiteTransaction(conn, self.signer)

    def audit_add(self, entries: builtins.list[AuditEntry]) -> None:
        if not entries:
            return
        with self._writing() as conn:
            if conn is None:
                return
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            extra = [
                c
                for c, since in (("role", _AUDIT_ROLE_VERSION), ("via", _AUDIT_VIA_VERSION))
                if version >= since
            ]
            who = _os_user()
            conn.executemany(
                "INSERT INTO audit (profile, flow, outcome, process, kernel_id, notebook, "
                "first, last, count" + "".join(f", {c}" for c in extra) + ") VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?" + ", ?" * len(extra) + ") "
                "ON CONFLICT (profile, flow, outcome, process) DO UPDATE SET "
                "count = count + excluded.count, last = max(last, excluded.last)",
                [
                    (e.profile, e.flow, e.outcome, e.process, e.kernel_id, e.notebook,
                     e.first.isoformat(), e.last.isoformat(), e.count,
                     *({"role": e.role or who, "via": e.via}[c] for c in extra))
                    for e in entries
                ],
            )  # fmt: skip
            oldest = (entries[0].last - timedelta(days=AUDIT_MAX_AGE_DAYS)).isoformat()
            conn.execute("DELETE FROM audit WHERE last < ?", (oldest,))
            conn.execute(
                "DELETE FROM audit WHERE id NOT IN "
                "(SELECT id FROM audit ORDER BY last DESC LIMIT ?)",
                (AUDIT_MAX_ENTRIES,),
            )

    def audit(self, profile: str | None = None) -> builtins.list[AuditEntry]:
        def read(conn: sqlite3.Connection) -> builtins.list[AuditEntry]:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                return []
            role = "role" if version >= _AUDIT_ROLE_VERSION else "NULL"
            via = "via" if version >= _AUDIT_VIA_VERSION else "NULL"
            sql = (
                "SELECT profile, flow, outcome, process, kernel_id, notebook, first, last, "
                f"count, {role}, {via} FROM audit"
            )
            args: tuple = ()
            if profile is not None:
                sql, args = sql + " WHERE profile = ?", (profile,)
            rows = conn.execute(sql + " ORDER BY last DESC, id DESC", args).fetchall()
            return [AuditEntry.from_record(r, datetime.fromisoformat) for r in rows]

        return self._run(read, default=[])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- schema -----------------------------------------------------------------------
    def schema_version(self) -> int | None:
        version = self._run(
            lambda conn: conn.execute("PRAGMA user_version").fetchone()[0], default=0
        )
        return version or None

    def upgrade(self) -> tuple[int | None, int]:
        """Apply the pending migrations in one transaction; a missing store stays missing
        (it is created at the latest version on its first write)."""
        with self._lock:
            conn = self._open(create=False)
            if conn is None:
                return None, SCHEMA_VERSION
            with self._immediate(conn):
                before = conn.execute("PRAGMA user_version").fetchone()[0]
                if before == 0:
                    conn.execute("ROLLBACK")
                    return None, SCHEMA_VERSION
                migrations.check_known(before, migrations.SQLITE, self.location)
                for step in migrations.pending(migrations.SQLITE, before):
                    for statement in step.statements():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return before, SCHEMA_VERSION


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a bare container)
        return None
