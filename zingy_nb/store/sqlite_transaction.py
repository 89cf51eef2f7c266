"""One write transaction on the embedded store: rows in and out.

``SQLiteStore`` (in ``sqlite``) owns the connection and the transaction's boundaries;
this turns records into ``Row`` objects and keeps a profile's notebook allowances with
it when it is renamed or deleted (schema 3 and later; signed from 4).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime

from . import sqlite_notebooks
from .base import AccessSigner, Mac, Row, Transaction

COLUMNS = "name, slots, created, updated, key_id, blob"


def row_from_record(record: tuple) -> Row:
    return Row.from_record(record, datetime.fromisoformat)


class SQLiteTransaction(Transaction):
    def __init__(self, conn: sqlite3.Connection, signer: AccessSigner | None = None) -> None:
        self._conn = conn
        self._signer = signer
        self._notebooks: bool | None = None

    def _keeps_allowances(self) -> bool:
        if self._notebooks is None:
            self._notebooks = sqlite_notebooks.keeps_allowances(self._conn)
        return self._notebooks

    def get(self, name: str) -> Row | None:
        rec = self._conn.execute(
            f"SELECT {COLUMNS} FROM profiles WHERE name = ?", (name,)
        ).fetchone()
        return row_from_record(rec) if rec else None

    def rows(self) -> Iterator[Row]:
        cur = self._conn.execute(f"SELECT {COLUMNS} FROM profiles ORDER BY name")
        return (row_from_record(rec) for rec in cur.fetchall())

    def put(self, row: Row) -> None:
        self._conn.execute(
            f"INSERT OR REPLACE INTO profiles ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (
                row.name,
                row.slots_mask,
                row.created.isoformat(),
                row.updated.isoformat(),
                row.key_id,
                row.blob,
            ),
        )

    def _delete_row(self, name: str) -> bool:
        return self._conn.execute("DELETE FROM profiles WHERE name = ?", (name,)).rowcount > 0

    def delete(self, name: str) -> bool:
        if not self._delete_row(name):
            return False
        if self._keeps_allowances():
            sqlite_notebooks.forget_profile(self._conn, name)
        return True

    def rename(self, old_name: str, row: Row) -> None:
        self.put(row)
        self._delete_row(old_name)
        if self._keeps_allowances():
            sqlite_notebooks.rename_profile(self._conn, old_name, row.name, self._signer)

    def allow_notebook(self, name: str, notebook: str, how: str) -> None:
        if sqlite_notebooks.signs_access(self._conn):
            sqlite_notebooks.insert(self._conn, name, notebook, how, self._signer)

    def resign_access(self, old: Mac, new: Mac) -> None:
        sqlite_notebooks.resign_all(self._conn, old, new)

    def key_id(self) -> str:
        rec = self._conn.execute("SELECT value FROM store_meta WHERE key = 'key_id'").fetchone()
        return str(rec[0]) if rec else ""

    def set_key(self, key_id: str, verifier: bytes) -> None:
        self._conn.executemany(
            "INSERT OR REPLACE INTO store_meta (key, value) VALUES (?, ?)",
            [("key_id", key_id), ("verifier", verifier)],
        )
