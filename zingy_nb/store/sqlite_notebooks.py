"""Notebook allowances and the ``notebook-access`` setting in the embedded store.

A mixin of ``SQLiteStore``. Notebooks are real paths; a folder moved or deleted through
Jupyter carries or drops the allowances of everything in it. From schema version 4 each
allowance and the setting carry a MAC (``Store.signer``, the vault's); a row whose MAC
does not verify, written straight into the file, is ignored. A store below version 4
holds nothing signed: every notebook is asked, and allowing one needs ``zingy-nb store
upgrade`` (a version set back by hand gets no further).
"""

from __future__ import annotations

import builtins
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import InvalidProfileError, ProfileNotFoundError, StoreError
from .base import (
    ACCESS_ASK,
    ACCESS_SETTINGS,
    AccessSigner,
    Allowance,
    Mac,
    NotebookCheck,
    allowance_fields,
    setting_fields,
    utcnow,
)
from .migrations import SQLITE_NOTEBOOKS, SQLITE_SIGNED

T = TypeVar("T")
SETTING_KEY = "notebook_access"


def stamp(when: datetime) -> str:
    """A UTC time as text that sorts in time order (fixed width, microseconds)."""
    return when.isoformat(timespec="microseconds")


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def keeps_allowances(conn: sqlite3.Connection) -> bool:
    return _version(conn) >= SQLITE_NOTEBOOKS


def signs_access(conn: sqlite3.Connection) -> bool:
    return _version(conn) >= SQLITE_SIGNED


def _mac(signer: AccessSigner | None, fields: tuple[str, ...]) -> bytes | None:
    return None if signer is None else signer.access_mac(fields)


def _inside(path: str) -> tuple[str, int, str]:
    """``path``, and what every path inside it as a folder starts with (and its length)."""
    prefix = path.rstrip(os.sep) + os.sep
    return path, len(prefix), prefix


def _require_signed(conn: sqlite3.Connection, location: str) -> None:
    if not signs_access(conn):
        raise StoreError(
            f"The store at {location} is at an older schema whose allowances are not "
            "signed: run `zingy-nb store upgrade` first. Nothing was changed."
        )


def insert(
    conn: sqlite3.Connection, name: str, notebook: str, how: str, signer: AccessSigner | None
) -> bool:
    """One signed allowance, in the caller's transaction; False if a valid one was there
    already (an unsigned or forged row in its place is replaced)."""
    mac = _mac(signer, allowance_fields(name, notebook, None, None))
    found = conn.execute(
        "SELECT moved_from, moved, mac FROM notebook_access WHERE profile = ? AND notebook = ?",
        (name, notebook),
    ).fetchone()
    if found is not None and signer is not None and found[2] is not None:
        if signer.access_verifies(allowance_fields(name, notebook, found[0], found[1]), found[2]):
            return False
    conn.execute(
        "INSERT OR REPLACE INTO notebook_access (profile, notebook, how, created, mac) "
        "VALUES (?, ?, ?, ?, ?)",
        (name, notebook, how, stamp(utcnow()), mac),
    )
    return True


def _resign(
    conn: sqlite3.Connection, where: str, args: tuple[object, ...], old: Mac | None, new: Mac
) -> None:
    """Sign again (profile, notebook, moved_from, moved) of the rows ``where`` selects,
    whose MAC ``old`` verifies (every row if ``old`` is None: the caller just wrote them)."""
    rows = conn.execute(
        f"SELECT rowid, profile, notebook, moved_from, moved, mac FROM notebook_access {where}",
        args,
    ).fetchall()
    for rowid, profile, notebook, moved_from, moved, mac in rows:
        fields = allowance_fields(profile, notebook, moved_from, moved)
        if old is not None and (mac is None or bytes(mac) != old(fields)):
            continue
        conn.execute("UPDATE notebook_access SET mac = ? WHERE rowid = ?", (new(fields), rowid))


def rename_profile(
    conn: sqlite3.Connection, old: str, new: str, signer: AccessSigner | None
) -> None:
    """The profile's allowances follow it; those that verified are signed for the new name."""
    valid: set[str] = set()
    if signs_access(conn) and signer is not None:
        rows = conn.execute(
            "SELECT notebook, moved_from, moved, mac FROM notebook_access WHERE profile = ?",
            (old,),
        ).fetchall()
        valid = {
            nb
            for nb, moved_from, moved, mac in rows
            if signer.access_verifies(allowance_fields(old, nb, moved_from, moved), mac)
        }
    conn.execute("UPDATE OR REPLACE notebook_access SET profile = ? WHERE profile = ?", (new, old))
    if not signs_access(conn):
        return
    conn.execute("UPDATE notebook_access SET mac = NULL WHERE profile = ?", (new,))
    if signer is not None and valid:
        marks = ", ".join("?" * len(valid))
        _resign(
            conn, f"WHERE profile = ? AND notebook IN ({marks})", (new, *valid), None,
            signer.access_mac,
        )  # fmt: skip


def resign_all(conn: sqlite3.Connection, old: Mac, new: Mac) -> None:
    """After a key rotation: what verified under ``old`` is signed with ``new``."""
    if not signs_access(conn):
        return
    _resign(conn, "", (), old, new)
    found = conn.execute(
        "SELECT value, mac FROM store_meta WHERE key = ?", (SETTING_KEY,)
    ).fetchone()
    if found is not None and found[1] is not None:
        fields = setting_fields(str(found[0]))
        valid = bytes(found[1]) == old(fields)
        conn.execute(
            "UPDATE store_meta SET mac = ? WHERE key = ?",
            (new(fields) if valid else None, SETTING_KEY),
        )


def forget_profile(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("DELETE FROM notebook_access WHERE profile = ?", (name,))


class SQLiteNotebooks:
    """The notebook-access part of ``SQLiteStore``."""

    location: str
    signer: AccessSigner | None

    if TYPE_CHECKING:

        def _signed(self, fields: Sequence[str], mac: Any) -> bool: ...

        def _setting_counts(self, value: str, tag: Any) -> str: ...

        def _run(self, fn: Callable[[sqlite3.Connection], T], *, default: T) -> T: ...

        def _writing(self) -> AbstractContextManager[sqlite3.Connection | None]: ...

    @contextmanager
    def _allowances_writable(self) -> Iterator[sqlite3.Connection | None]:
        """A write transaction on a store that keeps allowances; None when there is no
        store yet. An older schema is an error that says how to upgrade."""
        with self._writing() as conn:
            if conn is not None and not keeps_allowances(conn):
                raise StoreError(
                    f"The store at {self.location} is at an older schema that keeps no "
                    "notebook allowances: run `zingy-nb store upgrade` first."
                )
            yield conn

    def _setting_row(self, conn: sqlite3.Connection) -> tuple[str, bytes | None] | None:
        if not signs_access(conn):
            return None
        return conn.execute(
            "SELECT value, mac FROM store_meta WHERE key = ?", (SETTING_KEY,)
        ).fetchone()

    def _setting(self, found: tuple[str, bytes | None] | None) -> str:
        """The setting as it counts: an ``off`` whose MAC does not verify reads ``ask``."""
        return ACCESS_ASK if found is None else self._setting_counts(str(found[0]), found[1])

    def notebook_check(self, name: str, notebook: str, started: datetime) -> NotebookCheck:
        def read(conn: sqlite3.Connection) -> tuple[bool, list, tuple | None]:
            exists = conn.execute("SELECT 1 FROM profiles WHERE name = ?", (name,)).fetchone()
            if not signs_access(conn):  # nothing is signed (or set back by hand): ask
                return exists is not None, [], None
            rows = conn.execute(
                "SELECT notebook, moved_from, moved, mac FROM notebook_access WHERE profile = ? "
                "AND (notebook = ? OR (moved_from = ? AND moved > ?))",
                (name, notebook, notebook, stamp(started)),
            ).fetchall()
            return exists is not None, rows, self._setting_row(conn)

        nothing: tuple[bool, list, tuple | None] = (False, [], None)
        exists, rows, setting = self._run(read, default=nothing)
        allowed = any(
            self._signed(allowance_fields(name, nb, moved_from, moved), mac)
            for nb, moved_from, moved, mac in rows
        )
        return NotebookCheck(self._setting(setting), exists, allowed)

    def access_setting(self) -> str:
        return self._setting(self._run(self._setting_row, default=None))

    def set_access_setting(self, value: str) -> None:
        if value not in ACCESS_SETTINGS:
            raise InvalidProfileError(f"notebook-access is {' or '.join(ACCESS_SETTINGS)}.")
        with self._allowances_writable() as conn:
            if conn is None:
                raise StoreError(f"There is no store at {self.location} yet: save a profile first.")
            _require_signed(conn, self.location)
            signer = self.signer
            tag = None if signer is None else signer.setting_tag(setting_fields(value))
            conn.execute(
                "INSERT OR REPLACE INTO store_meta (key, value, mac) VALUES (?, ?, ?)",
                (SETTING_KEY, value, tag),
            )

    def allowances(self, name: str | None = None) -> builtins.list[Allowance]:
        def read(conn: sqlite3.Connection) -> builtins.list[tuple]:
            if not keeps_allowances(conn):
                return []
            mac = "mac" if signs_access(conn) else "NULL"
            sql = (
                f"SELECT profile, notebook, how, created, moved_from, moved, {mac} "
                "FROM notebook_access"
            )
            args: tuple[str, ...] = ()
            if name is not None:
                sql, args = sql + " WHERE profile = ?", (name,)
            return conn.execute(sql + " ORDER BY profile, notebook", args).fetchall()

        return [
            Allowance(
                p,
                nb,
                how,
                datetime.fromisoformat(created),
                None,
                self._signed(allowance_fields(p, nb, moved_from, moved), tag),
            )
            for p, nb, how, created, moved_from, moved, tag in self._run(
                read, default=list[tuple]()
            )
        ]

    def allow(self, name: str, notebook: str, how: str) -> bool:
        with self._allowances_writable() as conn:
            if (
                conn is None
                or not conn.execute("SELECT 1 FROM profiles WHERE name = ?", (name,)).fetchone()
            ):
                raise ProfileNotFoundError.for_name(name)
            _require_signed(conn, self.location)
            return insert(conn, name, notebook, how, self.signer)

    def disallow(self, name: str, notebook: str, role: str | None = None) -> bool:
        with self._allowances_writable() as conn:
            if conn is None:
                return False
            return (
                conn.execute(
                    "DELETE FROM notebook_access WHERE profile = ? AND notebook = ?",
                    (name, notebook),
                ).rowcount
                > 0
            )

    def move_notebooks(self, old: str, new: str) -> int:
        with self._writing() as conn:
            if conn is None or not keeps_allowances(conn):
                return 0
            path, n, prefix = _inside(old)
            where = "WHERE notebook = ? OR substr(notebook, 1, ?) = ?"
            signer = self.signer if signs_access(conn) else None
            valid: list[int] = []  # only what verified before the move is signed after it
            if signer is not None:
                for rowid, p, nb, moved_from, moved, mac in conn.execute(
                    "SELECT rowid, profile, notebook, moved_from, moved, mac "
                    f"FROM notebook_access {where}",
                    (path, n, prefix),
                ).fetchall():
                    if self._signed(allowance_fields(p, nb, moved_from, moved), mac):
                        valid.append(rowid)
            count = int(
                conn.execute(
                    "UPDATE OR REPLACE notebook_access SET notebook = ? || substr(notebook, ?), "
                    "moved_from = coalesce(moved_from, notebook), moved = ? " + where,
                    (new, len(path) + 1, stamp(utcnow()), path, n, prefix),
                ).rowcount
            )
            if signer is not None and valid:
                marks = ", ".join("?" * len(valid))
                _resign(conn, f"WHERE rowid IN ({marks})", tuple(valid), None, signer.access_mac)
            return count

    def forget_notebooks(self, path: str) -> int:
        with self._writing() as conn:
            if conn is None or not keeps_allowances(conn):
                return 0
            exact, n, prefix = _inside(path)
            return int(
                conn.execute(
                    "DELETE FROM notebook_access WHERE notebook = ? OR substr(notebook, 1, ?) = ?",
                    (exact, n, prefix),
                ).rowcount
            )
