"""Row-level security on the team store: every read / write / manage combination,
through the API and through hand-written SQL as that role.

``alice`` owns the profile; ``bob`` gets the level under test; ``carol`` gets nothing.
All three are plain members: neither superusers nor owners of any table, and the
policies are forced, so they bind the tables' owner too. Every member (and ``dana``, a
``zingy_nb_admin`` member) has joined, their member keys in files in one shared home;
there is no master key: each profile's data key is wrapped for whoever may read it.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests import postgres
from tests.postgres import PgServer
from zingy_nb.audit import audit_log
from zingy_nb.errors import KeyUnavailableError, ProfileAccessError, ProfileNotFoundError
from zingy_nb.paths import MEMBER_KEY_ENV
from zingy_nb.profiles import Profiles
from zingy_nb.vault.custody import ENV_VAR as KEY_ENV

pg_server = postgres.pg_server
LEVELS = [None, "read", "write", "manage"]
RANK = {None: 0, "read": 1, "write": 2, "manage": 3}


@pytest.fixture
def team(
    pg_server: PgServer, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[PgServer, str]]:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(MEMBER_KEY_ENV, raising=False)
    db = pg_server.new_database()
    pg_server.join(db, tmp_path / "home")  # alice, bob, carol, dana: keys in that home
    yield pg_server, db
    audit_log.flush()  # this test's retrievals, while the database is there
    pg_server.drop_database(db)


def member(server: PgServer, db: str, role: str, tmp_path) -> Profiles:
    return Profiles(tmp_path / "home", url=server.url(role, db))


def raw(server: PgServer, db: str, role: str) -> psycopg.Connection:
    return psycopg.connect(server.url(role, db), autocommit=True)


def test_members_are_neither_superusers_nor_owners_and_rls_is_forced(team) -> None:
    server, db = team
    roles = dict(server.sql("SELECT rolname, rolsuper OR rolbypassrls FROM pg_roles"))
    assert not any(roles[r] for r in ("alice", "bob", "carol", "dana", "team_admin"))
    tables = server.sql(
        "SELECT c.relname, pg_get_userbyid(c.relowner), c.relrowsecurity, "
        "c.relforcerowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'zingy_nb' AND c.relname IN ('profiles', 'grants', 'audit')",
        db=db,
    )
    assert sorted(tables) == [
        ("audit", "team_admin", True, True),
        ("grants", "team_admin", True, True),
        ("profiles", "team_admin", True, True),
    ]


@pytest.mark.parametrize("level", LEVELS)
def test_api_allows_exactly_what_the_grant_says(team, tmp_path, level: str | None) -> None:
    server, db = team
    alice = member(server, db, "alice", tmp_path)
    for name in ("svc", "doomed", "moved"):
        alice.set(name, f"{name}-MADEUP-value", "two")
    if level:
        for name in ("svc", "doomed", "moved"):
            alice.store.grant(name, "bob", level)
    bob, carol = member(server, db, "bob", tmp_path), member(server, db, "carol", tmp_path)
    rank = RANK[level]
    refused = ProfileAccessError if rank else ProfileNotFoundError

    # read: list, show, retrieve
    assert [m.name for m in bob.list()] == (["doomed", "moved", "svc"] if rank else [])
    if rank >= 1:
        assert bob.secrets("svc") == ("svc-MADEUP-value", "two", None, None)
        assert bob.show("svc").name == "svc"
    else:
        with pytest.raises(ProfileNotFoundError):
            bob.secrets("svc")
        with pytest.raises(ProfileNotFoundError):
            bob.show("svc")

    # write: update, rename, delete
    if rank >= 2:
        bob.update("svc", {"secret2": "bob-MADEUP"})
        bob.rename("moved", "moved2")
        bob.delete("doomed")
        assert alice.secrets("svc")[1] == "bob-MADEUP"
        assert [m.name for m in alice.list()] == ["moved2", "svc"]
        # a rename keeps the owner and the grants
        assert {(g.role, g.level) for g in alice.store.grants("moved2")} == {
            ("alice", "owner"),
            ("bob", level),
        }
    else:
        with pytest.raises(refused):
            bob.update("svc", {"secret2": "bob-MADEUP"})
        with pytest.raises(refused):
            bob.rename("moved", "moved2")
        with pytest.raises(refused):
            bob.delete("doomed")
        with pytest.raises(ProfileAccessError):  # a hidden name is still taken
            bob.set("svc", "overwrite-MADEUP")
        assert [m.name for m in alice.list()] == ["doomed", "moved", "svc"]
        assert alice.secrets("svc") == ("svc-MADEUP-value", "two", None, None)

    # manage: grant and revoke
    if rank >= 3:
        bob.store.grant("svc", "carol", "read")
        assert carol.secrets("svc")[0] == "svc-MADEUP-value"
        assert bob.store.revoke("svc", "carol")
        with pytest.raises(ProfileNotFoundError):
            carol.secrets("svc")
    else:
        with pytest.raises(refused):
            bob.store.grant("svc", "carol", "read")
        alice.store.grant("svc", "carol", "read")
        with pytest.raises(refused):
            bob.store.revoke("svc", "carol")
        assert carol.secrets("svc")[0] == "svc-MADEUP-value"

    # a role with no grant sees nothing at all
    outsider = member(server, db, "dana", tmp_path)  # dana is an admin: sees all
    assert "svc" in [m.name for m in outsider.list()]
    assert outsider.secrets("svc")[0] == "svc-MADEUP-value"  # and holds a wrap of each


@pytest.mark.parametrize("level", LEVELS)
def test_raw_sql_as_the_role_is_bound_by_the_policies(team, tmp_path, level: str | None) -> None:
    server, db = team
    alice = member(server, db, "alice", tmp_path)
    alice.set("svc", "svc-MADEUP-value")
    audit_log.retrieved(alice, "svc", "cloud-flow")
    if level:
        alice.store.grant("svc", "bob", level)
    alice.store.grant("svc", "carol", "read")
    rank = RANK[level]
    pid = server.sql("SELECT id FROM zingy_nb.profiles WHERE name = 'svc'", db=db)[0][0]

    with raw(server, db, "bob") as conn:
        seen = conn.execute("SELECT name, blob FROM zingy_nb.profiles").fetchall()
        assert [r[0] for r in seen] == (["svc"] if rank else [])
        # others' grants are visible to a manager only; one's own to any grantee
        grantees = {r[0] for r in conn.execute("SELECT grantee FROM zingy_nb.grants")}
        assert grantees == ({"bob", "carol"} if rank >= 3 else {"bob"} if rank else set())
        # the audit of a profile is visible to whoever may read it
        roles = {r[0] for r in conn.execute("SELECT role FROM zingy_nb.audit")}
        assert roles == ({"alice"} if rank else set())
        # so are its wraps (a data key wrapped for each reader: owner, admin, grantees)
        wrapped = {r[0] for r in conn.execute("SELECT role FROM zingy_nb.wraps")}
        assert wrapped == ({"alice", "bob", "carol", "dana"} if rank else set())
        # no probing of another role's access through the helper
        assert conn.execute("SELECT zingy_nb.level(%s, 'carol')", (pid,)).fetchone()[0] == 0

        for statement, needs in [
            ("UPDATE zingy_nb.profiles SET blob = '\\x00'::bytea WHERE name = 'svc'", 2),
            ("DELETE FROM zingy_nb.profiles WHERE name = 'svc'", 2),
            ("UPDATE zingy_nb.profiles SET name = 'renamed' WHERE name = 'svc'", 2),
            ("DELETE FROM zingy_nb.wraps WHERE role = 'carol'", 2),
        ]:
            with conn.transaction(force_rollback=True):
                count = conn.execute(statement).rowcount
            assert count == (1 if rank >= needs else 0), statement
        for statement, params in [
            ("INSERT INTO zingy_nb.grants (profile_id, grantee, level) VALUES (%s, 'dana', 1)", (pid,)),
            ("UPDATE zingy_nb.grants SET level = 3 WHERE profile_id = %s AND grantee = 'bob'", (pid,)),
            ("DELETE FROM zingy_nb.grants WHERE profile_id = %s AND grantee = 'carol'", (pid,)),
        ]:  # fmt: skip
            with conn.transaction(force_rollback=True):
                if rank >= 3:
                    assert conn.execute(statement, params).rowcount == 1
                elif statement.startswith("INSERT"):
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        conn.execute(statement, params)
                else:
                    assert conn.execute(statement, params).rowcount == 0
        # never: take ownership, create a profile in someone else's name, forge audit,
        # wrap in someone else's name or change a wrap, replace another member's key
        for statement in [
            "INSERT INTO zingy_nb.wraps (profile_id, role, fingerprint, key_id, wrap, "
            f"wrapped_by, signature) VALUES ({pid}, 'dana', 'f', 'k', '\\x00', 'alice', '\\x00')",
            "UPDATE zingy_nb.wraps SET wrap = '\\x00'",
            "UPDATE zingy_nb.members SET enc_key = '\\x00' WHERE role = 'alice'",
            "DELETE FROM zingy_nb.members WHERE role = 'alice'",
            "UPDATE zingy_nb.profiles SET owner = 'bob'",
            "INSERT INTO zingy_nb.profiles (name, owner, slots, created, updated, key_id, "
            "blob) VALUES ('forged', 'alice', 1, now(), now(), 'k', '\\x00')",
            "INSERT INTO zingy_nb.audit (profile, flow, outcome, process, role, first, last, "
            "count) VALUES ('svc', 'cloud-flow', 'retrieved', 'p', 'alice', now(), now(), 1)",
            "UPDATE zingy_nb.audit SET count = 0",
            "DELETE FROM zingy_nb.audit",
            "UPDATE zingy_nb.store_meta SET value = '\\x00'",
            "ALTER TABLE zingy_nb.profiles NO FORCE ROW LEVEL SECURITY",
        ]:
            with conn.transaction(force_rollback=True):
                try:
                    assert conn.execute(statement).rowcount == 0, statement
                except psycopg.errors.InsufficientPrivilege:
                    pass
    assert alice.secrets("svc") == ("svc-MADEUP-value", None, None, None)
    assert [(e.role, e.count) for e in alice.store.audit("svc")] == [("alice", 1)]
    assert member(server, db, "carol", tmp_path).secrets("svc")[0] == "svc-MADEUP-value"


def test_a_grant_to_a_group_role_reaches_its_members(team, tmp_path) -> None:
    server, db = team
    server.sql("DROP ROLE IF EXISTS analysts")
    server.sql("CREATE ROLE analysts NOLOGIN")
    try:
        server.sql("GRANT analysts TO carol")
        alice = member(server, db, "alice", tmp_path)
        alice.set("warehouse", "wh-MADEUP")
        alice.store.grant("warehouse", "analysts", "read")
        wrapped = server.sql("SELECT role FROM zingy_nb.wraps ORDER BY role", db=db)
        assert wrapped == [("alice",), ("carol",), ("dana",)]  # the group's one member
        assert member(server, db, "carol", tmp_path).secrets("warehouse")[0] == "wh-MADEUP"
        assert member(server, db, "bob", tmp_path).list() == []
    finally:
        server.sql("DROP OWNED BY analysts")
        server.sql("DROP ROLE analysts")
    # a grant naming a dropped role breaks nothing; it just matches no one
    assert [m.name for m in member(server, db, "alice", tmp_path).list()] == ["warehouse"]
    assert member(server, db, "carol", tmp_path).list() == []


def test_revoking_reaches_a_warm_cache(team, tmp_path) -> None:
    server, db = team
    alice = member(server, db, "alice", tmp_path)
    alice.set("svc", "svc-MADEUP")
    alice.store.grant("svc", "bob", "read")
    bob = member(server, db, "bob", tmp_path)
    assert bob.secrets("svc")[0] == "svc-MADEUP"
    alice.store.revoke("svc", "bob")
    with pytest.raises(ProfileNotFoundError):
        bob.secrets("svc")


def test_a_hidden_name_cannot_be_taken_over(team, tmp_path) -> None:
    server, db = team
    member(server, db, "alice", tmp_path).set("svc", "alice-MADEUP")
    bob = member(server, db, "bob", tmp_path)
    with pytest.raises(ProfileAccessError, match="taken by a profile you have no access to"):
        bob.set("svc", "bob-MADEUP")
    bob.set("mine", "bob-MADEUP")
    with pytest.raises(ProfileAccessError, match="taken"):
        bob.rename("mine", "svc")
    assert member(server, db, "alice", tmp_path).secrets("svc")[0] == "alice-MADEUP"


def test_there_is_no_store_key_to_change_only_data_keys(team, tmp_path) -> None:
    """No master key exists on a team store: the key commands are refused, for a member
    and an admin alike, naming the ``team`` commands; no member may rewrite the store
    record in SQL; what changes a profile's key is a revoke, which rotates it."""
    server, db = team
    alice = member(server, db, "alice", tmp_path)
    alice.set("svc", "svc-MADEUP")
    meta = "SELECT key, value FROM zingy_nb.store_meta ORDER BY key"
    stored = "SELECT key_id, blob FROM zingy_nb.profiles"
    record, before = server.sql(meta, db=db), server.sql(stored, db=db)
    assert [k for k, _ in record] == ["store_id"]  # no key id, no verifier
    for role in ("alice", "dana"):  # dana is a zingy_nb_admin member
        p = member(server, db, role, tmp_path)
        for call, args in [
            (p.key_status, ()),
            (p.rotate_key, ()),
            (p.export_key, ()),
            (p.import_key, ("x" * 43,)),
        ]:
            with pytest.raises(KeyUnavailableError, match=r"no master key.*`zingy-nb team join`"):
                call(*args)
    with raw(server, db, "alice") as conn:
        for statement in (
            "UPDATE zingy_nb.store_meta SET value = '\\x00' WHERE key = 'store_id'",
            "DELETE FROM zingy_nb.store_meta",
        ):
            with conn.transaction(force_rollback=True):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
    txn_refused = None
    try:
        with alice.store.transaction() as txn:
            txn.set_key("0" * 16, b"verifier")
    except ProfileAccessError as exc:
        txn_refused = str(exc)
    assert txn_refused and "zingy_nb_admin" in txn_refused
    assert server.sql(meta, db=db) == record and server.sql(stored, db=db) == before
    assert alice.secrets("svc")[0] == "svc-MADEUP"

    alice.store.grant("svc", "bob", "read")
    granted = server.sql(stored, db=db)
    assert granted[0][0] != before[0][0]  # a grant re-seals too, under a new data key
    assert member(server, db, "bob", tmp_path).secrets("svc")[0] == "svc-MADEUP"
    assert alice.store.revoke("svc", "bob")
    rotated = server.sql(stored, db=db)
    assert rotated[0][0] != granted[0][0] and rotated[0][1] != granted[0][1]
    wrapped = {r for (r,) in server.sql("SELECT role FROM zingy_nb.wraps", db=db)}
    assert wrapped == {"alice", "dana"}
    assert member(server, db, "dana", tmp_path).secrets("svc")[0] == "svc-MADEUP"
