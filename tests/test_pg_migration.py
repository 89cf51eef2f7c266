"""A team store made by the shared-key version of zingy-nb, converted by this one.

``tests/data/shared-key-store.sql`` is a ``pg_dump`` of a store that the previous
zingy-nb (commit c456e1f, schema version 2: every value under one team master key) made
and used: alice saved ``stripe`` and ``aws`` and granted bob ``read`` on stripe and carol
``write`` on aws; carol saved ``github``. It is restored as a DBA restores a backup, then
taken through the documented steps (docs/teams.md, "Migration from the shared master
key"): the owner upgrades the schema, members join, an admin holding the old key
converts, and every member reads exactly what their grants say, with no master key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import postgres
from tests.postgres import MEMBERS, PgServer
from zingy_nb import profiles as profiles_module
from zingy_nb.errors import ProfileNotFoundError
from zingy_nb.profiles import Profiles

pg_server = postgres.pg_server

DUMP = Path(__file__).parent / "data" / "shared-key-store.sql"
#: The made-up team master key the dump's profiles are sealed under.
OLD_MASTER_KEY = "663WeXDjLLnGYxdFpZjLIogoQkJ4_DfKt6DK1RWwaJ8="
STRIPE = ("sk_test_MADEUP_shared_key_era_4eC39HqLyjW", "whsec_MADEUP_shared_era_0001", None, None)
AWS = ("aws_MADEUP_shared_key_era_wJalrXUtnFEMI_K7", None, None, "us-east-1")
GITHUB = ("ghp_MADEUP_shared_key_era_16C7e42F292c69", None, None, None)


@pytest.fixture
def restored(pg_server: PgServer) -> Iterator[str]:
    """An empty database owned by team_admin with the dump loaded into it."""
    pg_server.drop_database(pg_server.new_database())  # the cluster's zingy-nb roles exist
    db = "restored_shared_key"
    pg_server.sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    pg_server.sql(f"CREATE DATABASE {db} OWNER team_admin")
    pg_server.sql(f"REVOKE ALL ON DATABASE {db} FROM PUBLIC")
    pg_server.sql(f"GRANT CONNECT ON DATABASE {db} TO {', '.join(MEMBERS)}")
    pg_server.restore(db, DUMP)
    yield db
    profiles_module._instances.clear()
    pg_server.drop_database(db)


def test_a_dump_of_the_shared_key_version_is_converted_and_read_by_grant(
    pg_server: PgServer,
    restored: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = restored
    home = tmp_path / "home"
    monkeypatch.setenv("ZINGY_NB_HOME", str(home))
    monkeypatch.delenv("ZINGY_NB_MEMBER_KEY", raising=False)
    monkeypatch.delenv("ZINGY_NB_MASTER_KEY", raising=False)
    assert pg_server.sql("SELECT max(version) FROM zingy_nb.schema_version", db=db) == [(2,)]
    blobs_before = dict(pg_server.sql("SELECT name, blob FROM zingy_nb.profiles", db=db))

    cli = postgres.cli_as(lambda role: pg_server.url(role, db), monkeypatch, capsys)
    # this zingy-nb on the old store: a clear refusal naming the steps, nothing changed
    code, _, err = cli("alice", "profiles", "show", "stripe")
    assert code == 1 and "still on the shared master key" in err and "store upgrade" in err
    code, _, err = cli("team_admin", "store", "upgrade")
    assert code == 0 and "from version 2 to 5" in err, err
    assert "zingy_nb_admin who holds that key" in err
    for role in ("alice", "bob", "dana"):  # carol has not joined yet
        assert cli(role, "team", "join")[0] == 0
    monkeypatch.setenv("ZINGY_NB_MASTER_KEY", OLD_MASTER_KEY)
    code, out, err = cli("dana", "store", "upgrade")
    assert code == 0, err
    assert "stripe: wrapped for alice, bob, dana" in out
    assert "aws: wrapped for alice, dana; pending (not joined yet): carol" in out
    assert "github: wrapped for dana; pending (not joined yet): carol" in out
    assert "Converted 3 profile(s)" in err
    monkeypatch.delenv("ZINGY_NB_MASTER_KEY")

    # every row re-sealed and signed; the store keeps no master-key record
    after = pg_server.sql("SELECT name, blob, signer FROM zingy_nb.profiles", db=db)
    assert {n for n, _, _ in after} == set(blobs_before)
    assert all(blob != blobs_before[n] and signer == "dana" for n, blob, signer in after)
    assert pg_server.sql("SELECT key FROM zingy_nb.store_meta", db=db) == [("store_id",)]

    def member(role: str) -> Profiles:
        return Profiles(home, url=pg_server.url(role, db))

    assert member("alice").secrets("stripe", caller="test") == STRIPE
    assert member("alice").secrets("aws", caller="test") == AWS
    assert member("bob").secrets("stripe", caller="test") == STRIPE
    with pytest.raises(ProfileNotFoundError):
        member("bob").secrets("aws", caller="test")
    assert member("dana").secrets("github", caller="test") == GITHUB
    # carol joins late: a manager's sync wraps for her what her grants and ownership say
    assert cli("carol", "team", "join")[0] == 0
    code, _, err = cli("dana", "team", "sync")
    assert code == 0, err
    assert member("carol").secrets("aws", caller="test") == AWS
    assert member("carol").secrets("github", caller="test") == GITHUB
    with pytest.raises(ProfileNotFoundError):
        member("carol").secrets("stripe", caller="test")
    # the old grants (levels 1 read, 2 write) and owners came through unchanged
    grants = pg_server.sql(
        "SELECT p.name, g.grantee, g.level FROM zingy_nb.grants g "
        "JOIN zingy_nb.profiles p ON p.id = g.profile_id ORDER BY 1",
        db=db,
    )
    assert grants == [("aws", "carol", 2), ("stripe", "bob", 1)]
    owners = pg_server.sql("SELECT name, owner FROM zingy_nb.profiles ORDER BY 1", db=db)
    assert owners == [("aws", "alice"), ("github", "carol"), ("stripe", "alice")]
