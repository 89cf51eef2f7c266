"""No save that nobody can read, and team errors that name what is missing (issue 20).

Real PostgreSQL (tests/postgres.py), through the ``zingy-nb`` command where a person
would type it. The rule: a write after which its writer, or a member who could read the
profile until then, could not read it is refused before it commits, nothing changed.
A superuser is refused at ``team join`` and at every write (superusers bypass
row-level security, and ``readers`` never wraps for them); a role outside
``zingy_nb_member`` is told so, with the ``GRANT`` an admin runs.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import agents, postgres
from tests.postgres import Backend, PgServer
from zingy_nb import profiles as profiles_module
from zingy_nb.errors import LockoutError, ProfileNotFoundError, TeamRoleError
from zingy_nb.paths import HOME_ENV, MEMBER_KEY_ENV
from zingy_nb.profiles import Profiles
from zingy_nb.store.postgres_members import MemberKeyStore
from zingy_nb.vault.member import NoWrapError
from zingy_nb.vault.member_custody import MemberKeyLocator
from zingy_nb.vault.member_keys import MemberKeyPair, member_statement

#: Agents the CLI starts on demand get a runtime folder of each test's, and stop with it.
own_agents = agents.own_agents
pytestmark = pytest.mark.usefixtures("own_agents")

pg_server = postgres.pg_server

STRIPE = "sk_test_MADEUP_unreadable_save_4eC39HqLyjWD"
AWS = "aws_MADEUP_unreadable_save_wJalrXUtnFEMI_K7"
OUTSIDER = "zz_outsider"  # a login role with CONNECT on the database, not a member
OUTSIDER_PW = "made-up-outsider-pw-7"


class Team:
    """One fresh database, a shared home for every role, and the CLI as any role."""

    def __init__(self, server: PgServer, db: str, home: Path, cli: Callable) -> None:
        self.server, self.db, self.home, self.cli = server, db, home, cli
        self.raw = Backend("postgres", home, None, server, db)

    def url(self, role: str) -> str:
        password = OUTSIDER_PW if role == OUTSIDER else None
        return self.server.url(role, self.db, password=password)

    def profiles(self, role: str) -> Profiles:
        """A new process's view of the store as ``role``."""
        return Profiles(self.home, store=MemberKeyStore(self.url(role)))

    def set(self, role: str, name: str, value: str) -> tuple[int, str, str]:
        """``printf '%s\\n' "$VALUE" | zingy-nb profiles set NAME --stdin`` as ``role``."""
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("sys.stdin", io.StringIO(value + "\n"))
            return self.cli(role, "profiles", "set", name, "--stdin")

    def read(self, role: str, name: str) -> str:
        p = self.profiles(role)
        try:
            return p.secrets(name, caller="test")[0]
        finally:
            p.store.close()

    def wraps(self) -> list[tuple[str, str]]:
        return [
            (str(r), str(fp))
            for r, fp in self.server.sql(
                "SELECT role, fingerprint FROM zingy_nb.wraps ORDER BY role", db=self.db
            )
        ]


@pytest.fixture
def team(
    pg_server: PgServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Team]:
    home = tmp_path / "home"
    monkeypatch.setenv(HOME_ENV, str(home))
    monkeypatch.delenv(MEMBER_KEY_ENV, raising=False)
    monkeypatch.delenv("ZINGY_NB_MASTER_KEY", raising=False)
    db = pg_server.new_database()
    found = Team(pg_server, db, home, None)  # type: ignore[arg-type]
    found.cli = postgres.cli_as(found.url, monkeypatch, capsys)
    try:
        yield found
    finally:
        profiles_module._instances.clear()
        pg_server.drop_database(db)


# -- superusers ---------------------------------------------------------------------------
def test_a_superuser_cannot_join(team: Team) -> None:
    """The `postgres` superuser of most installs: `team join` is refused with why and
    which role to use instead; nothing is written, no key is made."""
    before = team.raw.tables()
    code, out, err = team.cli("postgres", "team", "join")
    assert code == 1 and out == ""
    assert "'postgres' is a PostgreSQL superuser" in err
    assert "bypass row-level security" in err
    assert "a dedicated role that is a member of zingy_nb_member" in err
    assert "GRANT zingy_nb_member TO NAME" in err and "Nothing was changed" in err
    assert team.raw.tables() == before  # no store record, no member row
    assert MemberKeyLocator(team.home, "postgres").load() is None  # no key made either


def test_a_superuser_cannot_save_even_with_a_published_key(team: Team) -> None:
    """A superuser that published a key all the same (as zingy-nb let it before): the
    save, which would be wrapped for nobody, is refused before anything is written, and
    nobody meets a NoWrapError after."""
    store = MemberKeyStore(team.url("postgres"))
    try:
        pair = MemberKeyPair.generate()
        from zingy_nb.store.base import StoreInfo

        store.create(StoreInfo("a" * 32, "", b""))
        store.publish(pair.public, pair.sign(member_statement("a" * 32, "postgres", pair.public)))
    finally:
        store.close()
    team.home.mkdir(parents=True, exist_ok=True)
    MemberKeyLocator(team.home, "postgres").save(pair)
    before = team.raw.tables()
    code, _, err = team.set("postgres", "teamkey", STRIPE)
    assert code == 1 and "'postgres' is a PostgreSQL superuser" in err
    assert STRIPE not in err
    assert team.raw.tables() == before
    assert team.raw.tables()["profiles"] == [] and team.raw.tables()["wraps"] == []
    # Nothing half-saved: every reader finds no profile (never a NoWrapError).
    team.server.join(team.db, team.home, ["alice"])
    with pytest.raises(ProfileNotFoundError):
        team.read("alice", "teamkey")
    with pytest.raises(ProfileNotFoundError):
        team.read("postgres", "teamkey")
    with pytest.raises(TeamRoleError, match="superuser"):
        team.profiles("postgres").set("teamkey", STRIPE)  # the API refuses the same way
    # A member's save right after works and is read back by its writer; the superuser
    # cannot delete it through zingy-nb either (every write of theirs is refused).
    code, _, err = team.set("alice", "teamkey", STRIPE)
    assert code == 0, err
    assert team.read("alice", "teamkey") == STRIPE
    code, _, err = team.cli("postgres", "profiles", "delete", "teamkey")
    assert code == 1 and "superuser" in err
    assert team.read("alice", "teamkey") == STRIPE


# -- a role outside zingy_nb_member -------------------------------------------------------
@pytest.fixture
def outsider(team: Team) -> Iterator[str]:
    server = team.server
    server.sql(f"DROP ROLE IF EXISTS {OUTSIDER}")
    server.sql(f"CREATE ROLE {OUTSIDER} LOGIN PASSWORD '{OUTSIDER_PW}'")
    server.sql(f"GRANT CONNECT ON DATABASE {team.db} TO {OUTSIDER}")
    try:
        yield OUTSIDER
    finally:
        profiles_module._instances.clear()
        server.drop_database(team.db)  # its connections go, then the role can
        server.sql(f"DROP ROLE {OUTSIDER}")


def test_a_role_outside_zingy_nb_member_is_told_what_is_missing(team: Team, outsider: str) -> None:
    team.server.join(team.db, team.home, ["alice"])
    code, _, err = team.set("alice", "stripe", STRIPE)
    assert code == 0, err
    before = team.raw.tables()
    for argv in (
        ("team", "join"),
        ("team", "members"),
        ("team", "sync"),
        ("profiles", "list"),
    ):
        code, out, err = team.cli(outsider, *argv)
        assert code == 1 and out == "", argv
        assert f"Role '{outsider}' is not a member of the team store" in err, argv
        assert f"An admin of the database runs `GRANT zingy_nb_member TO {outsider};`" in err
        assert "owner" not in err, argv  # no hint about a profile's owner
    code, _, err = team.set(outsider, "mine", AWS)
    assert code == 1 and f"GRANT zingy_nb_member TO {outsider};" in err and AWS not in err
    assert team.raw.tables() == before
    assert MemberKeyLocator(team.home, outsider).load() is None

    # The admin runs the GRANT the message names; then the same commands work.
    team.server.sql(f"GRANT zingy_nb_member TO {outsider}")
    code, _, err = team.cli(outsider, "team", "join")
    assert code == 0, err
    code, _, err = team.set(outsider, "mine", AWS)
    assert code == 0, err
    assert team.read(outsider, "mine") == AWS


# -- granting to a role that has not joined -----------------------------------------------
def test_granting_to_a_role_that_has_not_joined_names_it_and_changes_nothing(
    team: Team,
) -> None:
    code, out, err = team.cli("alice", "team", "members")  # before anyone joined
    assert code == 0 and out == "" and "Nobody has joined this team store yet" in err
    team.server.join(team.db, team.home, ["alice"])
    assert team.set("alice", "stripe", STRIPE)[0] == 0
    before = team.raw.tables()
    code, _, err = team.cli("alice", "profiles", "grant", "stripe", "bob", "read")
    assert code == 1
    assert "<hidden>" not in err
    assert "'bob' has not joined the team store" in err
    assert "bob runs `zingy-nb team join` first, then you grant again" in err
    assert "Nothing was changed" in err
    assert team.raw.tables() == before
    # A role that does not exist is not named: it may be a secret typed in its place.
    code, _, err = team.cli("alice", "profiles", "grant", "stripe", AWS, "read")
    assert code == 1 and AWS not in err and "<hidden>" in err
    # The documented order: bob joins, then the grant works.
    assert team.cli("bob", "team", "join")[0] == 0
    code, _, err = team.cli("alice", "profiles", "grant", "stripe", "bob", "read")
    assert code == 0, err
    assert team.read("bob", "stripe") == STRIPE


# -- a writer or a reader who would lose access -------------------------------------------
def test_a_writer_whose_own_key_is_not_trusted_here_cannot_save(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alice joined from this home, then replaced her key from another machine; her
    spawner now gives this home the new key. Her save would be one she cannot read
    (her own signature would be refused here): refused, until she confirms the key."""
    team.server.join(team.db, team.home, ["alice", "dana"])
    assert team.set("alice", "stripe", STRIPE)[0] == 0
    elsewhere = tmp_path / "other-machine"
    monkeypatch.setenv(HOME_ENV, str(elsewhere))
    code, _, err = team.cli("alice", "team", "join", "--new-key")
    assert code == 0, err
    new_key = MemberKeyLocator(elsewhere, "alice").load()
    assert new_key is not None
    monkeypatch.setenv(HOME_ENV, str(team.home))
    monkeypatch.setenv(MEMBER_KEY_ENV, new_key.pair.encode())
    before = team.raw.tables()
    code, _, err = team.set("alice", "aws", AWS)
    assert code == 1
    assert "afterwards you (alice) could not read it yourself" in err
    assert f"zingy-nb team trust alice {new_key.pair.fingerprint}" in err
    assert "Nothing was changed" in err and AWS not in err
    assert team.raw.tables() == before
    with pytest.raises(LockoutError):
        team.profiles("alice").set("stripe", AWS)  # replacing needs no read: refused too
    assert team.raw.tables() == before
    # She confirms her own new key here; the save goes through and she reads it back.
    code, _, err = team.cli("alice", "team", "trust", "alice", new_key.pair.fingerprint)
    assert code == 0, err
    assert team.set("alice", "aws", AWS)[0] == 0
    assert team.read("alice", "aws") == AWS


def test_a_save_that_would_drop_a_readers_wrap_is_refused(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bob replaced his key; dana (an admin) confirmed it and re-wrapped for him, so bob
    reads stripe again. alice has not confirmed bob's new key yet: her update, grant or
    sync would re-seal stripe without a wrap for bob, so they are refused (the sync
    leaves stripe as it was) until she trusts his key."""
    team.server.join(team.db, team.home, ["alice", "bob", "carol", "dana"])
    assert team.set("alice", "stripe", STRIPE)[0] == 0
    assert team.cli("alice", "profiles", "grant", "stripe", "bob", "read")[0] == 0
    assert team.read("bob", "stripe") == STRIPE  # bob pins alice
    code, _, err = team.cli("bob", "team", "join", "--new-key")
    assert code == 0, err
    bob_fp = MemberKeyLocator(team.home, "bob").load().pair.fingerprint  # type: ignore[union-attr]
    with pytest.raises(NoWrapError):
        team.read("bob", "stripe")
    # dana sees bob's key for the first time (trusts it on sight) and re-wraps.
    code, _, err = team.cli("dana", "team", "sync")
    assert code == 0, err
    assert team.read("bob", "stripe") == STRIPE
    before = team.raw.tables()
    assert ("bob", bob_fp) in team.wraps()

    with pytest.raises(LockoutError) as refused:
        team.profiles("alice").update("stripe", {"secret2": AWS})
    message = str(refused.value)
    assert "bob could read it until now but could not afterwards" in message
    assert "you do not trust 'bob''s member key" in message
    assert f"zingy-nb team trust bob {bob_fp}" in message and "Nothing was changed" in message
    assert team.raw.tables() == before
    code, _, err = team.cli("alice", "profiles", "grant", "stripe", "carol", "read")
    assert code == 1 and "bob could read it until now" in err
    assert team.raw.tables() == before
    code, _, err = team.cli("alice", "team", "sync")
    assert code == 0, err
    assert "stripe: left as it was." in err and "Left as they were (see above): stripe" in err
    assert team.raw.tables() == before
    assert team.read("bob", "stripe") == STRIPE

    # After comparing fingerprints with bob, alice confirms his key: her update goes
    # through, wrapped for him.
    code, _, err = team.cli("alice", "team", "trust", "bob", bob_fp)
    assert code == 0, err
    team.profiles("alice").update("stripe", {"secret2": AWS})
    p = team.profiles("bob")
    try:
        assert p.secrets("stripe", caller="test") == (STRIPE, AWS, None, None)
    finally:
        p.store.close()


def test_a_revoke_still_rotates_out_whoever_it_removes(team: Team) -> None:
    """The rule protects readers who stay readers: a revoked role may lose its wrap,
    even one whose key the revoker does not trust."""
    team.server.join(team.db, team.home, ["alice", "bob"])
    assert team.set("alice", "stripe", STRIPE)[0] == 0
    assert team.cli("alice", "profiles", "grant", "stripe", "bob", "read")[0] == 0
    assert team.cli("bob", "team", "join", "--new-key")[0] == 0
    code, _, err = team.cli("alice", "profiles", "revoke", "stripe", "bob")
    assert code == 0, err
    assert [r for r, _ in team.wraps()] == ["alice"]
    with pytest.raises(ProfileNotFoundError):
        team.read("bob", "stripe")
