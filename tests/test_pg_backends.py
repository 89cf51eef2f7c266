"""The store's core behaviours, run against both backends by one parametrised fixture.

``store_backend`` is the embedded SQLite store, keyed by ``ZINGY_NB_MASTER_KEY``, and a
PostgreSQL team store (member role ``alice``, a throwaway server from ``tests.postgres``),
which has no master key: every member has joined and holds their own member key. Where
the key matters (a wrong key, rotation) each backend is held to what it does. Raw
storage is read around zingy-nb: the SQLite file, or ``pg_dump`` plus every file of the
cluster as the superuser.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests import postgres
from tests.postgres import Backend
from zingy_nb.audit import audit_log
from zingy_nb.errors import (
    DecryptionError,
    InvalidProfileError,
    KeyUnavailableError,
    MemberKeyError,
    ProfileAccessError,
    ProfileExistsError,
    ProfileNotFoundError,
)
from zingy_nb.paths import MEMBER_KEY_ENV
from zingy_nb.vault.crypto import Cipher, encode_key, new_key
from zingy_nb.vault.member import NoWrapError
from zingy_nb.vault.member_keys import MemberKeyPair, unwrap_data_key, wrap_context

# The fixtures this module uses (imported fixtures are found by their module name).
pg_server = postgres.pg_server
store_backend = postgres.store_backend
memory_keyring = postgres.memory_keyring  # the SQLite rotation's keyring

STRIPE = "sk_live_MADEUP_backends_4eC39HqLyjWDarjt"
SECOND = "second-MADEUP-backends-bbbb"
UTF8 = "pässwörd-MADEUP-ключ-秘密"
MULTI = "-----BEGIN MADEUP KEY-----\nMADEUPline-two-9e8f7a\n-----END MADEUP KEY-----\n"


def test_set_get_update_rename_delete_list(store_backend: Backend) -> None:
    p = store_backend.profiles()
    assert p.list() == []
    first = p.set("stripe", STRIPE, SECOND)
    p.set("github", "ghp_MADEUP_1")
    assert [m.name for m in p.list()] == ["github", "stripe"]
    assert p.secrets("stripe") == (STRIPE, SECOND, None, None)
    assert p.show("stripe").slots_set == (True, True, False, False)

    meta = p.update("stripe", {"secret2": None, "secret4": UTF8})
    assert p.secrets("stripe") == (STRIPE, None, None, UTF8)
    assert meta.created == first.created and meta.updated > first.updated

    p.set("stripe", "uno")  # set replaces all four slots
    assert p.secrets("stripe") == ("uno", None, None, None)

    old_blob = dict(store_backend.raw_rows())["stripe"]
    p.rename("stripe", "stripe-eu")
    assert [m.name for m in p.list()] == ["github", "stripe-eu"]
    assert p.secrets("stripe-eu") == ("uno", None, None, None)
    assert dict(store_backend.raw_rows())["stripe-eu"] != old_blob  # re-sealed for its name
    with pytest.raises(ProfileExistsError):
        p.rename("stripe-eu", "github")

    p.delete("github")
    assert [m.name for m in p.list()] == ["stripe-eu"]
    with pytest.raises(ProfileNotFoundError):
        p.secrets("github")
    with pytest.raises(ProfileNotFoundError):
        p.delete("github")
    assert p.store.count() == 1


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda p: p.set("bad name", "x"), InvalidProfileError),
        (lambda p: p.set("new", None), InvalidProfileError),
        (lambda p: p.set("new", "ok", ""), InvalidProfileError),
        (lambda p: p.update("keep", {"secret1": None}), InvalidProfileError),
        (lambda p: p.update("keep", {"secret9": "x"}), InvalidProfileError),
        (lambda p: p.update("absent", {"secret2": "x"}), ProfileNotFoundError),
        (lambda p: p.rename("keep", "other"), ProfileExistsError),
        (lambda p: p.rename("absent", "new"), ProfileNotFoundError),
    ],
)
def test_refused_changes_change_nothing(store_backend: Backend, call, error) -> None:
    p = store_backend.profiles()
    p.set("keep", "keep-MADEUP-1", "two")
    p.set("other", "other-MADEUP-2")
    before = store_backend.raw_rows()
    token = p.store.change_token()
    with pytest.raises(error):
        call(p)
    assert store_backend.raw_rows() == before
    assert p.store.change_token() == token


def test_slots_too_short_to_redact_are_flagged_in_the_metadata(store_backend: Backend) -> None:
    # Given a profile whose Secret2 is below the redaction minimum (6 characters)
    p = store_backend.profiles()
    assert p.set("svc", STRIPE, "ab12").unredacted_slots == ["secret2"]
    # Then every listing says so, from a fresh process's view of the store too
    fresh = store_backend.profiles()
    assert [(m.name, m.unredacted_slots) for m in fresh.list()] == [("svc", ["secret2"])]
    assert fresh.show("svc").to_json()["unredacted"] == ["secret2"]
    # And updating and renaming keep the flags true to the values (rotation: below)
    assert p.update("svc", {"secret3": "xyz", "secret2": SECOND}).unredacted_slots == ["secret3"]
    assert p.rename("svc", "svc2").unredacted_slots == ["secret3"]
    assert p.update("svc2", {"secret3": None}).unredacted_slots == []
    assert p.secrets("svc2") == (STRIPE, SECOND, None, None)


def test_no_plaintext_in_the_database(store_backend: Backend) -> None:
    p = store_backend.profiles()
    p.set("stripe", STRIPE, SECOND, UTF8, MULTI)
    p.update("stripe", {"secret2": "updated-MADEUP-cccc"})
    p.rename("stripe", "stripe-eu")
    found, names = [], False
    for where, data in store_backend.stored_bytes():
        names = names or b"stripe-eu" in data
        for secret in (STRIPE, SECOND, UTF8, MULTI, "updated-MADEUP-cccc", "MADEUPline-two"):
            for encoded in (secret.encode(), secret.encode("utf-16-le")):
                if encoded in data:
                    found.append((where, secret))
    assert found == []
    assert names  # the name and metadata are in clear, as documented


def test_wrong_key_is_refused_and_changes_nothing(
    store_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_backend.profiles().set("svc", "value-MADEUP-svc")
    if store_backend.kind == "postgres":
        # A master key is no key here: one in the environment is ignored...
        monkeypatch.setenv("ZINGY_NB_MASTER_KEY", encode_key(new_key()))
        assert store_backend.profiles().secrets("svc")[0] == "value-MADEUP-svc"
    before = store_backend.tables()
    if store_backend.kind == "sqlite":
        monkeypatch.setenv("ZINGY_NB_MASTER_KEY", encode_key(new_key()))
        other = store_backend.profiles()
        with pytest.raises(KeyUnavailableError, match="different key"):
            other.secrets("svc")
        with pytest.raises(KeyUnavailableError):
            other.set("new", "value-MADEUP-new")
    else:
        # ...and a member key other than the one alice published opens and signs nothing
        monkeypatch.setenv(MEMBER_KEY_ENV, MemberKeyPair.generate().encode())
        other = store_backend.profiles()
        with pytest.raises(NoWrapError, match="previous member key"):
            other.secrets("svc")
        with pytest.raises(MemberKeyError, match=r"not the one published.*team join"):
            other.set("new", "value-MADEUP-new")
    assert store_backend.tables() == before
    assert [m.name for m in other.list()] == ["svc"]  # metadata needs no key


def test_rotation_reencrypts_every_profile(
    store_backend: Backend, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store_backend.kind == "postgres":
        revoke_rotates_a_team_profiles_data_key(store_backend)
        return
    # Given a store whose key is in the keyring
    request.getfixturevalue("memory_keyring")
    monkeypatch.delenv("ZINGY_NB_MASTER_KEY")
    admin = store_backend.profiles()
    assert store_backend.key is not None
    admin.import_key(store_backend.key)
    admin.set("a", "value-MADEUP-a")
    admin.set("b", "value-MADEUP-b", "two")
    before = dict(store_backend.raw_rows())
    # When the key is rotated
    new_id = admin.rotate_key()
    # Then every row changed, and a fresh process with the new key reads them all
    after = dict(store_backend.raw_rows())
    assert set(after) == {"a", "b"} and all(after[n] != before[n] for n in after)
    fresh = store_backend.profiles()
    assert fresh.secrets("b") == ("value-MADEUP-b", "two", None, None)
    assert fresh.show("b").unredacted_slots == ["secret2"]  # "two" is too short to redact
    assert fresh.key_status().key_id == new_id
    # And the old key no longer opens the store
    monkeypatch.setenv("ZINGY_NB_MASTER_KEY", store_backend.key)
    with pytest.raises(KeyUnavailableError):
        store_backend.profiles().secrets("a")


def revoke_rotates_a_team_profiles_data_key(backend: Backend) -> None:
    """A team store has no master key to rotate, for anyone (an admin included): what
    rotates is each profile's own data key, at every revoke."""
    assert backend.server is not None and backend.db is not None
    server, db = backend.server, backend.db
    alice = backend.profiles("alice")
    alice.set("a", "value-MADEUP-a")
    alice.set("b", "value-MADEUP-b", "two")
    alice.store.grant("b", "bob", "read")
    assert backend.profiles("bob").secrets("b")[0] == "value-MADEUP-b"
    # The master-key commands are refused, saying what replaces them, and change nothing
    before = backend.tables()
    for who in (alice, backend.profiles("dana")):
        for call in (who.rotate_key, who.export_key, who.key_status):
            with pytest.raises(KeyUnavailableError, match="`zingy-nb team join`"):
                call()
        with pytest.raises(KeyUnavailableError, match="`zingy-nb team join`"):
            who.import_key(encode_key(new_key()))
    assert backend.tables() == before

    def sealed() -> dict[str, tuple[bytes, str]]:
        rows = server.sql("SELECT name, blob, key_id FROM zingy_nb.profiles", db=db)
        return {n: (bytes(b), k) for n, b, k in rows}

    old = sealed()
    ((bob_wrap, fingerprint),) = server.sql(
        "SELECT w.wrap, w.fingerprint FROM zingy_nb.wraps w JOIN zingy_nb.profiles p "
        "ON p.id = w.profile_id WHERE p.name = 'b' AND w.role = 'bob'",
        db=db,
    )
    # When bob's grant is revoked
    assert alice.store.revoke("b", "bob")
    # Then b is re-sealed under a new data key (a is untouched), which its readers open
    new = sealed()
    assert new["a"] == old["a"]
    assert new["b"][0] != old["b"][0] and new["b"][1] != old["b"][1]
    fresh = backend.profiles("alice")
    assert fresh.secrets("b") == ("value-MADEUP-b", "two", None, None)
    assert fresh.show("b").unredacted_slots == ["secret2"]  # "two" is too short to redact
    with pytest.raises(ProfileNotFoundError):
        backend.profiles("bob").secrets("b")
    # And the data key bob could unwrap opens the old blob but nothing written since
    ((store_id,),) = server.sql(
        "SELECT value FROM zingy_nb.store_meta WHERE key = 'store_id'", db=db
    )
    bob = MemberKeyPair.decode(backend.member_keys["bob"], where="test")
    context = wrap_context(bytes(store_id).decode(), "b", old["b"][1], "bob", fingerprint)
    old_key = Cipher(unwrap_data_key(bytes(bob_wrap), bob, context, "b"))
    assert old_key.open("b", old["b"][0])[0] == "value-MADEUP-b"
    with pytest.raises(DecryptionError):
        old_key.open("b", new["b"][0])


def test_audit_records_who_retrieved(store_backend: Backend) -> None:
    p = store_backend.profiles()
    p.set("stripe", STRIPE)
    audit_log.retrieved(p, "stripe", "cloud-flow")
    audit_log.refused(p, "stripe", "page-flow")
    entries = p.store.audit("stripe")
    assert {(e.outcome, e.flow, e.count) for e in entries} == {
        ("retrieved", "cloud-flow", 1),
        ("refused", "page-flow", 1),
    }
    expected = "alice" if store_backend.kind == "postgres" else None
    if expected:
        assert {e.role for e in entries} == {expected}
    else:
        assert all(e.role for e in entries)  # the OS user
    assert all(STRIPE not in json.dumps(e.to_json()) for e in entries)
    # merged per process: a second flush adds to the count
    audit_log.refused(p, "stripe", "page-flow")
    refused = [e for e in p.store.audit("stripe") if e.outcome == "refused"]
    assert [e.count for e in refused] == [2]


WRITER = r"""
import sys
from zingy_nb.profiles import Profiles
Profiles().update("svc", {"secret1": sys.argv[1]})
"""


def test_warm_cache_sees_another_process_commit(store_backend: Backend) -> None:
    reader = store_backend.profiles()
    reader.set("svc", "one-MADEUP")
    assert reader.secrets("svc") == ("one-MADEUP", None, None, None)
    token = reader.store.change_token()
    assert reader.store.change_token() == token  # nothing committed: the cache holds
    assert reader.secrets("svc") is reader.secrets("svc")  # warm: no decrypt
    for value in ("two-MADEUP", "three-MADEUP"):
        result = subprocess.run(
            [sys.executable, "-c", WRITER, value],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **store_backend.env()},
        )
        assert result.returncode == 0, result.stderr
        assert reader.secrets("svc") == (value, None, None, None)


def test_refusals_through_the_api_are_clean_errors(store_backend: Backend) -> None:
    """Access errors are both ZingyErrors and PermissionErrors (team store only)."""
    if store_backend.kind == "sqlite":
        with pytest.raises(OSError, match="single-user store"):
            store_backend.profiles().store.grant("x", "bob", "read")
        return
    alice = store_backend.profiles("alice")
    alice.set("svc", "value-MADEUP")
    alice.store.grant("svc", "bob", "read")
    bob = store_backend.profiles("bob")
    with pytest.raises(ProfileAccessError) as err:
        bob.update("svc", {"secret2": "x"})
    assert isinstance(err.value, PermissionError)
