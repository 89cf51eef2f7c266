"""Notebook allowances and the ``notebook-access`` setting in the team store.

A mixin of ``PostgresStore``. Allowances are per profile, database role and notebook
path; the policies (``migrations._PG_V2``) let a role read and write its own and a
manager of the profile see and remove all. Moves and deletions that the Jupyter server
reports concern the caller's own allowances only. The store-wide setting is changed by
members of ``zingy_nb_admin`` only: one member must not turn the check off for all.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from ..errors import InvalidProfileError, ProfileAccessError, ProfileNotFoundError
from .base import ACCESS_ASK, ACCESS_SETTINGS, Allowance, NotebookCheck, utcnow
from .migrations import ADMIN_ROLE, SCHEMA
from .postgres_transaction import insert_allowance, one, utc

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")
SETTING_KEY = "notebook_access"
_TABLE = f"{SCHEMA}.notebook_access"


def _inside(path: str) -> dict[str, object]:
    prefix = path.rstrip(os.sep) + os.sep
    return {"old": path, "rest": len(path) + 1, "n": len(prefix), "prefix": prefix}


class PgNotebooks:
    """The notebook-access part of ``PostgresStore``."""

    location: str

    if TYPE_CHECKING:

        def _run(self, fn: Callable[[psycopg.Connection], T], *, default: T) -> T: ...

        def _write(self) -> AbstractContextManager[psycopg.Connection]: ...

    def notebook_check(self, name: str, notebook: str, started: datetime) -> NotebookCheck:
        def read(conn: psycopg.Connection) -> NotebookCheck:
            rec = conn.execute(
                f"SELECT coalesce((SELECT value FROM {SCHEMA}.settings WHERE key = %(key)s), "
                f"%(ask)s), EXISTS (SELECT 1 FROM {SCHEMA}.profiles WHERE name = %(name)s), "
                f"EXISTS (SELECT 1 FROM {_TABLE} a JOIN {SCHEMA}.profiles p "
                "ON p.id = a.profile_id WHERE p.name = %(name)s AND a.role = current_user "
                "AND (a.notebook = %(nb)s OR (a.moved_from = %(nb)s AND a.moved > %(t)s)))",
                {"key": SETTING_KEY, "ask": ACCESS_ASK, "name": name, "nb": notebook,
                 "t": started},
            ).fetchone()  # fmt: skip
            assert rec is not None
            return NotebookCheck(str(rec[0]), bool(rec[1]), bool(rec[2]))

        return self._run(read, default=NotebookCheck(ACCESS_ASK, False, False))

    def access_setting(self) -> str:
        def read(conn: psycopg.Connection) -> str:
            rec = conn.execute(
                f"SELECT value FROM {SCHEMA}.settings WHERE key = %s", (SETTING_KEY,)
            ).fetchone()
            return str(rec[0]) if rec else ACCESS_ASK

        return self._run(read, default=ACCESS_ASK)

    def set_access_setting(self, value: str) -> None:
        if value not in ACCESS_SETTINGS:
            raise InvalidProfileError(f"notebook-access is {' or '.join(ACCESS_SETTINGS)}.")
        with self._write() as conn:
            if not one(conn, "SELECT pg_has_role(current_user, %s, 'MEMBER')", (ADMIN_ROLE,)):
                raise ProfileAccessError(
                    "The notebook-access setting of a team store applies to every member, "
                    f"so only a member of {ADMIN_ROLE} may change it. Nothing was changed."
                )
            conn.execute(
                f"INSERT INTO {SCHEMA}.settings (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (SETTING_KEY, value),
            )

    def allowances(self, name: str | None = None) -> builtins.list[Allowance]:
        def read(conn: psycopg.Connection) -> builtins.list[Allowance]:
            sql = (
                "SELECT p.name, a.notebook, a.how, a.created, a.role FROM "
                f"{_TABLE} a JOIN {SCHEMA}.profiles p ON p.id = a.profile_id"
            )
            args: tuple[str, ...] = ()
            if name is not None:
                sql, args = sql + " WHERE p.name = %s", (name,)
            order = ' ORDER BY p.name COLLATE "C", a.role COLLATE "C", a.notebook COLLATE "C"'
            return [
                Allowance(str(p), str(nb), str(how), utc(created), str(role))
                for p, nb, how, created, role in conn.execute(sql + order, args).fetchall()
            ]

        return self._run(read, default=[])

    def allow(self, name: str, notebook: str, how: str) -> bool:
        with self._write() as conn:
            if (
                conn.execute(f"SELECT 1 FROM {SCHEMA}.profiles WHERE name = %s", (name,)).fetchone()
                is None
            ):
                raise ProfileNotFoundError.for_name(name)
            return insert_allowance(conn, name, notebook, how)

    def disallow(self, name: str, notebook: str, role: str | None = None) -> bool:
        with self._write() as conn:
            deleted = conn.execute(
                f"DELETE FROM {_TABLE} a USING {SCHEMA}.profiles p WHERE p.id = a.profile_id "
                "AND p.name = %s AND a.notebook = %s AND a.role = coalesce(%s, current_user)",
                (name, notebook, role),
            ).rowcount
            if not deleted and role is not None:
                visible = conn.execute(
                    f"SELECT 1 FROM {SCHEMA}.profiles WHERE name = %s "
                    f"AND {SCHEMA}.level(id, current_user) >= 3",
                    (name,),
                ).fetchone()
                if visible is None:
                    raise ProfileAccessError(
                        f"Removing another role's allowance on {name!r} needs manage access "
                        "to the profile. Nothing was changed."
                    )
            return deleted > 0

    def move_notebooks(self, old: str, new: str) -> int:
        # This machine's clock, like the kernels' that compare with it (not the server's).
        args = {**_inside(old), "new": new, "now": utcnow()}
        with self._write() as conn:
            # An allowance already at the destination gives way to the one moving there.
            conn.execute(
                f"DELETE FROM {_TABLE} d USING {_TABLE} s WHERE s.role = current_user "
                "AND d.role = current_user AND d.profile_id = s.profile_id "
                "AND (s.notebook = %(old)s OR left(s.notebook, %(n)s) = %(prefix)s) "
                "AND d.notebook = %(new)s || substr(s.notebook, %(rest)s)",
                args,
            )
            return int(
                conn.execute(
                    f"UPDATE {_TABLE} SET notebook = %(new)s || substr(notebook, %(rest)s), "
                    "moved_from = coalesce(moved_from, notebook), moved = %(now)s "
                    "WHERE role = current_user "
                    "AND (notebook = %(old)s OR left(notebook, %(n)s) = %(prefix)s)",
                    args,
                ).rowcount
            )

    def forget_notebooks(self, path: str) -> int:
        with self._write() as conn:
            return int(
                conn.execute(
                    f"DELETE FROM {_TABLE} WHERE role = current_user "
                    "AND (notebook = %(old)s OR left(notebook, %(n)s) = %(prefix)s)",
                    _inside(path),
                ).rowcount
            )
