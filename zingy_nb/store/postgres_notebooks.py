"""Notebook allowances and the ``notebook-access`` setting in the team store.

A mixin of ``PostgresStore``. Allowances are per profile, database role and notebook
path; the policies (``migrations._PG_V2``) let a role read and write its own and a
manager of the profile see and remove all. Moves and deletions that the Jupyter server
reports concern the caller's own allowances only. The store-wide setting is changed by
members of ``zingy_nb_admin`` only: one member must not turn the check off for all.

On a member-key store (``SIGNS_ACCESS``) each allowance carries a MAC made with its
member's own key, over the profile's row id (stable across renames), the notebook and
where and when it moved from; the setting carries the signature of the admin who set it
(``MemberKeyVault.setting_tag``). A row that does not verify is ignored.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import InvalidProfileError, ProfileAccessError, ProfileNotFoundError
from .base import (
    ACCESS_ASK,
    ACCESS_SETTINGS,
    AccessSigner,
    Allowance,
    NotebookCheck,
    allowance_fields,
    setting_fields,
    utcnow,
)
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
    signer: AccessSigner | None
    #: Whether the schema keeps MACs: the member-key schema does, the legacy one not.
    SIGNS_ACCESS: bool = False

    if TYPE_CHECKING:

        def _run(self, fn: Callable[[psycopg.Connection], T], *, default: T) -> T: ...

        def _write(self) -> AbstractContextManager[psycopg.Connection]: ...

        def _signed(self, fields: Sequence[str], mac: Any) -> bool: ...

        def _setting_counts(self, value: str, tag: Any) -> str: ...

    def _setting_row(self, conn: psycopg.Connection) -> tuple | None:
        mac = "mac" if self.SIGNS_ACCESS else "NULL"
        return conn.execute(
            f"SELECT value, {mac} FROM {SCHEMA}.settings WHERE key = %s", (SETTING_KEY,)
        ).fetchone()

    def _setting(self, found: tuple | None) -> str:
        return ACCESS_ASK if found is None else self._setting_counts(str(found[0]), found[1])

    def notebook_check(self, name: str, notebook: str, started: datetime) -> NotebookCheck:
        mac = "a.mac" if self.SIGNS_ACCESS else "NULL"

        def read(conn: psycopg.Connection) -> tuple[bool, list, tuple | None]:
            exists = conn.execute(
                f"SELECT 1 FROM {SCHEMA}.profiles WHERE name = %s", (name,)
            ).fetchone()
            rows = conn.execute(
                f"SELECT a.profile_id, a.notebook, a.moved_from, a.moved, {mac} FROM {_TABLE} a "
                f"JOIN {SCHEMA}.profiles p ON p.id = a.profile_id WHERE p.name = %(name)s "
                "AND a.role = current_user "
                "AND (a.notebook = %(nb)s OR (a.moved_from = %(nb)s AND a.moved > %(t)s))",
                {"name": name, "nb": notebook, "t": started},
            ).fetchall()
            return exists is not None, rows, self._setting_row(conn)

        nothing: tuple[bool, list, tuple | None] = (False, [], None)
        exists, rows, setting = self._run(read, default=nothing)
        allowed = any(
            self._signed(allowance_fields(str(pid), nb, moved_from, moved), tag)
            for pid, nb, moved_from, moved, tag in rows
        )
        return NotebookCheck(self._setting(setting), exists, allowed)

    def access_setting(self) -> str:
        return self._setting(self._run(self._setting_row, default=None))

    def set_access_setting(self, value: str) -> None:
        if value not in ACCESS_SETTINGS:
            raise InvalidProfileError(f"notebook-access is {' or '.join(ACCESS_SETTINGS)}.")
        admin = self._run(
            lambda conn: one(conn, "SELECT pg_has_role(current_user, %s, 'MEMBER')", (ADMIN_ROLE,)),
            default=False,
        )
        if not admin:
            raise ProfileAccessError(
                "The notebook-access setting of a team store applies to every member, "
                f"so only a member of {ADMIN_ROLE} may change it. Nothing was changed."
            )
        signer = self.signer if self.SIGNS_ACCESS else None
        tag = None if signer is None else signer.setting_tag(setting_fields(value))
        with self._write() as conn:
            if self.SIGNS_ACCESS:
                conn.execute(
                    f"INSERT INTO {SCHEMA}.settings (key, value, mac) VALUES (%s, %s, %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, mac = excluded.mac",
                    (SETTING_KEY, value, tag),
                )
            else:
                conn.execute(
                    f"INSERT INTO {SCHEMA}.settings (key, value) VALUES (%s, %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (SETTING_KEY, value),
                )

    def allowances(self, name: str | None = None) -> builtins.list[Allowance]:
        mac = "a.mac" if self.SIGNS_ACCESS else "NULL"

        def read(conn: psycopg.Connection) -> builtins.list[tuple]:
            sql = (
                "SELECT p.name, a.notebook, a.how, a.created, a.role, a.profile_id, "
                f"a.moved_from, a.moved, {mac}, a.role = current_user FROM "
                f"{_TABLE} a JOIN {SCHEMA}.profiles p ON p.id = a.profile_id"
            )
            args: tuple[str, ...] = ()
            if name is not None:
                sql, args = sql + " WHERE p.name = %s", (name,)
            order = ' ORDER BY p.name COLLATE "C", a.role COLLATE "C", a.notebook COLLATE "C"'
            return conn.execute(sql + order, args).fetchall()

        # Another member's allowance is signed with their key: only they can check it.
        return [
            Allowance(
                str(p),
                str(nb),
                str(how),
                utc(created),
                str(role),
                not mine
                or self._signed(allowance_fields(str(pid), str(nb), moved_from, moved), tag),
            )
            for p, nb, how, created, role, pid, moved_from, moved, tag, mine in self._run(
                read, default=list[tuple[Any, ...]]()
            )
        ]

    def allow(self, name: str, notebook: str, how: str) -> bool:
        with self._write() as conn:
            if (
                conn.execute(f"SELECT 1 FROM {SCHEMA}.profiles WHERE name = %s", (name,)).fetchone()
                is None
            ):
                raise ProfileNotFoundError.for_name(name)
            return insert_allowance(conn, name, notebook, how, self.signer, self.SIGNS_ACCESS)

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
        mine = "role = current_user AND (notebook = %(old)s OR left(notebook, %(n)s) = %(prefix)s)"
        signer = self.signer if self.SIGNS_ACCESS else None
        valid: set[tuple[int, str]] = set()  # (profile id, notebook after the move)
        if signer is not None:  # only what verified before the move is signed after it
            rows = self._run(
                lambda conn: conn.execute(
                    f"SELECT profile_id, notebook, moved_from, moved, mac FROM {_TABLE} "
                    f"WHERE {mine}",
                    args,
                ).fetchall(),
                default=list[tuple[Any, ...]](),
            )
            valid = {
                (pid, new + nb[len(old) :])
                for pid, nb, moved_from, moved, tag in rows
                if self._signed(allowance_fields(str(pid), nb, moved_from, moved), tag)
            }
        with self._write() as conn:
            # An allowance already at the destination gives way to the one moving there.
            conn.execute(
                f"DELETE FROM {_TABLE} d USING {_TABLE} s WHERE s.role = current_user "
                "AND d.role = current_user AND d.profile_id = s.profile_id "
                "AND (s.notebook = %(old)s OR left(s.notebook, %(n)s) = %(prefix)s) "
                "AND d.notebook = %(new)s || substr(s.notebook, %(rest)s)",
                args,
            )
            moved = conn.execute(
                f"UPDATE {_TABLE} SET notebook = %(new)s || substr(notebook, %(rest)s), "
                f"moved_from = coalesce(moved_from, notebook), moved = %(now)s WHERE {mine} "
                "RETURNING profile_id, notebook, moved_from, moved",
                args,
            ).fetchall()
            if self.SIGNS_ACCESS:
                for pid, nb, moved_from, when in moved:
                    tag = None
                    if signer is not None and (pid, nb) in valid:
                        tag = signer.access_mac(allowance_fields(str(pid), nb, moved_from, when))
                    conn.execute(
                        f"UPDATE {_TABLE} SET mac = %s WHERE profile_id = %s "
                        "AND role = current_user AND notebook = %s",
                        (tag, pid, nb),
                    )
            return len(moved)

    def forget_notebooks(self, path: str) -> int:
        with self._write() as conn:
            return int(
                conn.execute(
                    f"DELETE FROM {_TABLE} WHERE role = current_user "
                    "AND (notebook = %(old)s OR left(notebook, %(n)s) = %(prefix)s)",
                    _inside(path),
                ).rowcount
            )
