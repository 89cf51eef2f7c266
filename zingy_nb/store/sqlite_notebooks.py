"""Notebook allowances and the ``notebook-access`` setting in the embedded store.

A mixin of ``SQLiteStore`` (schema version 3 and later; an older store keeps none and
checks nothing until ``zingy-nb store upgrade``). Notebooks are real paths; a folder
moved or deleted through Jupyter carries or drops the allowances of everything in it.
"""

from __future__ import annotations

import builtins
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from ..errors import InvalidProfileError, ProfileNotFoundError, StoreError
from .base import ACCESS_ASK, ACCESS_OFF, ACCESS_SETTINGS, Allowance, NotebookCheck, utcnow
from .migrations import SQLITE_NOTEBOOKS

T = TypeVar("T")
SETTING_KEY = "notebook_access"


def stamp(when: datetime) -> str:
    """A UTC time as text that sorts in time order (fixed width, microseconds)."""
    return when.isoformat(timespec="microseconds")


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def keeps_allowances(conn: sqlite3.Connection) -> bool:
    return _version(conn) >= SQLITE_NOTEBOOKS


def _inside(path: str) -> tuple[str, int, str]:
    """``path``, and what every path inside it as a folder starts with (and its length)."""
    prefix = path.rstrip(os.sep) + os.sep
    return path, len(prefix), prefix


def insert(conn: sqlite3.Connection, name: str, notebook: str, how: str) -> bool:
    """One allowance, in the caller's transaction; False if it was there already."""
    return (
        conn.execute(
            "INSERT INTO notebook_access (profile, notebook, how, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (profile, notebook) DO NOTHING",
            (name, notebook, how, stamp(utcnow())),
        ).rowcount
        > 0
    )


def rename_profile(conn: sqlite3.Connection, old: str, new: str) -> None:
    conn.execute("UPDATE OR REPLACE notebook_access SET profile = ? WHERE profile = ?", (new, old))


def forget_profile(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("DELETE FROM notebook_access WHERE profile = ?", (name,))


class SQLiteNotebooks:
    """The notebook-access part of ``SQLiteStore``."""

    location: str

    if TYPE_CHECKING:

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

    def notebook_check(self, name: str, notebook: str, started: datetime) -> NotebookCheck:
        def read(conn: sqlite3.Connection) -> NotebookCheck:
            if not keeps_allowances(conn):
                return NotebookCheck(ACCESS_OFF, True, True)
            setting, exists, allowed = conn.execute(
                "SELECT coalesce((SELECT value FROM store_meta WHERE key = ?), ?), "
                "EXISTS (SELECT 1 FROM profiles WHERE name = ?), "
                "EXISTS (SELECT 1 FROM notebook_access WHERE profile = ? AND (notebook = ? "
                "OR (moved_from = ? AND moved > ?)))",
                (SETTING_KEY, ACCESS_ASK, name, name, notebook, notebook, stamp(started)),
            ).fetchone()
            return NotebookCheck(str(setting), bool(exists), bool(allowed))

        return self._run(read, default=NotebookCheck(ACCESS_ASK, False, False))

    def access_setting(self) -> str:
        def read(conn: sqlite3.Connection) -> str:
            if not keeps_allowances(conn):
                return ACCESS_OFF
            rec = conn.execute("SELECT value FROM store_meta WHERE key = ?", (SETTING_KEY,))
            found = rec.fetchone()
            return str(found[0]) if found else ACCESS_ASK

        return self._run(read, default=ACCESS_ASK)

    def set_access_setting(self, value: str) -> None:
        if value not in ACCESS_SETTINGS:
            raise InvalidProfileError(f"notebook-access is {' or '.join(ACCESS_SETTINGS)}.")
        with self._allowances_writable() as conn:
            if conn is None:
                raise StoreError(f"There is no store at {self.location} yet: save a profile first.")
            conn.execute(
                "INSERT OR REPLACE INTO store_meta (key, value) VALUES (?, ?)", (SETTING_KEY, value)
            )

    def allowances(self, name: str | None = None) -> builtins.list[Allowance]:
        def read(conn: sqlite3.Connection) -> builtins.list[Allowance]:
            if not keeps_allowances(conn):
                return []
            sql = "SELECT profile, notebook, how, created FROM notebook_access"
            args: tuple[str, ...] = ()
            if name is not None:
                sql, args = sql + " WHERE profile = ?", (name,)
            return [
                Allowance(p, nb, how, datetime.fromisoformat(created))
                for p, nb, how, created in conn.execute(sql + " ORDER BY profile, notebook", args)
            ]

        return self._run(read, default=[])

    def allow(self, name: str, notebook: str, how: str) -> bool:
        with self._allowances_writable() as conn:
            if (
                conn is None
                or not conn.execute("SELECT 1 FROM profiles WHERE name = ?", (name,)).fetchone()
            ):
                raise ProfileNotFoundError.for_name(name)
            return insert(conn, name, notebook, how)

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
            return int(
                conn.execute(
                    "UPDATE OR REPLACE notebook_access SET notebook = ? || substr(notebook, ?), "
                    "moved_from = coalesce(moved_from, notebook), moved = ? "
                    "WHERE notebook = ? OR substr(notebook, 1, ?) = ?",
                    (new, len(path) + 1, stamp(utcnow()), path, n, prefix),
                ).rowcount
            )

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
