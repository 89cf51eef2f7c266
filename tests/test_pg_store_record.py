"""The team store's record (``store_meta``) under row-level security (issue 20, item 7).

A member may create the store id (the first save does) and nothing else: before schema
version 4 any member could insert any row, and a stray ``key_id`` made ``zingy-nb store
upgrade`` look for profiles to convert under a master key that never existed. Real
PostgreSQL (tests/postgres.py), hand-written SQL as each role, and the real command.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests import postgres
from tests.postgres import PgServer
from zingy_nb import profiles as profiles_module
from zingy_nb.paths import HOME_ENV, MEMBER_KEY_ENV
from zingy_nb.store import migrations
from zingy_nb.store.base import StoreInfo
from zingy_nb.store.migrations_members import POSTGRES_MEMBER_KEYS
from zingy_nb.store.postgres_members import MemberKeyStore

pg_server = postgres.pg_server
team_db = postgres.team_db

META = "SELECT key FROM zingy_nb.store_meta ORDER BY key"
STRAY = [
    "INSERT INTO zingy_nb.store_meta (key, value) VALUES ('key_id', '\\x6b6b')",
    "INSERT INTO zingy_nb.store_meta (key, value) VALUES ('verifier', '\\x00')",
    "INSERT INTO zingy_nb.store_meta (key, value) VALUES ('anything', '\\x00')",
]


@pytest.fixture
def cli(
    pg_server: PgServer,
    team_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """``zingy-nb`` as any role on ``team_db`` (a fresh store at this code's schema)."""
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    monkeypatch.delenv(MEMBER_KEY_ENV, raising=False)
    monkeypatch.delenv("ZINGY_NB_MASTER_KEY", raising=False)
    yield postgres.cli_as(lambda role: pg_server.url(role, team_db), monkeypatch, capsys)
    profiles_module._instances.clear()


def refused_for(server: PgServer, db: str, role: str, statement: str) -> bool:
    """Whether ``role`` running ``statement`` is refused or changes no row."""
    with psycopg.connect(server.url(role, db), autocommit=True) as conn:
        try:
            return conn.execute(statement).rowcount == 0
        except psycopg.errors.InsufficientPrivilege:
            return True


def assert_not_misled(code: int, out: str, err: str) -> None:
    assert code == 0, err
    assert "master key" not in out + err and "convert" not in (out + err).lower()


def test_a_member_cannot_plant_a_master_key_record(
    pg_server: PgServer, team_db: str, cli: Callable
) -> None:
    db = team_db
    assert cli("alice", "team", "join")[0] == 0  # creates the store id, as a member may
    record = pg_server.sql("SELECT key, value FROM zingy_nb.store_meta", db=db)
    assert [k for k, _ in record] == ["store_id"]
    for role in ("alice", "dana"):  # a plain member, and a zingy_nb_admin member
        for statement in [
            *STRAY,
            "UPDATE zingy_nb.store_meta SET value = '\\x00'",
            "DELETE FROM zingy_nb.store_meta WHERE key = 'store_id'",
        ]:
            assert refused_for(pg_server, db, role, statement), (role, statement)
    assert pg_server.sql("SELECT key, value FROM zingy_nb.store_meta", db=db) == record
    # `store upgrade` by the owner and by an admin: nothing to convert, nothing said.
    for role in ("team_admin", "dana"):
        code, out, err = cli(role, "store", "upgrade")
        assert_not_misled(code, out, err)
        assert f"already at version {migrations.latest(POSTGRES_MEMBER_KEYS)}" in err


class PreviousSchema(MemberKeyStore):
    """The member-key schema as the previous zingy-nb made it (version 3)."""

    MIGRATIONS = POSTGRES_MEMBER_KEYS[:3]


def test_the_upgrade_closes_the_record_and_drops_a_planted_row(
    pg_server: PgServer, team_db: str, cli: Callable
) -> None:
    """A store made by the previous zingy-nb, where a member planted a master-key
    record: the owner's upgrade removes it (no profile is under it) and closes the
    table; neither the owner's nor an admin's upgrade talks of converting anything."""
    db = team_db
    pg_server.sql("DROP SCHEMA zingy_nb CASCADE", db=db)  # made again as version 3 was
    owner = PreviousSchema(pg_server.url("team_admin", db))
    try:
        assert owner.upgrade() == (None, 3)
    finally:
        owner.close()
    previous = PreviousSchema(pg_server.url("alice", db))
    try:
        previous.create(StoreInfo(uuid.uuid4().hex, "", b""))  # alice's first save did
    finally:
        previous.close()
    with psycopg.connect(pg_server.url("alice", db), autocommit=True) as conn:
        conn.execute(STRAY[0])  # what any member could do at version 3
        conn.execute(STRAY[1])
    assert pg_server.sql(META, db=db) == [("key_id",), ("store_id",), ("verifier",)]

    code, out, err = cli("team_admin", "store", "upgrade")
    assert code == 0 and "from version 3 to 5" in err, err
    assert_not_misled(code, out, err)
    assert pg_server.sql(META, db=db) == [("store_id",)]  # no profile was under that "key"
    for statement in STRAY:
        assert refused_for(pg_server, db, "alice", statement), statement
    code, out, err = cli("dana", "store", "upgrade")
    assert_not_misled(code, out, err)
    assert cli("alice", "team", "join")[0] == 0
