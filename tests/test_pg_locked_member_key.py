"""Locked custody of a team member's own key: ``zingy-nb key protect``, ``unlock`` and
``lock`` on a team store with member keys, with real PostgreSQL, the real CLI, a real
agent and a real kernel.

Alice's member key starts in a key file (this suite pins keyring's "no backend"); after
``key protect`` it is kept only wrapped with her passphrase (``member-alice.key.locked``)
and, unwrapped, in her agent's memory. Passphrases and values here are made up.
"""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import agents, postgres
from tests.kernels import CLI, kernel_env, running_kernel
from tests.leaks import scanner
from tests.postgres import PgServer
from zingy_nb.errors import KeyUnavailableError, WrongPassphraseError
from zingy_nb.profiles import Profiles
from zingy_nb.store.postgres_members import MemberKeyStore
from zingy_nb.vault import locked
from zingy_nb.vault.member_custody import MemberKeyLocator

pg_server = postgres.pg_server
own_agents = agents.own_agents
pytestmark = [
    pytest.mark.usefixtures("own_agents"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the agent: Linux"),
]

PASSPHRASE = "made-up member passphrase 0417"
WRONG = "made-up wrong member passphrase"
SECRET = "sk_test_MADEUP_Zq81wLm0Tv4Kp7Rx2Ny"
READ = (
    "import hashlib\nprint(hashlib.sha256(zingyConn.apikey('stripe').secret1.encode()).hexdigest())"
)


class Member:
    """``zingy-nb`` and kernels as one database role, on its own home."""

    def __init__(self, server: PgServer, db: str, role: str, home: Path) -> None:
        self.url, self.home, self.db = server.url(role, db), home, db

    def env(self, flow: str | None = None) -> dict[str, str]:
        return kernel_env(
            flow=flow, home=self.home, ZINGY_NB_STORE_URL=self.url,
            ZINGY_NB_MASTER_KEY=None, ZINGY_NB_MEMBER_KEY=None,
        )  # fmt: skip

    def run(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, *args], input=stdin, env={**self.env(), **env}, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip

    def ok(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        done = self.run(*args, stdin=stdin)
        assert done.returncode == 0, done.stderr
        return done


@pytest.fixture
def alice(pg_server: PgServer, tmp_path: Path) -> Iterator[Member]:
    db = pg_server.new_database()
    member = Member(pg_server, db, "alice", tmp_path / "alice")
    member.ok("team", "join")
    member.ok("profiles", "set", "stripe", "--stdin", stdin=SECRET + "\n")
    yield member
    pg_server.drop_database(db)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_locked_member_key_lives_only_wrapped_and_in_the_agent(alice: Member) -> None:
    key_file = alice.home / "member-alice.key"
    key_text = key_file.read_text().strip()
    said = alice.ok("key", "protect", "--stdin", stdin=PASSPHRASE + "\n").stderr
    assert "Protected" in said and "team join --new-key" in said
    wrapped = alice.home / "member-alice.key.locked"
    assert not key_file.exists()
    assert stat.S_IMODE(wrapped.stat().st_mode) == 0o600
    files = "".join(p.read_text(errors="replace") for p in alice.home.rglob("*") if p.is_file())
    secrets = {"member key": key_text, "passphrase": PASSPHRASE, "value": SECRET}
    assert not scanner.find(files, secrets, "the member's home")
    status = json.loads(alice.ok("key", "status", "--json").stdout)
    assert status["key_source"] == "locked" and status["problem"] is None, status
    assert "passphrase" in status["key_location"]
    with running_kernel(alice.env("cloud-flow")) as kernel:
        kernel.ok("%load_ext zingy_nb")
        assert kernel.ok(READ).stdout.strip() == digest(SECRET)
        assert "forgot the key" in alice.ok("lock").stderr
        refused = kernel.run(READ)  # its warm copy went with the lock
        assert refused.ename == "StoreLockedError", refused.describe()
        assert "member key" in refused.evalue and "zingy-nb unlock" in refused.evalue
        done = alice.run("profiles", "set", "other", "--stdin", stdin="MADEUP-other-2\n")
        assert done.returncode == 1 and "locked with a passphrase" in done.stderr
        wrong = alice.run("unlock", "--stdin", stdin=WRONG + "\n")
        assert wrong.returncode == 1 and "does not unlock" in wrong.stderr
        assert kernel.run(READ).ename == "StoreLockedError"
        assert wrapped.read_text() and not key_file.exists()  # nothing changed
        assert "Unlocked" in alice.ok("unlock", "--stdin", stdin=PASSPHRASE + "\n").stderr
        assert kernel.ok(READ).stdout.strip() == digest(SECRET)
    audit = json.loads(alice.ok("audit", "--json").stdout)
    events = {(e["outcome"], e["count"]) for e in audit if e["profile"] == "<key>"}
    assert {("wrong-passphrase", 1), ("protected", 1), ("locked", 1), ("unlocked", 1)} <= events


def test_a_locked_member_key_is_bound_to_its_home_and_role(alice: Member, tmp_path: Path) -> None:
    """The wrapped file copied to another home or role does not unwrap there."""
    alice.ok("key", "protect", "--stdin", stdin=PASSPHRASE + "\n")
    alice.ok("lock")
    wrapped = MemberKeyLocator(alice.home, "alice").locked_file
    assert locked.unwrap(wrapped, MemberKeyLocator(alice.home, "alice").bound, PASSPHRASE, None)
    for other in (MemberKeyLocator(tmp_path / "elsewhere", "alice"),
                  MemberKeyLocator(alice.home, "bob")):  # fmt: skip
        with pytest.raises(WrongPassphraseError):
            locked.unwrap(wrapped, other.bound, PASSPHRASE, None)


def test_a_spawner_given_member_key_cannot_be_protected(
    alice: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key in ZINGY_NB_MEMBER_KEY is the spawner's to keep: the vault (in the agent
    the spawner's environment starts) refuses to lock it, and changes nothing."""
    key = (alice.home / "member-alice.key").read_text().strip()
    monkeypatch.setenv("ZINGY_NB_MEMBER_KEY", key)
    profiles = Profiles(alice.home, store=MemberKeyStore(alice.url))
    try:
        with pytest.raises(KeyUnavailableError, match="ZINGY_NB_MEMBER_KEY") as info:
            profiles.protect_key(PASSPHRASE)
    finally:
        profiles.store.close()
    assert key not in str(info.value)
    assert (alice.home / "member-alice.key").exists()
    assert not (alice.home / "member-alice.key.locked").exists()


def test_zingy_nb_run_uses_the_unlocked_agent_or_says_to_unlock(
    alice: Member, tmp_path: Path
) -> None:
    from tests.test_runtime_run import CLOUD, notebook

    prefix = tmp_path / "prefix"
    alice.ok("kernels", "install", "--prefix", str(prefix))
    spec = {"JUPYTER_PATH": str(prefix / "share" / "jupyter")}
    nb = notebook(tmp_path / "job.ipynb", CLOUD, "print(len(zingyConn.apikey('stripe').secret1))")
    out = tmp_path / "out.ipynb"
    alice.ok("key", "protect", "--stdin", stdin=PASSPHRASE + "\n")
    ran = alice.run("run", str(nb), "--output", str(out), **spec)
    assert ran.returncode == 0, ran.stderr
    assert f"{len(SECRET)}\n" in out.read_text().replace("\\n", "\n")
    alice.ok("lock")
    refused = alice.run("run", str(nb), **spec)  # no terminal to ask on: refused at once
    assert refused.returncode == 2 and "zingy-nb unlock" in refused.stderr, refused.stderr
    assert "ZINGY_NB_MEMBER_KEY" in refused.stderr


def test_a_member_key_left_unused_locks_itself(alice: Member) -> None:
    alice.ok("key", "protect", "--stdin", "--lock-after", "8", stdin=PASSPHRASE + "\n")
    assert json.loads(alice.ok("key", "status", "--json").stdout)["problem"] is None
    deadline = time.monotonic() + 60
    while True:  # no request that needs the key: after 8 s the agent forgets it (8: a
        # loaded machine may take seconds to start the status command just above)
        status = json.loads(alice.run("key", "status", "--json").stdout)
        if status["problem"] is not None:
            break
        assert time.monotonic() < deadline, "the agent never locked the unused member key"
        time.sleep(1)
    assert "locked with a passphrase" in status["problem"]
    audit = json.loads(alice.ok("audit", "--json").stdout)
    assert ("<key>", "locked-when-idle") in {(e["profile"], e["outcome"]) for e in audit}
