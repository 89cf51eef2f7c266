"""Team-store plumbing: schema versions and upgrades (both backends), the CLI's grant
commands, where a team member's key lives (no master key: only the member's own 0600
key file, in a home without a keyring), and the URL's password never being shown."""

from __future__ import annotations

import gc
import json
import os
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from tests import agents, postgres
from tests.isolation import tree_bytes
from tests.postgres import PASSWORDS, PgServer
from zingy_nb.errors import (
    MemberKeyError,
    StoreError,
    UnsupportedStoreVersionError,
)
from zingy_nb.profiles import Profiles
from zingy_nb.store.url import open_store, redact_url
from zingy_nb.vault.crypto import encode_key, new_key
from zingy_nb.vault.member_custody import MemberKeyLocator

#: Agents the CLI starts on demand get a runtime folder of each test's, and stop with it.
own_agents = agents.own_agents
pytestmark = pytest.mark.usefixtures("own_agents")

pg_server = postgres.pg_server
team_db = postgres.team_db
CLI = str(Path(sys.executable).with_name("zingy-nb"))


def run(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], input=stdin, capture_output=True, text=True, timeout=60,
        env={**os.environ, **env},
    )  # fmt: skip


@pytest.fixture
def no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """A team store needs no ``ZINGY_NB_MASTER_KEY``; members' keys come from their homes."""
    monkeypatch.delenv("ZINGY_NB_MASTER_KEY", raising=False)
    monkeypatch.delenv("ZINGY_NB_MEMBER_KEY", raising=False)


# -- SQLite: version 1 keeps working; upgrade moves it to the latest ---------------------
def make_v1(home: Path) -> None:
    Profiles(home).set("svc", "svc-MADEUP", "two")
    conn = sqlite3.connect(home / "profiles.db", isolation_level=None)
    conn.execute("DROP TABLE notebook_access")
    conn.execute("ALTER TABLE audit DROP COLUMN via")
    conn.execute("ALTER TABLE audit DROP COLUMN role")
    conn.execute("ALTER TABLE store_meta DROP COLUMN mac")
    conn.execute("PRAGMA user_version = 1")
    conn.close()


def test_a_v1_sqlite_store_keeps_working_until_upgraded(zingy_home: Path) -> None:
    make_v1(zingy_home)
    p = Profiles(zingy_home)
    assert p.secrets("svc") == ("svc-MADEUP", "two", None, None)
    p.set("new", "new-MADEUP")
    from zingy_nb.audit import audit_log

    audit_log.retrieved(p, "svc", "cloud-flow")
    assert [e.role for e in p.store.audit()] == [None]
    p.store.close()
    assert "schema:       1" in run("store", "version", env={}).stdout
    result = run("store", "upgrade", env={})
    assert result.returncode == 0, result.stderr
    assert "from version 1 to 4" in result.stderr
    assert "already at version 4" in run("store", "upgrade", env={}).stderr
    p = Profiles(zingy_home)
    assert p.secrets("svc") == ("svc-MADEUP", "two", None, None)
    audit_log.refused(p, "svc", "page-flow")
    assert {e.outcome: e.role for e in p.store.audit()}["refused"]  # the OS user now


def test_a_newer_sqlite_store_is_refused_by_upgrade_too(zingy_home: Path) -> None:
    Profiles(zingy_home).set("svc", "svc-MADEUP")
    conn = sqlite3.connect(zingy_home / "profiles.db", isolation_level=None)
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    result = run("store", "upgrade", env={})
    assert result.returncode == 1 and "newer than this zingy-nb understands" in result.stderr
    conn = sqlite3.connect(zingy_home / "profiles.db", isolation_level=None)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 7
    assert [r[1] for r in conn.execute("PRAGMA table_info(audit)")][-1] == "via"
    conn.close()


# -- PostgreSQL: schema presence and versions --------------------------------------------
def test_a_database_without_the_schema_says_who_must_create_it(
    pg_server: PgServer, tmp_path: Path, no_env_keys: None
) -> None:
    pg_server.sql("CREATE DATABASE bare OWNER team_admin")
    p = Profiles(tmp_path, url=pg_server.url("team_admin", "bare"))
    assert p.list() == [] and p.store.info() is None and p.store.schema_version() is None
    with pytest.raises(StoreError, match="zingy-nb store upgrade"):
        p.set("svc", "svc-MADEUP")
    env = {"ZINGY_NB_STORE_URL": pg_server.url("team_admin", "bare")}
    result = run("store", "upgrade", env=env)
    assert result.returncode == 0, result.stderr
    assert "Created the zingy-nb schema (version 5, member keys)" in result.stderr
    assert "`zingy-nb team join`" in result.stderr  # what each member does next
    assert "already at version 5" in run("store", "upgrade", env=env).stderr
    assert pg_server.sql("SELECT version FROM zingy_nb.schema_version", db="bare") == [(5,)]


def test_a_member_cannot_create_the_schema(pg_server: PgServer, tmp_path: Path) -> None:
    pg_server.sql("CREATE DATABASE bare2 OWNER team_admin")
    pg_server.sql("GRANT CONNECT ON DATABASE bare2 TO alice")
    result = run("store", "upgrade", env={"ZINGY_NB_STORE_URL": pg_server.url("alice", "bare2")})
    assert result.returncode == 1 and "database's owner" in result.stderr
    assert PASSWORDS["alice"] not in result.stderr


def test_a_newer_team_store_is_refused(
    pg_server: PgServer, team_db: str, tmp_path: Path, no_env_keys: None
) -> None:
    db = team_db
    pg_server.join(db, tmp_path, ("alice",))
    Profiles(tmp_path, url=pg_server.url("alice", db)).set("svc", "svc-MADEUP")
    pg_server.sql("UPDATE zingy_nb.schema_version SET version = 99", db=db)
    with pytest.raises(UnsupportedStoreVersionError, match="newer than this zingy-nb"):
        Profiles(tmp_path, url=pg_server.url("alice", db)).list()
    result = run("store", "upgrade", env={"ZINGY_NB_STORE_URL": pg_server.url("team_admin", db)})
    assert result.returncode == 1 and "newer than this zingy-nb" in result.stderr
    assert pg_server.sql("SELECT version FROM zingy_nb.schema_version", db=db) == [(99,)]


# -- the CLI's team commands ------------------------------------------------------------
def test_cli_grant_revoke_and_list_show_only_what_the_caller_may_see(
    pg_server: PgServer, team_db: str, tmp_path: Path, no_env_keys: None
) -> None:
    db = team_db
    home = tmp_path / "home"
    pg_server.join(db, home, ("alice", "bob"))  # carol has not joined

    def as_(role: str) -> dict[str, str]:
        return {"ZINGY_NB_STORE_URL": pg_server.url(role, db), "ZINGY_NB_HOME": str(home)}

    def wrapped_for() -> set[str]:  # whose member key stripe's data key is wrapped for
        rows = pg_server.sql(
            "SELECT w.role FROM zingy_nb.wraps w JOIN zingy_nb.profiles p "
            "ON p.id = w.profile_id WHERE p.name = 'stripe'",
            db=db,
        )
        return {r for (r,) in rows}

    assert (
        run(
            "profiles", "set", "stripe", "--stdin", env=as_("alice"), stdin="sk-MADEUP\n"
        ).returncode
        == 0
    )
    assert (
        run("profiles", "set", "mine", "--stdin", env=as_("alice"), stdin="m-MADEUP\n").returncode
        == 0
    )
    assert run("profiles", "list", env=as_("bob")).stdout == ""
    result = run("profiles", "grant", "stripe", "bob", "read", env=as_("alice"))
    assert result.returncode == 0 and "Granted read on 'stripe' to bob" in result.stderr
    listed = json.loads(run("profiles", "list", "--json", env=as_("bob")).stdout)
    assert [m["name"] for m in listed] == ["stripe"]
    assert wrapped_for() == {"alice", "bob"}  # the grant wrapped stripe's data key for bob
    access = json.loads(run("profiles", "access", "stripe", "--json", env=as_("alice")).stdout)
    assert [(g["role"], g["level"]) for g in access["grants"]] == [
        ("alice", "owner"),
        ("bob", "read"),
    ]
    refused = run("profiles", "grant", "stripe", "carol", "read", env=as_("bob"))
    assert refused.returncode == 1 and "needs manage access" in refused.stderr
    hidden = run("profiles", "grant", "mine", "bob", "manage", env=as_("bob"))
    assert hidden.returncode == 1 and "No profile with that name" in hidden.stderr
    assert "mine" not in hidden.stderr  # a typed name is never echoed
    unjoined = run("profiles", "grant", "stripe", "carol", "read", env=as_("alice"))
    assert unjoined.returncode == 1 and "`zingy-nb team join`" in unjoined.stderr
    assert pg_server.sql("SELECT grantee FROM zingy_nb.grants", db=db) == [("bob",)]
    assert run("profiles", "revoke", "stripe", "bob", env=as_("alice")).returncode == 0
    assert run("profiles", "list", env=as_("bob")).stdout == ""
    assert wrapped_for() == {"alice"}
    bad = run("profiles", "grant", "stripe", "nobody_here", "read", env=as_("alice"))
    assert bad.returncode == 1 and "no database role" in bad.stderr
    assert "nobody_here" not in bad.stderr
    usage = run("profiles", "grant", "stripe", "bob", "admin", env=as_("alice"))
    assert usage.returncode == 2


def test_grants_on_the_embedded_store_say_what_is_needed(zingy_home: Path) -> None:
    run("profiles", "set", "svc", "--stdin", env={}, stdin="v-MADEUP\n")
    result = run("profiles", "grant", "svc", "bob", "read", env={})
    assert result.returncode == 1 and "single-user store" in result.stderr


# -- the keys of a team store ------------------------------------------------------------
def test_a_team_store_keeps_no_master_key_only_the_members_own_key_file(
    pg_server: PgServer, team_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = team_db
    home = tmp_path / "home"
    url = pg_server.url("alice", db)
    # A stray master key is neither needed nor used: without a member key, nothing is
    # sealed and no key of any kind is made (only `team join` makes one)
    stray = encode_key(new_key())
    monkeypatch.setenv("ZINGY_NB_MASTER_KEY", stray)
    monkeypatch.delenv("ZINGY_NB_MEMBER_KEY", raising=False)
    with pytest.raises(MemberKeyError, match="Run `zingy-nb team join` first"):
        Profiles(home, url=url).set("svc", "svc-MADEUP")
    assert not home.exists()
    for table in ("profiles", "wraps", "members", "store_meta"):  # not even the record
        assert pg_server.sql(f"SELECT count(*) FROM zingy_nb.{table}", db=db) == [(0,)]
    # Joined, the member's private key is one 0600 file of theirs; the store keeps no
    # master key record, and the home no master key file
    private = pg_server.join(db, home, ("alice",))["alice"]
    Profiles(home, url=url).set("svc", "svc-MADEUP")
    assert Profiles(home, url=url).secrets("svc") == ("svc-MADEUP", None, None, None)
    files = dict(tree_bytes(home))
    key_file = MemberKeyLocator(home, "alice").key_file
    assert [p for p, data in files.items() if private.encode() in data] == [key_file]
    assert [p for p, data in files.items() if stray.encode() in data] == []
    assert all(p.stat().st_mode & 0o077 == 0 for p in files)
    assert not (home / "master.key").exists() and not list(home.glob("*master*"))
    assert pg_server.sql("SELECT key FROM zingy_nb.store_meta", db=db) == [("store_id",)]
    # Without that file the member has no key: the error says where it looked and what to
    # run, and no new key is made in its place
    monkeypatch.delenv("ZINGY_NB_MASTER_KEY")
    key_file.rename(tmp_path / "elsewhere.key")
    before = dict(tree_bytes(home))
    with pytest.raises(MemberKeyError, match="zingy-nb team join") as err:
        Profiles(home, url=url).secrets("svc")
    assert str(key_file) in str(err.value)
    assert dict(tree_bytes(home)) == before


# -- the password in the URL -------------------------------------------------------------
def test_the_url_password_never_shows(
    pg_server: PgServer, team_db: str, tmp_path: Path, no_env_keys: None
) -> None:
    db = team_db
    secret_pw = PASSWORDS["alice"]
    url = pg_server.url("alice", db)
    assert secret_pw in url
    store = open_store(url, tmp_path)
    assert secret_pw not in store.location and "alice@" in store.location
    assert redact_url(f"postgresql://u:{secret_pw}@h:5/d?password={secret_pw}") == (
        "postgresql://u@h:5/d"
    )
    env = {"ZINGY_NB_STORE_URL": url, "ZINGY_NB_HOME": str(tmp_path / "home")}
    for args in (("team", "join"), ("profiles", "set", "svc", "--stdin"), ("team", "members"),
                 ("team", "members", "--json"), ("store", "version"), ("profiles", "list")):  # fmt: skip
        result = run(*args, env=env, stdin="v-MADEUP\n")
        assert result.returncode == 0, result.stderr
        assert secret_pw not in result.stdout + result.stderr
    members = json.loads(run("team", "members", "--json", env=env).stdout)["members"]
    assert [m["role"] for m in members] == ["alice"]
    assert f"store:        {store.location}" in run("store", "version", env=env).stdout
    # key status shows the member key's custody, naming the store without the password
    for args in (("key", "status"), ("key", "status", "--json")):
        result = run(*args, env=env)
        assert result.returncode == 0, result.stderr
        assert store.location in result.stdout and secret_pw not in result.stdout + result.stderr
    # the master-key commands are refused here: the refusal names the store, not the password
    for args in (("key", "export"), ("key", "rotate")):
        result = run(*args, env=env)
        assert result.returncode == 1 and "`zingy-nb team join`" in result.stderr
        assert store.location in result.stderr and secret_pw not in result.stdout + result.stderr
    # a wrong password, a dead server, a bad URL: errors name the store, not the password
    wrong = pg_server.url("alice", db, password="made-up-wrong-pw-77")
    for bad in (
        wrong,
        wrong.replace(f"port={pg_server.port}", "port=1"),
        f"postgresql://alice:{secret_pw}@/{db}?host={pg_server.socket_dir}&port=notaport",
    ):
        result = run("profiles", "list", env={"ZINGY_NB_STORE_URL": bad})
        assert result.returncode == 1, result.stdout
        assert "made-up-wrong-pw-77" not in result.stderr and secret_pw not in result.stderr
        assert "zingy-nb: error:" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(StoreError) as err:
        Profiles(tmp_path, url=wrong).list()
    assert "made-up-wrong-pw-77" not in str(err.value) and err.value.__cause__ is None


def test_an_unknown_url_scheme_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="must be a postgresql:// URL"):
        Profiles(tmp_path, url="mysql://root:made-up-pw@h/db")
    try:
        Profiles(tmp_path, url="mysql://root:made-up-pw@h/db")
    except StoreError as exc:
        assert "made-up-pw" not in str(exc)


# -- connections -------------------------------------------------------------------------
def test_a_team_store_dropped_without_close_hangs_up(
    pg_server: PgServer, team_db: str, tmp_path: Path, no_env_keys: None
) -> None:
    # Given a Profiles object on a team store, with its connection open
    def sessions() -> int:
        rows = pg_server.sql(
            "SELECT count(*) FROM pg_stat_activity "
            f"WHERE datname = '{team_db}' AND application_name = 'zingy-nb'"
        )
        return int(rows[0][0])

    pg_server.join(team_db, tmp_path, ("alice",))  # (its own connection, closed)
    profiles = Profiles(tmp_path, url=pg_server.url("alice", team_db))
    profiles.set("svc", "svc-MADEUP")
    assert sessions() == 1
    ours = f"{id(profiles.store._conn):#x}"  # type: ignore[attr-defined]
    gc.collect()  # (other tests' garbage is not this test's business)
    # When the program forgets it without calling close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del profiles
        gc.collect()
    # Then the connection is closed, quietly: the server sees it go
    assert [w for w in caught if ours in str(w.message)] == []
    postgres.wait_for(lambda: sessions() == 0)
