"""Widening access only from a person, and only what the agent signed counts (issue #22).

A real agent judges who asks from process ancestry: a stand-in kernel (``KERNEL``)
registers through ``AgentClient.register`` and runs ``zingy-nb`` commands as its
children, as ``!zingy-nb ...`` in a cell does; the same commands run by the test process
(no kernel above it) are a person's. Rows written straight into the SQLite file carry
no MAC the agent made and are ignored. The REST API widens only for a browser session
(cookie and XSRF), never for a token. Every agent a test starts is stopped at its end.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import asks, postgres
from tests.isolation import stop_agents
from tests.test_agent import PROFILES, Peer, Setup, ok, own_runtime_dir, peer_script, refused, setup
from zingy_nb import access
from zingy_nb.agent import StoreLocation
from zingy_nb.paths import URL_ENV
from zingy_nb.profiles import Profiles
from zingy_nb.vault import MASTER_KEY_ENV, MEMBER_KEY_ENV, encode_key, new_key

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux agent")
__all__ = ["setup"]  # the fixture, from test_agent
pg_server = postgres.pg_server  # the team-store test's server (session-wide)

CLI = str(Path(sys.executable).with_name("zingy-nb"))
REFUSED = "never accepted from a Jupyter kernel"

#: A stand-in for a registered kernel: registers itself, retrieves with its capability,
#: and runs commands as its own children (as ``!cmd`` in a cell does).
KERNEL = r"""
import json, subprocess, sys
from zingy_nb.agent import connect
from zingy_nb.errors import ZingyError

def do(cmd):
    if cmd["do"] == "run":
        done = subprocess.run(cmd["argv"], input=cmd.get("input", ""), capture_output=True,
                              text=True, timeout=120)
        return {"ok": True, "code": done.returncode, "out": done.stdout, "err": done.stderr}
    try:
        with connect() as client:
            if cmd["do"] == "register":
                return {"ok": True, "cap": client.register(cmd["flow"], cmd.get("notebook"))}
            return {"ok": True, "values": list(client.retrieve(cmd["cap"], cmd["name"]))}
    except ZingyError as exc:
        return {"ok": False, "error": type(exc).__name__, "message": str(exc)}

for line in sys.stdin:
    print(json.dumps(do(json.loads(line))), flush=True)
"""


def kernel(setup: Setup, notebook: Path) -> tuple[Peer, str]:
    """A registered cloud-flow kernel of ``notebook``, and its capability."""
    script = setup.script.with_name("kernel.py")
    script.write_text(KERNEL)
    peer = Peer(script, dict(os.environ))
    setup.peers.append(peer)
    cap = ok(peer.ask(do="register", flow="cloud-flow", notebook=str(notebook)))["cap"]
    return peer, str(cap)


def person(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``zingy-nb ARGS`` run by the test process: no registered kernel above it."""
    return subprocess.run([CLI, *args], input=stdin, capture_output=True, text=True, timeout=120)


def notebook_file(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("{}")
    return Path(os.path.realpath(path))


def raw(home: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """What the SQLite file holds, read or written behind zingy-nb's back."""
    conn = sqlite3.connect(home / "profiles.db", isolation_level=None)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


# -- from a kernel, nothing widens -----------------------------------------------------
def test_a_kernels_children_cannot_widen_and_nothing_changes(setup: Setup, tmp_path: Path) -> None:
    home = setup.location.home
    nb = notebook_file(tmp_path, "pay.ipynb")
    setup.start()
    peer, cap = kernel(setup, nb)
    refused(peer.ask(do="retrieve", cap=cap, name="stripe"), "NotebookAccessError", "stripe")
    # When the kernel runs the commands that widen, as `!zingy-nb ...` in a cell
    widening = [
        ["profiles", "allow", "stripe", str(nb)],
        ["store", "config", "notebook-access", "off"],
        ["key", "export"],
        ["key", "export", "--output", str(tmp_path / "stolen.key")],
    ]
    for argv in widening:
        done = ok(peer.ask(do="run", argv=[CLI, *argv]))
        # Then each is refused, says where to do it instead and that nothing changed
        assert done["code"] == 1, (argv, done)
        assert REFUSED in done["err"] and "Nothing was changed" in done["err"], done
        assert "terminal outside Jupyter" in done["err"] and "JupyterLab" in done["err"]
        assert setup.key not in done["out"] + done["err"]
    done = ok(peer.ask(do="run", argv=[CLI, "key", "import"], input=encode_key(new_key())))
    assert done["code"] == 1 and REFUSED in done["err"], done
    # And nothing changed in the store: no allowance, no setting, no key file
    assert raw(home, "SELECT count(*) FROM notebook_access") == [(0,)]
    assert raw(home, "SELECT value FROM store_meta WHERE key = 'notebook_access'") == []
    assert not (tmp_path / "stolen.key").exists()
    refused(peer.ask(do="retrieve", cap=cap, name="stripe"), "NotebookAccessError", "stripe")
    # Narrowing is accepted from anywhere, a kernel included
    done = ok(peer.ask(do="run", argv=[CLI, "store", "config", "notebook-access", "ask"]))
    assert done["code"] == 0, done
    done = ok(peer.ask(do="run", argv=[CLI, "profiles", "disallow", "stripe", str(nb)]))
    assert done["code"] == 0 and "had no allowance" in done["err"], done


def test_the_same_commands_from_a_person_work(setup: Setup, tmp_path: Path) -> None:
    nb, other = notebook_file(tmp_path, "pay.ipynb"), notebook_file(tmp_path, "other.ipynb")
    setup.start()
    peer, cap = kernel(setup, nb)
    # A person allows the notebook from a terminal: the kernel reads at once
    done = person("profiles", "allow", "stripe", str(nb))
    assert done.returncode == 0 and f"Allowed notebook {nb}" in done.stderr, done.stderr
    got = ok(peer.ask(do="retrieve", cap=cap, name="stripe"))["values"]
    assert got[: len(PROFILES["stripe"])] == list(PROFILES["stripe"])
    assert [a.signed for a in Profiles(setup.location.home).store.allowances("stripe")] == [True]
    # ... exports the key (printed as today) ...
    done = person("key", "export")
    assert done.returncode == 0 and done.stdout.strip() == setup.key, done.stderr
    assert setup.key not in (setup.folder / "agent.log").read_text()  # nor in its log
    # ... and turns the check off: a notebook never allowed reads too; `ask` undoes it
    other_peer, other_cap = kernel(setup, other)
    refused(other_peer.ask(do="retrieve", cap=other_cap, name="github"), "NotebookAccessError", "github")  # fmt: skip
    assert person("store", "config", "notebook-access", "off").returncode == 0
    ok(other_peer.ask(do="retrieve", cap=other_cap, name="github"))
    assert person("store", "config", "notebook-access").stdout.strip() == "off"
    assert person("store", "config", "notebook-access", "ask").returncode == 0
    fresh, fresh_cap = kernel(setup, other)
    refused(fresh.ask(do="retrieve", cap=fresh_cap, name="ssh"), "NotebookAccessError", "ssh")


# -- rows the agent did not write -------------------------------------------------------
def test_rows_written_straight_into_the_store_are_ignored(setup: Setup, tmp_path: Path) -> None:
    home = setup.location.home
    nb, signed = notebook_file(tmp_path, "pay.ipynb"), notebook_file(tmp_path, "ok.ipynb")
    assert person("profiles", "allow", "github", str(signed)).returncode == 0  # a real one
    (good_mac,) = raw(home, "SELECT mac FROM notebook_access")[0]
    # Given an allowance with no MAC, one with a MAC copied from another notebook's, and
    # the setting `off`, all written straight into the file
    stamp = "2026-01-01T00:00:00.000000+00:00"
    for name, mac in (("stripe", None), ("github", good_mac)):
        raw(home, "INSERT INTO notebook_access (profile, notebook, how, created, mac) "
                  "VALUES (?, ?, 'cli', ?, ?)", (name, str(nb), stamp, mac))  # fmt: skip
    raw(home, "INSERT OR REPLACE INTO store_meta (key, value, mac) VALUES ('notebook_access', 'off', ?)", (good_mac,))  # fmt: skip
    # Then the judge counts none of them: the notebook is asked (here: refused)
    store = Profiles(home).store
    assert store.access_setting() == "ask"
    for name in ("stripe", "github"):
        assert not store.notebook_check(name, str(nb), access._state.started).allowed
    setup.start()
    peer, cap = kernel(setup, nb)
    for name in ("stripe", "github"):
        refused(peer.ask(do="retrieve", cap=cap, name=name), "NotebookAccessError", name)
    # While the allowance the agent wrote still counts
    allowed, allowed_cap = kernel(setup, signed)
    ok(allowed.ask(do="retrieve", cap=allowed_cap, name="github"))
    # `profiles access` shows which rows count
    listed = {(a.notebook, a.signed) for a in store.allowances()}
    assert listed == {(str(nb), False), (str(signed), True)}


def test_rotating_the_key_re_signs_what_was_signed_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)  # a key file: rotation changes it
    home = tmp_path / "zingy"
    profiles = Profiles(home)
    profiles.set("stripe", "sk_test_MADEUP_rotate_1")
    profiles.store.allow("stripe", "/nb/kept.ipynb", "cli")
    profiles.store.set_access_setting("off")
    raw(home, "INSERT INTO notebook_access (profile, notebook, how, created) "
              "VALUES ('stripe', '/nb/forged.ipynb', 'cli', '2026-01-01')")  # fmt: skip
    before = {nb: bytes(mac) for nb, mac in raw(home, "SELECT notebook, mac FROM notebook_access WHERE mac IS NOT NULL")}  # fmt: skip
    profiles.rotate_key()
    after = {nb: bytes(mac) for nb, mac in raw(home, "SELECT notebook, mac FROM notebook_access WHERE mac IS NOT NULL")}  # fmt: skip
    assert set(after) == {"/nb/kept.ipynb"} and after != before  # signed again, new key
    now = access._state.started
    assert profiles.store.notebook_check("stripe", "/nb/kept.ipynb", now).allowed
    assert not profiles.store.notebook_check("stripe", "/nb/forged.ipynb", now).allowed
    assert profiles.store.access_setting() == "off"
    # A MAC made with the old key counts for nothing now
    raw(home, "UPDATE notebook_access SET mac = ? WHERE notebook = '/nb/kept.ipynb'", (before["/nb/kept.ipynb"],))  # fmt: skip
    assert not profiles.store.notebook_check("stripe", "/nb/kept.ipynb", now).allowed


def test_a_renamed_profile_and_a_moved_notebook_keep_their_signed_allowances(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MASTER_KEY_ENV, encode_key(new_key()))
    profiles = Profiles(tmp_path / "zingy")
    profiles.set("stripe", "sk_test_MADEUP_rename_1")
    profiles.store.allow("stripe", "/nb/a.ipynb", "cli")
    profiles.rename("stripe", "stripe-eu")
    later = access._state.started.replace(year=2100)
    assert profiles.store.notebook_check("stripe-eu", "/nb/a.ipynb", later).allowed
    assert profiles.store.move_notebooks("/nb", "/work") == 1
    assert profiles.store.notebook_check("stripe-eu", "/work/a.ipynb", later).allowed


# -- a team store: grants, and the store-wide setting an admin signs ---------------------
def test_a_team_grant_only_from_a_person_and_an_unsigned_off_is_ignored(
    pg_server: postgres.PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own_runtime_dir(monkeypatch)
    home = tmp_path / "zingy"
    monkeypatch.setenv("ZINGY_NB_HOME", str(home))
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    monkeypatch.delenv(MEMBER_KEY_ENV, raising=False)
    db = pg_server.new_database()
    setup: Setup | None = None
    try:
        pg_server.join(db, home, roles=("alice", "bob", "dana"))  # key files in the home
        url = pg_server.url("alice", db)
        monkeypatch.setenv(URL_ENV, url)
        Profiles(home, url=url).set("team-github", *PROFILES["github"])
        setup = Setup(StoreLocation(home, url), "", peer_script(tmp_path))
        setup.start()
        peer, _ = kernel(setup, notebook_file(tmp_path, "team.ipynb"))
        grant = [CLI, "profiles", "grant", "team-github", "bob", "read"]
        # A kernel's child cannot grant; nothing is written
        done = ok(peer.ask(do="run", argv=grant))
        assert done["code"] == 1 and REFUSED in done["err"], done
        assert pg_server.sql("SELECT grantee FROM zingy_nb.grants", db=db) == []
        # A person can
        done = person(*grant[1:])
        assert done.returncode == 0 and "Granted read" in done.stderr, done.stderr
        assert pg_server.sql("SELECT grantee FROM zingy_nb.grants", db=db) == [("bob",)]
        # Nor publish a member key of its own (later grants would be wrapped for it),
        # or trust another's: the published keys stay as they were
        keys = "SELECT role, fingerprint FROM zingy_nb.members ORDER BY role"
        before = pg_server.sql(keys, db=db)
        fingerprint = Profiles(home, url=url).vault.store_status().key_id
        for argv in (["team", "join", "--new-key"], ["team", "trust", "bob", str(fingerprint)]):
            done = ok(peer.ask(do="run", argv=[CLI, *argv]))
            assert done["code"] == 1 and REFUSED in done["err"], (argv, done)
        assert pg_server.sql(keys, db=db) == before
        # `off` written by hand (no admin's signature) is ignored by every member
        pg_server.sql(
            "INSERT INTO zingy_nb.settings (key, value, mac) VALUES "
            "('notebook_access', 'off', '\\x64616e610a00'::bytea)",  # "dana", newline, a 0 byte
            db=db,
        )
        assert Profiles(home, url=url).store.access_setting() == "ask"
        # The admin's, made through zingy-nb, counts for the other members
        dana = Profiles(home, url=pg_server.url("dana", db))
        dana.store.set_access_setting("off")
        assert Profiles(home, url=url).store.access_setting() == "off"
        assert Profiles(home, url=pg_server.url("bob", db)).store.access_setting() == "off"
    finally:
        if setup is not None:
            setup.stop_all()
        pg_server.drop_database(db)


# -- the REST API: a browser session widens, a token never does --------------------------
@pytest.fixture
def jp_runtime_dir() -> Path:
    """Short: the agent's socket lives below it."""
    return Path(tempfile.mkdtemp(prefix="r", dir=os.environ["JUPYTER_RUNTIME_DIR"]))


@pytest.fixture
def rest_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "zingy"
    monkeypatch.setenv("ZINGY_NB_HOME", str(home))
    monkeypatch.setenv(MASTER_KEY_ENV, encode_key(new_key()))
    Profiles(home).set("stripe", "sk_test_MADEUP_rest_1")
    return home


@pytest.fixture
def store_home(rest_home: Path) -> Path:
    """The store ``asks.jp_server_config`` gives the server."""
    return rest_home


jp_server_config = asks.jp_server_config


@pytest.fixture
def agents_stopped(jp_runtime_dir: Path) -> Iterator[None]:
    yield
    stop_agents(jp_runtime_dir)


async def test_a_rest_allow_needs_a_browser_session_never_a_token(
    rest_home: Path,
    jp_fetch: Any,
    jp_serverapp: Any,
    http_server_client: Any,
    jp_base_url: str,
    jp_root_dir: Path,
    agents_stopped: None,
) -> None:
    from tests.test_server_api import _cookie_login

    (jp_root_dir / "pay.ipynb").write_text("{}")
    path = ("zingy-nb", "api", "profiles", "stripe", "notebooks", "pay.ipynb")
    # A token-authenticated PUT (exempt from XSRF; a kernel can make one) is refused
    response = await jp_fetch(*path, method="PUT", body=b"", raise_error=False)
    assert response.code == 403, response.body
    assert b"never widens" in response.body and b"Nothing was changed" in response.body
    assert Profiles(rest_home).store.allowances("stripe") == []
    # A browser session: the login cookie and the XSRF token
    cookies = await _cookie_login(
        http_server_client, jp_base_url, jp_serverapp.identity_provider.token
    )
    session = {
        "Authorization": "",
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        "X-XSRFToken": cookies["_xsrf"],
    }
    response = await jp_fetch(*path, method="PUT", body=b"", headers=session, raise_error=False)
    assert response.code == 200, response.body
    [allowance] = Profiles(rest_home).store.allowances("stripe")
    assert allowance.how == "rest" and allowance.signed
    assert allowance.notebook == os.path.realpath(jp_root_dir / "pay.ipynb")
