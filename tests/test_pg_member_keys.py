"""A team store without a shared master key: member keys, data keys, wraps, signatures.

Real PostgreSQL (tests/postgres.py); each member (alice, bob, carol; dana is a
zingy_nb_admin member) has their own ``Profiles`` and their own member key, kept in a
0600 key file per role in a shared throwaway home (the pytest process has no keyring).
No ``ZINGY_NB_MASTER_KEY`` is set, except where the migration from it is tested.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import postgres
from tests.postgres import PgServer
from zingy_nb.cli import main
from zingy_nb.errors import (
    DecryptionError,
    KeyUnavailableError,
    MemberKeyError,
    ProfileNotFoundError,
    SignatureError,
    UntrustedKeyError,
)
from zingy_nb.profiles import Profiles
from zingy_nb.store.postgres import PostgresStore
from zingy_nb.store.postgres_members import MemberKeyStore
from zingy_nb.vault.crypto import Cipher, encode_key, new_key
from zingy_nb.vault.member import NoWrapError
from zingy_nb.vault.member_custody import MemberKeyLocator
from zingy_nb.vault.member_keys import MemberKeyPair, unwrap_data_key, wrap_context

pg_server = postgres.pg_server

STRIPE = "sk_test_MADEUP_member_keys_4eC39HqLyjWDarjt"
AWS = "aws_MADEUP_member_keys_wJalrXUtnFEMI_K7MDENG"
GITHUB = "ghp_MADEUP_member_keys_16C7e42F292c6912E771"


class Team:
    def __init__(self, server: PgServer, db: str, home: Path) -> None:
        self.server, self.db, self.home = server, db, home
        self._open: dict[str, Profiles] = {}

    def url(self, role: str) -> str:
        return self.server.url(role, self.db)

    def __call__(self, role: str) -> Profiles:
        if role not in self._open:
            self._open[role] = Profiles(self.home, store=MemberKeyStore(self.url(role)))
        return self._open[role]

    def fresh(self, role: str) -> Profiles:
        """A new process's view (no cache), same home and key."""
        old = self._open.pop(role, None)
        if old is not None:
            old.store.close()
        return self(role)

    def join(self, *roles: str) -> None:
        for role in roles:
            assert self(role).vault is not None
            self(role).vault.join()

    def private_key(self, role: str) -> MemberKeyPair:
        found = MemberKeyLocator(self.home, role).load()
        assert found is not None
        return found.pair

    def sql(self, statement: str, role: str = "postgres") -> list[tuple]:
        return self.server.sql(statement, db=self.db, role=role)

    def close(self) -> None:
        for p in self._open.values():
            p.store.close()


def member_key_database(server: PgServer) -> str:
    """A fresh database at the member-key schema (created by its owner, team_admin)."""
    return server.new_database()


@pytest.fixture
def team(pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Team]:
    monkeypatch.delenv("ZINGY_NB_MASTER_KEY", raising=False)
    monkeypatch.delenv("ZINGY_NB_MEMBER_KEY", raising=False)
    db = member_key_database(pg_server)
    found = Team(pg_server, db, tmp_path / "home")
    yield found
    found.close()
    pg_server.drop_database(db)


# -- joining ----------------------------------------------------------------------------
def test_saving_before_joining_is_refused_with_the_join_hint(team: Team) -> None:
    with pytest.raises(MemberKeyError, match="zingy-nb team join"):
        team("alice").set("stripe", STRIPE)
    team.join("alice")
    team("alice").set("stripe", STRIPE)
    assert team.fresh("alice").secrets("stripe", caller="test") == (STRIPE, None, None, None)


def test_owner_and_admins_get_wraps_others_see_nothing(team: Team) -> None:
    team.join("alice", "bob", "dana")
    team("alice").set("stripe", STRIPE)
    wraps = team.sql("SELECT role FROM zingy_nb.wraps ORDER BY role")
    assert wraps == [("alice",), ("dana",)]
    assert team("dana").secrets("stripe", caller="test")[0] == STRIPE
    with pytest.raises(ProfileNotFoundError):
        team("bob").secrets("stripe", caller="test")


def test_grant_wraps_and_revoke_rotates(team: Team) -> None:
    team.join("alice", "bob", "carol")
    alice = team("alice")
    alice.set("stripe", STRIPE, AWS)
    alice.store.grant("stripe", "bob", "read")
    alice.store.grant("stripe", "carol", "read")
    assert team("bob").secrets("stripe", caller="test") == (STRIPE, AWS, None, None)
    before_blob = team.sql("SELECT blob, key_id FROM zingy_nb.profiles")[0]
    before_wraps = dict(team.sql("SELECT role, wrap FROM zingy_nb.wraps"))
    assert set(before_wraps) == {"alice", "bob", "carol"}
    assert alice.store.revoke("stripe", "bob")
    after_blob = team.sql("SELECT blob, key_id FROM zingy_nb.profiles")[0]
    after_wraps = dict(team.sql("SELECT role, wrap FROM zingy_nb.wraps"))
    assert set(after_wraps) == {"alice", "carol"}
    assert after_blob[0] != before_blob[0] and after_blob[1] != before_blob[1]
    assert all(after_wraps[r] != before_wraps[r] for r in after_wraps)
    # bob's old wrap opens the old data key, which opens nothing written since.
    bob = team.private_key("bob")
    store_id = team.sql("SELECT value FROM zingy_nb.store_meta WHERE key = 'store_id'")[0][0]
    old_key = unwrap_data_key(
        bytes(before_wraps["bob"]),
        bob,
        wrap_context(bytes(store_id).decode(), "stripe", before_blob[1], "bob", bob.fingerprint),
        "stripe",
    )
    with pytest.raises(DecryptionError):
        Cipher(old_key).open("stripe", bytes(after_blob[0]))
    with pytest.raises(ProfileNotFoundError):
        team.fresh("bob").secrets("stripe", caller="test")
    assert team.fresh("carol").secrets("stripe", caller="test")[0] == STRIPE


def test_a_writer_updates_and_renames_for_readers_it_cannot_list(team: Team) -> None:
    """bob (write) cannot see carol's grant, yet his re-seal wraps for her."""
    team.join("alice", "bob", "carol")
    team("alice").set("stripe", STRIPE)
    team("alice").store.grant("stripe", "bob", "write")
    team("alice").store.grant("stripe", "carol", "read")
    team("bob").update("stripe", {"secret2": AWS})
    assert team.fresh("carol").secrets("stripe", caller="test") == (STRIPE, AWS, None, None)
    team("bob").rename("stripe", "payments")
    assert team.fresh("carol").secrets("payments", caller="test") == (STRIPE, AWS, None, None)
    signers = team.sql("SELECT signer FROM zingy_nb.profiles")
    assert signers == [("bob",)]
    assert {r for (r,) in team.sql("SELECT wrapped_by FROM zingy_nb.wraps")} == {"bob"}


def test_a_role_that_has_not_joined_cannot_be_granted(team: Team) -> None:
    team.join("alice")
    team("alice").set("stripe", STRIPE)
    before = team.sql("SELECT blob FROM zingy_nb.profiles")
    with pytest.raises(MemberKeyError, match="zingy-nb team join"):
        team("alice").store.grant("stripe", "bob", "read")
    assert team.sql("SELECT count(*) FROM zingy_nb.grants") == [(0,)]
    assert team.sql("SELECT blob FROM zingy_nb.profiles") == before
    team.join("bob")
    team("alice").store.grant("stripe", "bob", "read")
    assert team("bob").secrets("stripe", caller="test")[0] == STRIPE


def test_a_group_grant_wraps_for_each_member_who_joined(team: Team) -> None:
    team.sql("DROP ROLE IF EXISTS mk_analysts")
    team.sql("CREATE ROLE mk_analysts NOLOGIN")
    try:
        team.sql("GRANT mk_analysts TO bob, carol")
        team.join("alice", "bob")
        team("alice").set("warehouse", GITHUB)
        team("alice").store.grant("warehouse", "mk_analysts", "read")
        roles = {r for (r,) in team.sql("SELECT role FROM zingy_nb.wraps")}
        assert roles == {"alice", "bob"}
        assert team("bob").secrets("warehouse", caller="test")[0] == GITHUB
        with pytest.raises(MemberKeyError, match="team join"):
            team("carol").secrets("warehouse", caller="test")
        # carol joins later: `team sync` by a manager wraps for her.
        team.join("carol")
        assert team("alice").vault.out_of_sync() == ["warehouse"]
        report = team("alice").vault.sync()
        assert [r.name for r in report] == ["warehouse"]
        assert team.fresh("carol").secrets("warehouse", caller="test")[0] == GITHUB
        # bob leaves the group in plain SQL: sync rotates him out.
        team.sql("REVOKE mk_analysts FROM bob")
        assert team("alice").vault.out_of_sync() == ["warehouse"]
        team("alice").vault.sync()
        assert {r for (r,) in team.sql("SELECT role FROM zingy_nb.wraps")} == {"alice", "carol"}
        assert team("alice").vault.out_of_sync() == []
    finally:
        team.close()
        team._open.clear()
        team.sql("DROP OWNED BY mk_analysts")
        team.sql("DROP ROLE mk_analysts")


def test_master_key_commands_say_what_replaces_them(team: Team) -> None:
    team.join("alice")
    for call in (
        team("alice").key_status,
        team("alice").rotate_key,
        team("alice").export_key,
    ):
        with pytest.raises(KeyUnavailableError, match="team join"):
            call()


# -- what a stolen dump reveals ----------------------------------------------------------
def copy_tables(dump: bytes) -> dict[str, list[dict[str, object]]]:
    """The rows of every ``COPY`` block of a plain ``pg_dump``, bytea decoded."""
    tables: dict[str, list[dict[str, object]]] = {}
    lines = dump.decode("utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not (line.startswith("COPY ") and line.endswith("FROM stdin;")):
            continue
        table = line.split()[1]
        cols = [c.strip() for c in line[line.index("(") + 1 : line.index(")")].split(",")]
        rows = tables.setdefault(table, [])
        while lines[i] != "\\.":
            values: list[object] = []
            for field in lines[i].split("\t"):
                if field.startswith("\\\\x"):
                    values.append(bytes.fromhex(field[3:]))
                else:
                    values.append(None if field == "\\N" else field)
            rows.append(dict(zip(cols, values)))
            i += 1
    return tables


def open_with(tables: dict, store_id: str, key: MemberKeyPair) -> set[str]:
    """Every profile of the dump that ``key`` opens, trying every wrap row against every
    profile row, as recorded and relabelled for the key's holder."""
    opened = set()
    for p in tables["zingy_nb.profiles"]:
        for w in tables["zingy_nb.wraps"]:
            contexts = {
                (str(w["key_id"]), str(w["role"]), str(w["fingerprint"])),
                (str(w["key_id"]), str(w["role"]), key.fingerprint),
                (str(p["key_id"]), str(w["role"]), str(w["fingerprint"])),
            }
            for kid, role, fp in contexts:
                ctx = wrap_context(store_id, str(p["name"]), kid, role, fp)
                try:
                    data_key = unwrap_data_key(w["wrap"], key, ctx, "x")  # type: ignore[arg-type]
                    values = Cipher(data_key).open(str(p["name"]), p["blob"])  # type: ignore[arg-type]
                except DecryptionError:
                    continue
                opened.add(str(p["name"]))
                assert values[0] in (STRIPE, AWS, GITHUB, "carol_MADEUP_own_value_00000000")
    return opened


def test_a_dump_plus_bobs_key_opens_exactly_bobs_profiles(team: Team) -> None:
    team.join("alice", "bob", "carol", "dana")
    alice = team("alice")
    alice.set("stripe", STRIPE)
    alice.set("aws", AWS)
    alice.set("github", GITHUB)
    team("carol").set("carols", "carol_MADEUP_own_value_00000000")
    alice.store.grant("stripe", "bob", "read")
    alice.store.grant("github", "bob", "write")
    alice.store.grant("aws", "bob", "read")
    alice.store.revoke("aws", "bob")  # bob could read it once: not any more
    alice.store.grant("aws", "carol", "read")

    dump = team.server.dump(team.db)
    tables = copy_tables(dump)
    store_id = next(
        bytes(r["value"]).decode()  # type: ignore[arg-type]
        for r in tables["zingy_nb.store_meta"]
        if r["key"] == "store_id"
    )
    assert len(tables["zingy_nb.profiles"]) == 4 and len(tables["zingy_nb.wraps"]) >= 9
    assert open_with(tables, store_id, team.private_key("bob")) == {"stripe", "github"}
    assert open_with(tables, store_id, team.private_key("carol")) == {"aws", "carols"}
    everything = {"stripe", "aws", "github", "carols"}
    assert open_with(tables, store_id, team.private_key("dana")) == everything  # an admin
    # The dump alone: no plaintext, no data key, no private key in it, and no window of
    # its bytes (raw, or any bytea decoded) opens any blob.
    assert open_with(tables, store_id, MemberKeyPair.generate()) == set()
    for value in (STRIPE, AWS, GITHUB):
        assert value.encode() not in dump
    for role in ("alice", "bob", "carol", "dana"):
        assert team.private_key(role).encode().split(":")[1].encode() not in dump
    blobs = [(str(p["name"]), p["blob"]) for p in tables["zingy_nb.profiles"]]
    material = [dump] + [
        v for rows in tables.values() for r in rows for v in r.values() if isinstance(v, bytes)
    ]
    for data in material:
        for at in range(len(data) - 31):
            cipher = Cipher(bytes(data[at : at + 32]))
            for name, blob in blobs:
                with pytest.raises(DecryptionError):
                    cipher.open(name, blob)  # type: ignore[arg-type]


# -- authenticity: what someone who can only write rows cannot do -----------------------
def test_a_blob_moved_onto_another_profile_is_refused(team: Team) -> None:
    team.join("alice", "bob")
    alice = team("alice")
    alice.set("stripe", STRIPE)
    alice.set("aws", AWS)
    alice.store.grant("stripe", "bob", "read")
    alice.store.grant("aws", "bob", "read")
    team.sql(
        "UPDATE zingy_nb.profiles p SET blob = s.blob, key_id = s.key_id, "
        "signature = s.signature FROM zingy_nb.profiles s "
        "WHERE p.name = 'aws' AND s.name = 'stripe'"
    )
    with pytest.raises(SignatureError):
        team.fresh("bob").secrets("aws", caller="test")
    # A wrap altered by one byte is refused too.
    team.sql(
        "UPDATE zingy_nb.wraps SET wrap = overlay(wrap placing '\\x00'::bytea from 40 for 1) "
        "WHERE role = 'bob' AND profile_id = (SELECT id FROM zingy_nb.profiles "
        "WHERE name = 'stripe')"
    )
    with pytest.raises((SignatureError, DecryptionError)):
        team.fresh("bob").secrets("stripe", caller="test")


def plant(team: Team, name: str, value: str, as_role: str, forger: MemberKeyPair) -> None:
    """What a DBA can do: replace ``as_role``'s public key with their own and write a
    profile (and bob's wrap) signed with it."""
    from zingy_nb.store.base import utcnow
    from zingy_nb.vault.member_keys import (
        member_statement,
        new_data_key,
        profile_statement,
        wrap_data_key,
        wrap_statement,
    )
    from zingy_nb.vault.sealing import sealed_row

    store_id = bytes(
        team.sql("SELECT value FROM zingy_nb.store_meta WHERE key = 'store_id'")[0][0]
    ).decode()
    pub = forger.public
    team.sql(
        f"UPDATE zingy_nb.members SET enc_key = '\\x{pub.enc.hex()}', "
        f"sig_key = '\\x{pub.sig.hex()}', fingerprint = '{pub.fingerprint}', "
        f"self_signature = '\\x{forger.sign(member_statement(store_id, as_role, pub)).hex()}' "
        f"WHERE role = '{as_role}'"
    )
    data_key = new_data_key()
    cipher = Cipher(data_key)
    row = sealed_row(name, (value, None, None, None), utcnow(), utcnow(), cipher)
    sig = forger.sign(
        profile_statement(store_id, name, cipher.key_id, row.slots_mask, row.blob, as_role)
    )
    team.sql(
        f"UPDATE zingy_nb.profiles SET blob = '\\x{row.blob.hex()}', key_id = '{cipher.key_id}', "
        f"signer = '{as_role}', signature = '\\x{sig.hex()}', slots = {row.slots_mask} "
        f"WHERE name = '{name}'"
    )
    bob = team.private_key("bob").public
    ctx = wrap_context(store_id, name, cipher.key_id, "bob", bob.fingerprint)
    wrapped = wrap_data_key(data_key, bob, ctx)
    team.sql(
        f"UPDATE zingy_nb.wraps SET wrap = '\\x{wrapped.hex()}', key_id = '{cipher.key_id}', "
        f"wrapped_by = '{as_role}', "
        f"signature = '\\x{forger.sign(wrap_statement(ctx, wrapped, as_role)).hex()}' "
        f"WHERE role = 'bob'"
    )


def test_a_substituted_member_key_is_refused_until_trusted(team: Team) -> None:
    team.join("alice", "bob")
    team("alice").set("stripe", STRIPE)
    team("alice").store.grant("stripe", "bob", "read")
    assert team("bob").secrets("stripe", caller="test")[0] == STRIPE  # bob pins alice
    forger = MemberKeyPair.generate()
    plant(team, "stripe", "planted_MADEUP_value_by_the_dba_0000", "alice", forger)
    with pytest.raises(UntrustedKeyError, match="zingy-nb team trust alice"):
        team.fresh("bob").secrets("stripe", caller="test")
    # Confirming needs the fingerprint actually published.
    with pytest.raises(UntrustedKeyError):
        team("bob").vault.trust_member("alice", "SHA256:not-the-fingerprint")
    team("bob").vault.trust_member("alice", forger.fingerprint)  # an out-of-band "yes"
    assert team.fresh("bob").secrets("stripe", caller="test")[0].startswith("planted_MADEUP")


def test_a_new_admin_key_needs_an_existing_admins_endorsement(team: Team) -> None:
    team.join("alice", "dana")
    team("alice").set("stripe", STRIPE)  # alice pins dana (the first admin) on sight
    team.sql("GRANT zingy_nb_admin TO carol")  # the DBA makes a new admin
    try:
        team.join("carol")
        team("alice").set("aws", AWS)
        assert {
            r
            for (r,) in team.sql(
                "SELECT role FROM zingy_nb.wraps w JOIN "
                "zingy_nb.profiles p ON p.id = w.profile_id "
                "WHERE p.name = 'aws'"
            )
        } == {"alice", "dana"}
        with pytest.raises(NoWrapError):
            team("carol").secrets("aws", caller="test")
        carol_fp = team.private_key("carol").fingerprint
        assert team("dana").vault.trust_member("carol", carol_fp)  # dana endorses
        assert team("alice").vault.out_of_sync() == ["aws", "stripe"]
        team("alice").vault.sync()
        assert team.fresh("carol").secrets("aws", caller="test")[0] == AWS
    finally:
        team.sql("REVOKE zingy_nb_admin FROM carol")


# -- migration from the shared master key -----------------------------------------------
def test_store_upgrade_converts_a_shared_master_key_store(
    pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from zingy_nb import profiles as profiles_module
    from zingy_nb.errors import UnsupportedStoreVersionError

    monkeypatch.delenv("ZINGY_NB_MEMBER_KEY", raising=False)
    master = encode_key(new_key())
    monkeypatch.setenv("ZINGY_NB_MASTER_KEY", master)
    home = tmp_path / "home"
    monkeypatch.setenv("ZINGY_NB_HOME", str(home))
    db = pg_server.new_database(shared_key=True)  # as the previous version made it
    try:
        old = Profiles(home, store=PostgresStore(pg_server.url("alice", db)))
        old.set("stripe", STRIPE)
        old.set("aws", AWS)
        old.store.grant("stripe", "bob", "read")
        old.store.grant("stripe", "carol", "read")
        old.store.close()

        cli = postgres.cli_as(lambda role: pg_server.url(role, db), monkeypatch, capsys)
        code, _, err = cli("alice", "profiles", "list")  # this version, before the upgrade
        assert code != 0 and "still on the shared master key" in err
        assert "`zingy-nb store upgrade`" in err
        code, _, err = cli("team_admin", "store", "upgrade")
        assert code == 0, err
        assert "from version 2 to 5" in err and "zingy_nb_admin who holds that key" in err
        with pytest.raises(UnsupportedStoreVersionError):  # old code refuses the new schema
            PostgresStore(pg_server.url("alice", db)).list()
        assert cli("alice", "team", "join")[0] == 0
        with pytest.raises(KeyUnavailableError, match="old master key"):
            Profiles(home, store=MemberKeyStore(pg_server.url("alice", db))).secrets(
                "stripe", caller="test"
            )
        monkeypatch.delenv("ZINGY_NB_MASTER_KEY")
        code, out, err = cli("dana", "store", "upgrade")
        assert code != 0 and "needs its old master key" in err and "ZINGY_NB_MASTER_KEY" in err
        assert pg_server.sql("SELECT count(*) FROM zingy_nb.wraps", db=db) == [(0,)]
        monkeypatch.setenv("ZINGY_NB_MASTER_KEY", master)
        code, out, err = cli("dana", "store", "upgrade")
        assert code == 0, err
        assert "stripe: wrapped for alice, dana; pending (not joined yet): bob, carol" in out
        assert "aws: wrapped for alice, dana" in out
        assert pg_server.sql("SELECT key FROM zingy_nb.store_meta ORDER BY key", db=db) == [
            ("store_id",)
        ]
        monkeypatch.delenv("ZINGY_NB_MASTER_KEY")
        profiles_module._instances.clear()

        def member(role: str) -> Profiles:
            return Profiles(home, store=MemberKeyStore(pg_server.url(role, db)))

        assert member("alice").secrets("stripe", caller="test")[0] == STRIPE
        assert member("alice").secrets("aws", caller="test")[0] == AWS
        assert cli("bob", "team", "join")[0] == 0
        with pytest.raises(NoWrapError):
            member("bob").secrets("stripe", caller="test")
        code, _, err = cli("alice", "profiles", "grant", "stripe", "bob", "read")
        assert code == 0, err
        assert member("bob").secrets("stripe", caller="test")[0] == STRIPE
        code, out, err = cli("alice", "team", "members")
        assert code == 0 and "bob" in out and "dana (admin)" in out
        assert "carol" not in out  # never joined
    finally:
        profiles_module._instances.clear()
        pg_server.drop_database(db)


def test_writers_do_not_wrap_for_a_substituted_key(team: Team) -> None:
    team.join("alice", "bob")
    team("alice").set("stripe", STRIPE)
    team("alice").store.grant("stripe", "bob", "read")  # alice pins bob's key
    forger = MemberKeyPair.generate()
    from zingy_nb.vault.member_keys import member_statement

    store_id = team("alice").vault.store_id()
    pub = forger.public
    team.sql(
        f"UPDATE zingy_nb.members SET enc_key = '\\x{pub.enc.hex()}', "
        f"sig_key = '\\x{pub.sig.hex()}', fingerprint = '{pub.fingerprint}', "
        f"self_signature = '\\x{forger.sign(member_statement(store_id, 'bob', pub)).hex()}' "
        "WHERE role = 'bob'"
    )
    team("alice").update("stripe", {"secret2": AWS})
    wraps = team.sql("SELECT role, fingerprint FROM zingy_nb.wraps ORDER BY role")
    assert wraps == [("alice", team.private_key("alice").fingerprint)]
    with pytest.raises(UntrustedKeyError):
        team("alice").store.grant("stripe", "bob", "write")


def test_team_commands_and_a_spawner_provided_member_key(
    team: Team, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from zingy_nb import profiles as profiles_module

    monkeypatch.setenv("ZINGY_NB_HOME", str(team.home))
    cli = postgres.cli_as(team.url, monkeypatch, capsys)
    try:
        # bob's key comes from his spawner: nothing is written to his home.
        bob_key = MemberKeyPair.generate()
        monkeypatch.setenv("ZINGY_NB_MEMBER_KEY", bob_key.encode())
        code, out, err = cli("bob", "team", "join")
        assert code == 0, err
        assert bob_key.fingerprint in out and "ZINGY_NB_MEMBER_KEY" in out
        assert bob_key.encode() not in out + err
        assert not MemberKeyLocator(team.home, "bob").key_file.exists()
        monkeypatch.delenv("ZINGY_NB_MEMBER_KEY")
        code, out, err = cli("alice", "team", "join")
        assert code == 0, err
        alice_fp = team.private_key("alice").fingerprint
        assert alice_fp in out and "member-alice.key" in out
        code, out, err = cli("alice", "key", "status")  # the custody of her own key
        assert code == 0 and "member-alice.key" in out and alice_fp in out, err
        monkeypatch.setenv("ZINGY_NB_MEMBER_KEY", bob_key.encode())
        code, out, err = cli("bob", "team", "members")
        assert code == 0, err
        assert f"alice\t{alice_fp}" in out and f"bob\t{bob_key.fingerprint}" in out
        # bob re-joins with a new key: alice sees it as CHANGED until she trusts it.
        monkeypatch.delenv("ZINGY_NB_MEMBER_KEY")
        code, out, err = cli("alice", "team", "members")
        assert "trusted" in out
        code, out, err = cli("bob", "team", "join", "--new-key")
        assert code == 0, err
        assert "Your key changed" in err
        new_fp = team.private_key("bob").fingerprint
        code, out, err = cli("alice", "team", "members")
        assert f"bob\t{new_fp}" in out and "CHANGED" in out
        code, out, err = cli("alice", "team", "trust", "bob", new_fp)
        assert code == 0, err
        code, out, err = cli("alice", "team", "members")
        assert "CHANGED" not in out
        code, out, err = cli("alice", "team", "sync")
        assert code == 0, err
    finally:
        profiles_module._instances.clear()


def test_new_key_makes_a_key_for_a_spawner_and_publishes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.delenv("ZINGY_NB_STORE_URL", raising=False)  # needs no store at all
    monkeypatch.setenv("ZINGY_NB_HOME", str(tmp_path / "home"))
    out = tmp_path / "alice.key"
    assert main(["team", "new-key", "--output", str(out)]) == 0
    printed, err = capsys.readouterr()
    assert printed == "" and f"written to {out} (mode 0600)" in err
    assert out.stat().st_mode & 0o777 == 0o600
    pair = MemberKeyPair.decode(out.read_text(), where=str(out))
    assert f"fingerprint: {pair.fingerprint}" in err and "team join" in err
    assert main(["team", "new-key"]) == 0
    printed, err = capsys.readouterr()
    other = MemberKeyPair.decode(printed, where="stdout")
    assert other.fingerprint != pair.fingerprint and printed.strip() not in err
    assert not (tmp_path / "home").exists()  # nothing kept, nothing published
    # in a Jupyter kernel (`!zingy-nb team new-key` in a cell) only --output is allowed
    monkeypatch.setenv("JPY_PARENT_PID", "1")
    assert main(["team", "new-key"]) == 1
    printed, err = capsys.readouterr()
    assert printed == "" and "--output FILE" in err and "zingy-nb-member-key" not in err
    assert main(["team", "new-key", "--output", str(tmp_path / "in-kernel.key")]) == 0
    assert (tmp_path / "in-kernel.key").stat().st_mode & 0o777 == 0o600


def test_a_reader_without_a_key_pins_nothing(team: Team, tmp_path: Path) -> None:
    team.join("alice", "bob")
    team("alice").set("stripe", STRIPE)
    team("alice").store.grant("stripe", "bob", "read")
    elsewhere = tmp_path / "a-fresh-home"  # bob on a machine where he never joined
    bob = Profiles(elsewhere, store=MemberKeyStore(team.url("bob")))
    try:
        with pytest.raises(MemberKeyError, match="zingy-nb team join"):
            bob.secrets("stripe", caller="test")
    finally:
        bob.store.close()
    assert not elsewhere.exists()  # no trust pinned by a process that could read nothing
