"""Notebook access without a Jupyter server: the store, the CLI and headless kernels.

Every store test runs on both backends (``tests.postgres.store_backend``: the embedded
store, and a team store as member ``alice``). Kernels are real ``jupyter_client``
kernels whose environment carries ``JPY_SESSION_NAME`` as the server would set it, and
whose cells run with stdin off, as nbclient, papermill and nbval run them: nobody can be
asked, so a notebook that was not allowed is refused. Asking through stdin, and
following renames, need a real server: ``test_notebook_access_server``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests import agents, postgres
from tests.kernels import kernel_env, running_kernel
from tests.postgres import Backend, PgServer
from zingy_nb import access
from zingy_nb.errors import ProfileAccessError, ProfileNotFoundError, StoreError
from zingy_nb.kernel.access_prompt import PROMPT_PREFIX, parse_prompt, prompt_text
from zingy_nb.store.base import utcnow

#: Agents the CLI starts on demand get a runtime folder of each test's, and stop with it.
own_agents = agents.own_agents
pytestmark = pytest.mark.usefixtures("own_agents")

pg_server = postgres.pg_server
store_backend = postgres.store_backend

CLI = str(Path(sys.executable).with_name("zingy-nb"))
SECRET = "sk_test_MADEUP_notebook_access_1"
OTHER = "sk_test_MADEUP_notebook_access_2"


def cli(backend: Backend, *args: str, role: str = "alice", stdin: str = "") -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(
        [CLI, *args], input=stdin, capture_output=True, text=True, timeout=60,
        env={**os.environ, **backend.env(role)},
    )  # fmt: skip


def ok(backend: Backend, *args: str, role: str = "alice", stdin: str = "") -> str:
    result = cli(backend, *args, role=role, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def notebook_file(folder: Path, name: str) -> str:
    """An (empty) notebook file; returns its real path, the identity a kernel gets."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("{}")
    return os.path.realpath(path)


@pytest.fixture
def backend(store_backend: Backend) -> Backend:
    """``store_backend`` holding profile ``stripe`` (set by the CLI: no notebook)."""
    ok(store_backend, "profiles", "set", "stripe", "--stdin", stdin=SECRET + "\n")
    return store_backend


def access_json(backend: Backend, name: str = "stripe", role: str = "alice") -> dict:
    result = cli(backend, "profiles", "access", name, "--json", role=role)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


# -- the store and the CLI ------------------------------------------------------------------
def test_allow_list_and_disallow_from_the_cli(backend: Backend, tmp_path: Path) -> None:
    # Given a notebook reached through a symlinked folder
    real = notebook_file(tmp_path / "work", "pay.ipynb")
    (tmp_path / "link").symlink_to(tmp_path / "work")
    # When it is allowed by a relative path through the link
    result = subprocess.run(
        [CLI, "profiles", "allow", "stripe", "link/pay.ipynb"], cwd=tmp_path,
        capture_output=True, text=True, timeout=60, env={**os.environ, **backend.env()},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # Then the real path is kept, as a kernel's identity would be
    assert f"Allowed notebook {real} to read profile 'stripe'" in result.stderr
    listed = access_json(backend)["notebooks"]
    assert [(a["profile"], a["notebook"], a["how"]) for a in listed] == [("stripe", real, "cli")]
    assert listed[0]["role"] == ("alice" if backend.kind == "postgres" else None)
    assert "Already allowed" in ok(backend, "profiles", "allow", "stripe", real)
    assert f"notebook\t{real}\tcli\t" in ok(backend, "profiles", "access", "stripe")
    # When it is disallowed, it is gone; a second time says there was none
    assert "no longer allowed" in ok(backend, "profiles", "disallow", "stripe", real)
    assert access_json(backend)["notebooks"] == []
    assert "had no allowance" in ok(backend, "profiles", "disallow", "stripe", real)


def test_unknown_profiles_and_bad_paths_are_errors_that_echo_nothing(backend: Backend) -> None:
    missing = cli(backend, "profiles", "allow", "nope-profile", "/tmp/x.ipynb")
    assert missing.returncode == 1 and "No profile with that name" in missing.stderr
    assert "nope-profile" not in missing.stderr
    assert cli(backend, "profiles", "access", "nope-profile").returncode == 1
    bad = cli(backend, "profiles", "allow", "sk_live/typed-here", "/tmp/x.ipynb")
    assert bad.returncode == 1 and "sk_live" not in bad.stderr


def test_the_setting_lives_in_the_store(backend: Backend) -> None:
    assert ok(backend, "store", "config", "notebook-access").strip() == "ask"
    admin = "dana" if backend.kind == "postgres" else "alice"
    if backend.kind == "postgres":  # one member cannot turn the check off for the team
        refused = cli(backend, "store", "config", "notebook-access", "off")
        assert refused.returncode == 1 and "zingy_nb_admin" in refused.stderr
        assert ok(backend, "store", "config", "notebook-access").strip() == "ask"
    assert "now off" in ok(backend, "store", "config", "notebook-access", "off", role=admin)
    assert backend.profiles().store.access_setting() == "off"  # another process sees it
    assert cli(backend, "store", "config", "notebook-access", "never").returncode == 2
    ok(backend, "store", "config", "notebook-access", "ask", role=admin)
    assert ok(backend, "store", "config", "notebook-access", role="bob").strip() == "ask"


def test_a_change_bumps_the_change_token(backend: Backend, tmp_path: Path) -> None:
    watcher = backend.profiles()
    before = watcher.change_token()
    ok(backend, "profiles", "allow", "stripe", str(tmp_path / "a.ipynb"))
    after_allow = watcher.change_token()
    assert after_allow != before
    watcher.store.move_notebooks(str(tmp_path / "a.ipynb"), str(tmp_path / "b.ipynb"))
    assert backend.profiles().change_token() != after_allow


def test_allowances_follow_profile_renames_and_go_with_deletes(backend: Backend) -> None:
    ok(backend, "profiles", "allow", "stripe", "/srv/nb/one.ipynb")
    ok(backend, "profiles", "rename", "stripe", "stripe-eu")
    assert [a["notebook"] for a in access_json(backend, "stripe-eu")["notebooks"]] == [
        "/srv/nb/one.ipynb"
    ]
    ok(backend, "profiles", "delete", "stripe-eu")
    ok(backend, "profiles", "set", "stripe-eu", "--stdin", stdin=OTHER + "\n")
    assert access_json(backend, "stripe-eu")["notebooks"] == []  # a new profile starts empty


def test_moves_carry_files_and_folders_and_deletes_forget_them(backend: Backend) -> None:
    store = backend.profiles().store
    for nb in ("/w/a.ipynb", "/w/sub/b.ipynb", "/w/sub2.ipynb", "/w/sub/c.ipynb"):
        store.allow("stripe", nb, "cli")
    store.allow("stripe", "/w/moved/b.ipynb", "cli")  # already at a destination
    assert store.move_notebooks("/w/sub", "/w/moved") == 2  # b and c, not sub2
    assert store.move_notebooks("/w/a.ipynb", "/w/renamed.ipynb") == 1
    kept = sorted(a.notebook for a in store.allowances("stripe"))
    assert kept == ["/w/moved/b.ipynb", "/w/moved/c.ipynb", "/w/renamed.ipynb", "/w/sub2.ipynb"]
    assert store.forget_notebooks("/w/moved") == 2
    assert store.forget_notebooks("/w/nothing-here") == 0
    assert sorted(a.notebook for a in store.allowances()) == ["/w/renamed.ipynb", "/w/sub2.ipynb"]


def test_a_moved_allowance_covers_only_kernels_started_before_the_move(backend: Backend) -> None:
    store = backend.profiles().store
    store.allow("stripe", "/w/old.ipynb", "cli")
    before = utcnow() - timedelta(seconds=5)
    store.move_notebooks("/w/old.ipynb", "/w/new.ipynb")
    later = utcnow() + timedelta(seconds=5)
    # A kernel that started as old.ipynb before the rename keeps reading it
    assert store.notebook_check("stripe", "/w/old.ipynb", before).allowed
    assert store.notebook_check("stripe", "/w/new.ipynb", later).allowed
    # A new file at the old path, started after the rename, is another notebook
    assert not store.notebook_check("stripe", "/w/old.ipynb", later).allowed
    check = store.notebook_check("missing", "/w/new.ipynb", later)
    assert not check.exists and not check.allowed and check.setting == "ask"


@pytest.mark.parametrize("store_backend", ["postgres"], indirect=True)  # roles: team only
def test_team_allowances_are_per_role_and_seen_only_by_managers(
    backend: Backend, tmp_path: Path
) -> None:
    ok(backend, "profiles", "grant", "stripe", "bob", "read")
    ok(backend, "profiles", "grant", "stripe", "carol", "manage")
    ok(backend, "profiles", "allow", "stripe", "/nb/alice.ipynb")
    ok(backend, "profiles", "allow", "stripe", "/nb/bob.ipynb", role="bob")
    later = utcnow() + timedelta(seconds=5)

    def seen(role: str) -> list[tuple[str, str]]:
        return [(a.role or "", a.notebook) for a in backend.profiles(role).store.allowances()]

    assert seen("bob") == [("bob", "/nb/bob.ipynb")]
    both = [("alice", "/nb/alice.ipynb"), ("bob", "/nb/bob.ipynb")]
    assert seen("alice") == seen("carol") == seen("dana") == both
    # per role: alice's allowance does not let bob's kernel in, on the same path
    bob = backend.profiles("bob").store
    assert not bob.notebook_check("stripe", "/nb/alice.ipynb", later).allowed
    assert bob.notebook_check("stripe", "/nb/bob.ipynb", later).allowed
    # bob cannot remove alice's, nor write one for her by hand; a manager can remove his
    with pytest.raises(ProfileAccessError, match="manage access"):
        bob.disallow("stripe", "/nb/alice.ipynb", role="alice")
    assert backend.server is not None and backend.db is not None
    import psycopg

    with psycopg.connect(backend.url("bob") or "", autocommit=True) as conn:
        assert conn.execute("SELECT role FROM zingy_nb.notebook_access").fetchall() == [("bob",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO zingy_nb.notebook_access (profile_id, role, notebook, how) "
                "SELECT id, 'alice', '/nb/x.ipynb', 'sql' FROM zingy_nb.profiles"
            )
    assert backend.profiles("carol").store.disallow("stripe", "/nb/bob.ipynb", role="bob")
    assert seen("alice") == [("alice", "/nb/alice.ipynb")]
    # a member without a grant sees nothing and cannot allow a notebook for the profile
    with pytest.raises(ProfileNotFoundError):
        backend.profiles("carol").store.allow("nothing-here", "/nb/c.ipynb", "cli")
    ok(backend, "profiles", "revoke", "stripe", "carol")
    assert seen("carol") == []
    # moves reported by a member's server move that member's allowances only
    backend.profiles("bob").store.allow("stripe", "/nb/alice.ipynb", "cli")
    assert backend.profiles("bob").store.move_notebooks("/nb/alice.ipynb", "/nb/b2.ipynb") == 1
    assert seen("alice") == [("alice", "/nb/alice.ipynb"), ("bob", "/nb/b2.ipynb")]


# -- the migration ----------------------------------------------------------------------------
def test_upgrading_an_sqlite_store_allows_every_notebook_already_seen(zingy_home: Path) -> None:
    from zingy_nb.profiles import Profiles
    from zingy_nb.store.base import AuditEntry

    p = Profiles(zingy_home)
    p.set("svc", "svc-MADEUP-1")
    p.set("gone", "gone-MADEUP-2")
    now = utcnow()

    def entry(profile: str, outcome: str, notebook: str | None, process: str) -> AuditEntry:
        return AuditEntry(profile, "cloud-flow", outcome, process, None, notebook, now, now, 1)

    p.store.audit_add([
        entry("svc", "retrieved", "/nb/a.ipynb", "p1"),
        entry("svc", "retrieved", "/nb/a.ipynb", "p2"),
        entry("svc", "retrieved", "/nb/b.ipynb", "p3"),
        entry("svc", "refused", "/nb/refused.ipynb", "p4"),
        entry("svc", "retrieved", None, "p5"),
        entry("deleted-since", "retrieved", "/nb/a.ipynb", "p6"),
    ])  # fmt: skip
    p.store.close()
    conn = sqlite3.connect(zingy_home / "profiles.db", isolation_level=None)
    conn.execute("DROP TABLE notebook_access")
    conn.execute("ALTER TABLE audit DROP COLUMN via")
    conn.execute("ALTER TABLE store_meta DROP COLUMN mac")
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    old = Profiles(zingy_home)
    # Before the upgrade every notebook is asked: nothing in the store is signed (a
    # version set back by hand must not turn the check off)
    assert not old.store.notebook_check("svc", "/nb/new.ipynb", now).allowed
    assert old.store.access_setting() == "ask"
    with pytest.raises(StoreError, match="store upgrade"):
        old.store.allow("svc", "/nb/new.ipynb", "cli")
    old.store.close()
    assert old.store.upgrade() == (2, 4)
    # The notebooks already seen are kept, unsigned: listed, never counted (asked once)
    new = Profiles(zingy_home).store
    found = {(a.profile, a.notebook, a.how, a.signed) for a in new.allowances()}
    assert found == {
        ("svc", "/nb/a.ipynb", "upgrade", False),
        ("svc", "/nb/b.ipynb", "upgrade", False),
    }
    assert not new.notebook_check("svc", "/nb/a.ipynb", now).allowed
    assert new.allow("svc", "/nb/a.ipynb", "cli")  # allowed again by a person: signed
    assert new.notebook_check("svc", "/nb/a.ipynb", now).allowed


def test_upgrading_to_signed_allowances_keeps_old_rows_listed_and_ignored(
    zingy_home: Path,
) -> None:
    from zingy_nb.profiles import Profiles

    # Given a store at version 3: an allowance and `off`, which nothing signed
    p = Profiles(zingy_home)
    p.set("svc", "svc-MADEUP-3")
    p.store.close()
    conn = sqlite3.connect(zingy_home / "profiles.db", isolation_level=None)
    conn.execute("ALTER TABLE notebook_access DROP COLUMN mac")
    conn.execute("ALTER TABLE store_meta DROP COLUMN mac")
    conn.execute("INSERT INTO notebook_access (profile, notebook, how, created) "
                 "VALUES ('svc', '/nb/old.ipynb', 'prompt', '2026-01-01T00:00:00.000000+00:00')")  # fmt: skip
    conn.execute("INSERT INTO store_meta (key, value) VALUES ('notebook_access', 'off')")
    conn.execute("PRAGMA user_version = 3")
    conn.close()
    old = Profiles(zingy_home).store
    now = utcnow()
    # Before the upgrade: asked (nothing is signed), and allowing says to upgrade
    assert old.access_setting() == "ask"
    assert not old.notebook_check("svc", "/nb/old.ipynb", now).allowed
    with pytest.raises(StoreError, match="store upgrade"):
        old.allow("svc", "/nb/old.ipynb", "cli")
    old.close()
    assert old.upgrade() == (3, 4)
    # After it: the old rows are kept and listed as unsigned, and still count for nothing
    new = Profiles(zingy_home).store
    assert [(a.notebook, a.how, a.signed) for a in new.allowances()] == [
        ("/nb/old.ipynb", "prompt", False)
    ]
    assert new.access_setting() == "ask"
    assert not new.notebook_check("svc", "/nb/old.ipynb", now).allowed
    # Allowed again by a person (and `off` set again), they count
    assert new.allow("svc", "/nb/old.ipynb", "cli")
    new.set_access_setting("off")
    assert new.notebook_check("svc", "/nb/old.ipynb", now).allowed
    assert new.access_setting() == "off"


def test_upgrading_a_team_store_to_signed_allowances(pg_server: PgServer, tmp_path: Path) -> None:
    from zingy_nb.profiles import Profiles
    from zingy_nb.store import migrations_members
    from zingy_nb.store.postgres_members import MemberKeyStore

    class Previous(MemberKeyStore):
        """The team schema before allowances were signed (version 4)."""

        MIGRATIONS = migrations_members.POSTGRES_MEMBER_KEYS[:4]
        SIGNS_ACCESS = False

    db = "teamv4"
    pg_server.sql(f"CREATE DATABASE {db} OWNER team_admin")
    pg_server.sql(f"GRANT CONNECT ON DATABASE {db} TO alice, bob, dana")
    try:
        owner = Previous(pg_server.url("team_admin", db))
        try:
            assert owner.upgrade() == (None, 4)
        finally:
            owner.close()
        pg_server.sql("GRANT zingy_nb_member TO alice, bob, dana")
        alice = Profiles(tmp_path, store=Previous(pg_server.url("alice", db)))
        alice.vault.join()  # type: ignore[attr-defined]
        alice.set("svc", "svc-MADEUP-team-4")
        alice.store.allow("svc", "/nb/a.ipynb", "prompt")  # version 4: no MAC to write
        alice.store.close()
        admin = MemberKeyStore(pg_server.url("team_admin", db))
        try:
            assert admin.upgrade() == (4, 5)
        finally:
            admin.close()
        assert pg_server.sql("SELECT notebook, mac FROM zingy_nb.notebook_access", db=db) == [
            ("/nb/a.ipynb", None)
        ]
        now = utcnow()
        store = Profiles(tmp_path, url=pg_server.url("alice", db)).store
        assert [a.signed for a in store.allowances("svc")] == [False]
        assert not store.notebook_check("svc", "/nb/a.ipynb", now).allowed
        assert store.allow("svc", "/nb/a.ipynb", "cli") is not False  # signed again: new
        assert store.notebook_check("svc", "/nb/a.ipynb", now).allowed
    finally:
        pg_server.drop_database(db)


def test_upgrading_a_team_store_allows_each_members_notebooks(pg_server: PgServer) -> None:
    from zingy_nb.store import migrations
    from zingy_nb.store.postgres import PostgresStore

    db = "teamv1"
    pg_server.sql(f"CREATE DATABASE {db} OWNER team_admin")
    pg_server.sql(f"GRANT CONNECT ON DATABASE {db} TO alice, bob")
    try:
        import psycopg

        with psycopg.connect(pg_server.url("team_admin", db), autocommit=True) as conn:
            conn.execute(migrations.POSTGRES[0].sql.encode())  # a store made by zingy-nb 0.2
        pg_server.sql("GRANT zingy_nb_member TO alice, bob")
        pg_server.sql(
            "INSERT INTO zingy_nb.profiles (name, owner, slots, created, updated, key_id, blob) "
            "VALUES ('svc', 'alice', 1, now(), now(), 'k', '\\x00')",
            db=db,
        )
        pg_server.sql(
            "INSERT INTO zingy_nb.audit (profile, flow, outcome, process, role, notebook, "
            "first, last, count) VALUES "
            "('svc', 'cloud-flow', 'retrieved', 'p1', 'alice', '/nb/a.ipynb', now(), now(), 3),"
            "('svc', 'cloud-flow', 'retrieved', 'p2', 'bob', '/nb/b.ipynb', now(), now(), 1),"
            "('svc', 'page-flow', 'refused', 'p3', 'bob', '/nb/c.ipynb', now(), now(), 1)",
            db=db,
        )
        admin = PostgresStore(pg_server.url("team_admin", db))
        try:
            assert admin.upgrade() == (1, 2)
        finally:
            admin.close()
        rows = pg_server.sql(
            "SELECT role, notebook, how FROM zingy_nb.notebook_access ORDER BY role", db=db
        )
        assert rows == [("alice", "/nb/a.ipynb", "upgrade"), ("bob", "/nb/b.ipynb", "upgrade")]
    finally:
        pg_server.drop_database(db)


# -- identities -------------------------------------------------------------------------------
def test_the_identity_is_the_real_path_of_an_existing_notebook(tmp_path: Path) -> None:
    real = notebook_file(tmp_path / "root" / "work", "pay.ipynb")
    (tmp_path / "alias").symlink_to(tmp_path / "root")
    assert access.identity_from_env({"JPY_SESSION_NAME": str(tmp_path / "alias/work/pay.ipynb")}) == real  # fmt: skip
    # a session created without a name: root-relative, and the kernel runs in its folder
    relative = {"JPY_SESSION_NAME": "work/pay.ipynb"}
    assert access.identity_from_env(relative, cwd=str(tmp_path / "root" / "work")) == real
    # not checked: no session, a console (no such file), a kernel started by a runner
    assert access.identity_from_env({}) is None
    assert access.identity_from_env({"JPY_SESSION_NAME": str(tmp_path / "Console 1")}) is None
    runner = {"JPY_SESSION_NAME": real, "ZINGY_NB_VIA": "run"}
    assert access.identity_from_env(runner) is None


def test_the_prompt_is_one_machine_readable_line() -> None:
    nb = '/home/u/My "odd" \\ notebook \u00e9.ipynb'
    text = prompt_text("stripe", nb)
    assert text.startswith(PROMPT_PREFIX) and "\n" not in text and text.endswith("[allow/deny] ")
    assert parse_prompt(text) == (nb, "stripe")
    assert parse_prompt("Password: ") is None
    assert parse_prompt(text.replace("[allow/deny]", "[yes/no]")) is None


# -- headless kernels ---------------------------------------------------------------------------
def test_a_headless_kernel_with_a_notebook_is_refused_until_allowed(
    backend: Backend, tmp_path: Path
) -> None:
    nb = notebook_file(tmp_path / "work", "colleague.ipynb")
    env = kernel_env(flow="cloud-flow", home=backend.home, JPY_SESSION_NAME=nb, **backend.env())
    with running_kernel(env) as kernel:
        kernel.ok("%load_ext zingy_nb")
        # Given no JupyterLab connected to the agent (this kernel registered itself with
        # it, stating its notebook), nobody can be asked: not even on the kernel's stdin
        cell = kernel.run("zingyConn.apikey('stripe')", allow_stdin=True)
        # Then the notebook is refused, with the command that allows it
        assert cell.ename == "NotebookAccessError", cell.describe()
        assert f"zingy-nb profiles allow stripe {nb}" in cell.evalue
        assert "no JupyterLab is connected" in cell.evalue and SECRET not in cell.everything()
        # and the command, run by the kernel, is refused: the kernel has registered
        refused = kernel.run(f"!{CLI} profiles allow stripe {nb}")
        assert "never accepted from a Jupyter kernel" in refused.stdout, refused.describe()
        # and a PermissionError, as the issue promises
        probe = "try:\n    zingyConn.apikey('stripe')\nexcept PermissionError:\n    print('perm')"
        assert kernel.ok(probe).stdout.strip() == "perm"
        # The kernel has no API to allow itself
        self_allow = kernel.run(
            f"from zingy_nb import access, get_profiles\n"
            f"access.allow(get_profiles(), 'stripe', {nb!r}, 'self')"
        )
        assert self_allow.ename == "NotebookAccessError" and "outside the notebook" in self_allow.evalue  # fmt: skip
        # When it is allowed from outside, the same kernel reads it (no restart)
        ok(backend, "profiles", "allow", "stripe", nb)
        assert kernel.ok("print(zingyConn.apikey('stripe').name)").stdout.strip() == "stripe"
        assert kernel.ok("print(zingyConn.apikey('stripe').name)").stdout.strip() == "stripe"
        # and a disallow is seen by the next (warm) retrieval
        ok(backend, "profiles", "disallow", "stripe", nb)
        assert kernel.run("zingyConn.apikey('stripe')").ename == "NotebookAccessError"
        # With the check off in the store, it reads without an allowance
        admin = "dana" if backend.kind == "postgres" else "alice"
        ok(backend, "store", "config", "notebook-access", "off", role=admin)
        assert kernel.ok("print(zingyConn.apikey('stripe').name)").stdout.strip() == "stripe"
        # An unknown profile is still "not found", not a question about access
        ok(backend, "store", "config", "notebook-access", "ask", role=admin)
        assert kernel.run("zingyConn.apikey('nothing-here')").ename == "ProfileNotFoundError"
    events = [
        (e["profile"], e["outcome"], e["notebook"])
        for e in json.loads(ok(backend, "audit", "--json"))
        if e["outcome"] != "retrieved"
    ]
    assert ("stripe", "not-allowed", nb) in events
    assert not [e for e in events if e[1] in ("asked", "allowed")]


def test_a_notebook_that_creates_a_profile_may_read_it(backend: Backend, tmp_path: Path) -> None:
    nb = notebook_file(tmp_path, "quickstart.ipynb")
    env = kernel_env(
        flow="cloud-flow", home=backend.home, JPY_SESSION_NAME=nb, ZNB_NEW=OTHER, **backend.env()
    )
    with running_kernel(env) as kernel:
        kernel.ok("%load_ext zingy_nb")
        kernel.ok("%zingy_apikey set mine --from-env ZNB_NEW")
        assert kernel.ok("print(zingyConn.apikey('mine').name)").stdout.strip() == "mine"
        # replacing a profile it did not create allows nothing
        kernel.ok("%zingy_apikey set stripe --from-env ZNB_NEW")
        assert kernel.run("zingyConn.apikey('stripe')").ename == "NotebookAccessError"
    created = [(a["notebook"], a["how"]) for a in access_json(backend, "mine")["notebooks"]]
    assert created == [(nb, "created")]


def test_processes_without_a_notebook_are_not_checked(backend: Backend, tmp_path: Path) -> None:
    nb = notebook_file(tmp_path, "ran.ipynb")
    # A kernel started by a runner (which sets ZINGY_NB_VIA) is not checked, and audited
    env = kernel_env(
        flow="cloud-flow", home=backend.home, JPY_SESSION_NAME=nb, ZINGY_NB_VIA="run",
        **backend.env(),
    )  # fmt: skip
    with running_kernel(env) as kernel:
        kernel.ok("%load_ext zingy_nb")
        assert kernel.ok("print(zingyConn.apikey('stripe').name)").stdout.strip() == "stripe"
    # nor is a script, even one started from a notebook (it inherits JPY_SESSION_NAME)
    script = subprocess.run(
        [sys.executable, "-c", "from zingy_nb import zingyConn; print(zingyConn.apikey('stripe').name)"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, **backend.env(), "ZINGY_NB_FLOW": "cloud-flow", "JPY_SESSION_NAME": nb,
             "ZINGY_NB_VIA": "scheduler:job-42"},
    )  # fmt: skip
    assert script.returncode == 0 and script.stdout.strip() == "stripe", script.stderr
    entries = json.loads(ok(backend, "audit", "--json"))
    assert sorted(e["via"] for e in entries if e["outcome"] == "retrieved") == [
        "run",
        "scheduler:job-42",
    ]
    text = ok(backend, "audit")
    assert "\tvia run" in text and "\tvia scheduler:job-42" in text


WARM = """
import json, sys
from zingy_nb import access, flow
from zingy_nb.profiles import Profiles
access.init_from_env({"JPY_SESSION_NAME": sys.argv[1]})
flow.flag("cloud-flow")
p = Profiles()
p.set("warm", "warm-MADEUP-value")       # created here: this notebook may read it
p.secrets("warm")                        # cold: judged once
seen = []
p.store._conn.set_trace_callback(seen.append)
for _ in range(200):
    p.secrets("warm")
p.store._conn.set_trace_callback(None)
print(json.dumps(sorted(set(seen))))
"""


def test_an_allowed_notebooks_warm_retrieval_adds_no_query(
    zingy_home: Path, tmp_path: Path
) -> None:
    nb = notebook_file(tmp_path, "warm.ipynb")
    result = subprocess.run(
        [sys.executable, "-c", WARM, nb], capture_output=True, text=True, timeout=60,
        env={**os.environ, "ZINGY_NB_HOME": str(zingy_home)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["PRAGMA data_version"]
