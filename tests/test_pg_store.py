"""Team-store plumbing: schema versions and upgrades (both backends), the CLI's grant
commands, where the key may come from, and the URL's password never being shown."""

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

from tests import postgres
from tests.postgres import PASSWORDS, PgServer
from zingy_nb.crypto import encode_key, new_key
from zingy_nb.errors import KeyUnavailableError, StoreError, UnsupportedStoreVersionError
from zingy_nb.profiles import Profiles
from zingy_nb.store.url import open_store, redact_url

pg_server = postgres.pg_server
team_db = postgres.team_db
CLI = str(Path(sys.executable).with_name("zingy-nb"))


def run(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], input=stdin, capture_output=True, text=True, timeout=60,
        env={**os.environ, **env},
    )  # fmt: skip


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> str:
    key = encode_key(new_key())
    monkeypatch.setenv("ZINGY_NB_MASTER_KEY", key)
    return key


# -- SQLite: version 1 keeps working; upgrade moves it to the latest ---------------------
def make_v1(home: Path) -> None:
    Profiles(home).set("svc", "svc-MADEUP", "two")
    conn = sqlite3.connect(home / "profiles.db", isolation_level=None)
    conn.execute("DROP TABLE notebook_access")
    conn.execute("ALTER TABLE audit DROP COLUMN via")
    conn.execute("ALTER TABLE audit DROP COLUMN role")
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
    assert "from version 1 to 3" in result.stderr
    assert "already at version 3" in run("store", "upgrade", env={}).stderr
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
    pg_server: PgServer, tmp_path: Path, key_env: str
) -> None:
    pg_server.sql("CREATE DATABASE bare OWNER team_admin")
    p = Profiles(tmp_path, url=pg_server.url("team_admin", "bare"))
    assert p.list() == [] and p.store.info() is None and p.store.schema_version() is None
    with pytest.raises(StoreError, match="zingy-nb store upgrade"):
        p.set("svc", "svc-MADEUP")
    env = {"ZINGY_NB_STORE_URL": pg_server.url("team_admin", "bare")}
    result = run("store", "upgrade", env=env)
    assert result.returncode == 0 and "from version 0 to 2" in result.stderr, result.stderr
    assert "already at version 2" in run("store", "upgrade", env=env).stderr


def test_a_member_cannot_create_the_schema(pg_server: PgServer, tmp_path: Path) -> None:
    pg_server.sql("CREATE DATABASE bare2 OWNER team_admin")
    pg_server.sql("GRANT CONNECT ON DATABASE bare2 TO alice")
    result = run("store", "upgrade", env={"ZINGY_NB_STORE_URL": pg_server.url("alice", "bare2")})
    assert result.returncode == 1 and "database's owner" in result.stderr
    assert PASSWORDS["alice"] not in result.stderr


def test_a_newer_team_store_is_refused(
    pg_server: PgServer, team_db: str, tmp_path: Path, key_env: str
) -> None:
    db = team_db
    Profiles(tmp_path, url=pg_server.url("alice", db)).set("svc", "svc-MADEUP")
    pg_server.sql("UPDATE zingy_nb.schema_version SET version = 99", db=db)
    with pytest.raises(UnsupportedStoreVersionError, match="newer than this zingy-nb"):
        Profiles(tmp_path, url=pg_server.url("alice", db)).list()
    result = run("store", "upgrade", env={"ZINGY_NB_STORE_URL": pg_server.url("team_admin", db)})
    assert result.returncode == 1 and "newer than this zingy-nb" in result.stderr
    assert pg_server.sql("SELECT version FROM zingy_nb.schema_version", db=db) == [(99,)]


# -- the CLI's team commands ------------------------------------------------------------
def test_cli_grant_revoke_and_list_show_only_what_the_caller_may_see(
    pg_server: PgServer, team_db: str, tmp_path: Path, key_env: str
) -> None:
    db = team_db

    def as_(role: str) -> dict[str, str]:
        return {"ZINGY_NB_STORE_URL": pg_server.url(role, db), "ZINGY_NB_MASTER_KEY": key_env}

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
    assert run("profiles", "revoke", "stripe", "bob", env=as_("alice")).returncode == 0
    assert run("profiles", "list", env=as_("bob")).stdout == ""
    bad = run("profiles", "grant", "stripe", "nobody_here", "read", env=as_("alice"))
    assert bad.returncode == 1 and "no database role" in bad.stderr
    assert "nobody_here" not in bad.stderr
    usage = run("profiles", "grant", "stripe", "bob", "admin", env=as_("alice"))
    assert usage.returncode == 2


def test_grants_on_the_embedded_store_say_what_is_needed(zingy_home: Path) -> None:
    run("profiles", "set", "svc", "--stdin", env={}, stdin="v-MADEUP\n")
    result = run("profiles", "grant", "svc", "bob", "read", env={})
    assert result.returncode == 1 and "single-user store" in result.stderr


# -- the key of a team store -------------------------------------------------------------
def test_a_team_store_never_writes_a_key_file(
    pg_server: PgServer, team_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZINGY_NB_MASTER_KEY", raising=False)
    db = team_db
    home = tmp_path / "home"
    p = Profiles(home, url=pg_server.url("alice", db))
    with pytest.raises(KeyUnavailableError, match="never writes a team key to a file"):
        p.set("svc", "svc-MADEUP")
    assert not home.exists() and p.store.info() is None
    # a store made with the env key: without it, the error names where to put it
    monkeypatch.setenv("ZINGY_NB_MASTER_KEY", encode_key(new_key()))
    Profiles(home, url=pg_server.url("alice", db)).set("svc", "svc-MADEUP")
    monkeypatch.delenv("ZINGY_NB_MASTER_KEY")
    with pytest.raises(KeyUnavailableError, match="ZINGY_NB_MASTER_KEY"):
        Profiles(home, url=pg_server.url("alice", db)).secrets("svc")
    assert not home.exists()


# -- the password in the URL -------------------------------------------------------------
def test_the_url_password_never_shows(
    pg_server: PgServer, team_db: str, tmp_path: Path, key_env: str
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
    env = {"ZINGY_NB_STORE_URL": url}
    run("profiles", "set", "svc", "--stdin", env=env, stdin="v-MADEUP\n")
    for args in (("key", "status"), ("key", "status", "--json"), ("store", "version")):
        result = run(*args, env=env)
        assert result.returncode == 0, result.stderr
        assert secret_pw not in result.stdout + result.stderr
    status = json.loads(run("key", "status", "--json", env=env).stdout)
    assert status["store"] == store.location and status["key_source"] == "env"
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
    pg_server: PgServer, team_db: str, tmp_path: Path, key_env: str
) -> None:
    # Given a Profiles object on a team store, with its connection open
    def sessions() -> int:
        rows = pg_server.sql(
            "SELECT count(*) FROM pg_stat_activity "
            f"WHERE datname = '{team_db}' AND application_name = 'zingy-nb'"
        )
        return int(rows[0][0])

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
