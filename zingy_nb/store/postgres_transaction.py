"""One transaction on the team store: rows in and out, under row-level security.

``PostgresStore`` (in ``postgres``) owns the connection and hands this out; the helpers
here turn database records into ``Row`` objects and access refusals into errors.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

from ..errors import ProfileAccessError, ProfileNotFoundError, StoreError
from .base import AccessSigner, Row, Transaction, allowance_fields
from .migrations import ADMIN_ROLE, SCHEMA

if TYPE_CHECKING:
    from collections.abc import Iterator

    import psycopg

COLUMNS: Final = "name, slots, created, updated, key_id, blob"


def psycopg_module() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            "A postgresql:// store needs the psycopg driver: install zingy-nb's wheel with its "
            "postgres extra (pip install 'dist/zingy_nb-<version>-py3-none-any.whl[postgres]', "
            "docs/teams.md, 'Install on the hub'), or pip install 'psycopg[binary]>=3.1'."
        ) from None
    return psycopg


def utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


def row_from_record(rec: tuple) -> Row:
    return Row.from_record(rec, utc)


def one(conn: psycopg.Connection, sql: str, args: tuple = ()) -> Any:
    """The first column of a query that always returns one row."""
    rec = conn.execute(sql.encode(), args).fetchone()
    assert rec is not None
    return rec[0]


def refused(name: str, what: str, needed: str) -> ProfileAccessError:
    return ProfileAccessError(
        f"You may see profile {name!r} but not {what} it: that needs {needed} access. "
        f"Ask its owner (or a member of {ADMIN_ROLE}) for a grant: "
        f"`zingy-nb profiles grant {name} YOUR_ROLE {needed}`."
    )


def insert_allowance(
    conn: psycopg.Connection,
    name: str,
    notebook: str,
    how: str,
    signer: AccessSigner | None,
    signed: bool = True,
) -> bool:
    """The caller's allowance of ``notebook`` on ``name``, signed (with ``signed``: the
    schema keeps MACs); False if a valid one was there. A row in its place whose MAC
    does not verify is replaced."""
    rec = conn.execute(f"SELECT id FROM {SCHEMA}.profiles WHERE name = %s", (name,)).fetchone()
    if rec is None:
        return False
    pid = str(rec[0])
    if not signed:
        return (
            conn.execute(
                f"INSERT INTO {SCHEMA}.notebook_access (profile_id, notebook, how) "
                "VALUES (%s, %s, %s) ON CONFLICT (profile_id, role, notebook) DO NOTHING",
                (rec[0], notebook, how),
            ).rowcount
            > 0
        )
    found = conn.execute(
        f"SELECT moved_from, moved, mac FROM {SCHEMA}.notebook_access WHERE profile_id = %s "
        "AND role = current_user AND notebook = %s",
        (rec[0], notebook),
    ).fetchone()
    if found is not None and signer is not None and found[2] is not None:
        fields = allowance_fields(pid, notebook, found[0], found[1])
        if signer.access_verifies(fields, bytes(found[2])):
            return False
    mac = None if signer is None else signer.access_mac(allowance_fields(pid, notebook, None, None))
    conn.execute(
        f"DELETE FROM {SCHEMA}.notebook_access WHERE profile_id = %s AND role = current_user "
        "AND notebook = %s",
        (rec[0], notebook),
    )
    conn.execute(
        f"INSERT INTO {SCHEMA}.notebook_access (profile_id, notebook, how, mac) "
        "VALUES (%s, %s, %s, %s)",
        (rec[0], notebook, how, mac),
    )
    return True


class PgTransaction(Transaction):
    def __init__(self, conn: psycopg.Connection, signer: AccessSigner | None = None) -> None:
        self._conn = conn
        self._signer = signer
        #: Whether the schema keeps MACs (a member-key store; not the legacy schema).
        self.signs_access = False

    def _visible(self, name: str) -> bool:
        return (
            self._conn.execute(
                f"SELECT 1 FROM {SCHEMA}.profiles WHERE name = %s", (name,)
            ).fetchone()
            is not None
        )

    def get(self, name: str) -> Row | None:
        rec = self._conn.execute(
            f"SELECT {COLUMNS} FROM {SCHEMA}.profiles WHERE name = %s", (name,)
        ).fetchone()
        return row_from_record(rec) if rec else None

    def rows(self) -> Iterator[Row]:
        recs = self._conn.execute(
            f'SELECT {COLUMNS} FROM {SCHEMA}.profiles ORDER BY name COLLATE "C"'
        ).fetchall()
        return (row_from_record(rec) for rec in recs)

    def _values(self, row: Row) -> tuple:
        return (row.slots_mask, row.created, row.updated, row.key_id, row.blob)

    def _insert(self, row: Row) -> None:
        psycopg = psycopg_module()
        try:
            with self._conn.transaction():  # a savepoint: the error must not abort ours
                self._conn.execute(
                    f"INSERT INTO {SCHEMA}.profiles (slots, created, updated, key_id, blob, "
                    "name) VALUES (%s, %s, %s, %s, %s, %s)",
                    (*self._values(row), row.name),
                )
        except psycopg.errors.UniqueViolation:
            raise ProfileAccessError(
                f"The name {row.name!r} is taken by a profile you have no access to "
                "(names are shared by the whole team store). Choose another name, or ask "
                "its owner for a grant."
            ) from None

    def put(self, row: Row) -> None:
        updated = self._conn.execute(
            f"UPDATE {SCHEMA}.profiles SET slots = %s, created = %s, updated = %s, "
            "key_id = %s, blob = %s WHERE name = %s",
            (*self._values(row), row.name),
        ).rowcount
        if updated:
            return
        if self._visible(row.name):
            raise refused(row.name, "change", "write")
        self._insert(row)

    def rename(self, old_name: str, row: Row) -> None:
        psycopg = psycopg_module()
        try:
            with self._conn.transaction():
                renamed = self._conn.execute(
                    f"UPDATE {SCHEMA}.profiles SET slots = %s, created = %s, updated = %s, "
                    "key_id = %s, blob = %s, name = %s WHERE name = %s",
                    (*self._values(row), row.name, old_name),
                ).rowcount
        except psycopg.errors.UniqueViolation:
            raise ProfileAccessError(
                f"The name {row.name!r} is taken by a profile you have no access to "
                "(names are shared by the whole team store). Choose another name."
            ) from None
        if not renamed:
            if self._visible(old_name):
                raise refused(old_name, "rename", "write")
            raise ProfileNotFoundError.for_name(old_name)

    def delete(self, name: str) -> bool:
        deleted = self._conn.execute(
            f"DELETE FROM {SCHEMA}.profiles WHERE name = %s", (name,)
        ).rowcount
        if not deleted and self._visible(name):
            raise refused(name, "delete", "write")
        return deleted > 0

    def allow_notebook(self, name: str, notebook: str, how: str) -> None:
        insert_allowance(self._conn, name, notebook, how, self._signer, self.signs_access)

    def key_id(self) -> str:
        rec = self._conn.execute(
            f"SELECT value FROM {SCHEMA}.store_meta WHERE key = 'key_id'"
        ).fetchone()
        return bytes(rec[0]).decode() if rec else ""

    def set_key(self, key_id: str, verifier: bytes) -> None:
        admin = one(self._conn, "SELECT pg_has_role(current_user, %s, 'MEMBER')", (ADMIN_ROLE,))
        left = one(self._conn, f"SELECT {SCHEMA}.rows_not_under(%s)", (key_id,))
        if not admin or left:
            raise ProfileAccessError(
                "Changing a team store's key re-encrypts every profile, so only a member "
                f"of {ADMIN_ROLE} may do it ({left} profile(s) are not under the new key). "
                "Nothing was changed."
            )
        for key, value in (("key_id", key_id.encode()), ("verifier", verifier)):
            self._conn.execute(
                f"UPDATE {SCHEMA}.store_meta SET value = %s WHERE key = %s", (value, key)
            )
