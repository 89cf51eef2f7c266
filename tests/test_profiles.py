"""The profiles API: names, slots, set / update / rename / delete, and no partial writes.

Every test runs on both backends through ``store_backend`` (``tests.postgres``): the
embedded SQLite store and a PostgreSQL team store as member ``alice``. "Changes
nothing" is checked on every row of every table of the store, read around zingy-nb.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import postgres
from tests.isolation import tree_bytes
from tests.postgres import Backend
from zingy_nb.errors import (
    InvalidProfileError,
    ProfileExistsError,
    ProfileNotFoundError,
    ZingyError,
)
from zingy_nb.profiles import Profiles
from zingy_nb.rules import MAX_VALUE_BYTES

SSH_KEY = (
    "-----BEGIN MADE-UP KEY-----\nAAAAmadeupline1\nAAAAmadeupline2\n-----END MADE-UP KEY-----\n"
)


# The fixtures this module uses (imported fixtures are found by their module name).
pg_server = postgres.pg_server
store_backend = postgres.store_backend


@pytest.fixture
def profiles(store_backend: Backend) -> Profiles:
    return store_backend.profiles()


def blob_of(backend: Backend, name: str) -> bytes:
    return dict(backend.raw_rows())[name]


@pytest.mark.parametrize("name", ["a", "Stripe", "stripe-prod_2.eu", "0day", "x" * 128, "A.b-C_d"])
def test_valid_names_round_trip(profiles: Profiles, name: str) -> None:
    profiles.set(name, "sk_test_made_up_1")
    assert profiles.secrets(name) == ("sk_test_made_up_1", None, None, None)
    assert [m.name for m in profiles.list()] == [name]


@pytest.mark.parametrize(
    "name",
    ["", "-lead", ".lead", "_lead", "x" * 129, "has space", "slash/no", "ümlaut", "tab\t",
     "new\n", "semi;colon", 42, None],
)  # fmt: skip
def test_invalid_names_are_refused_and_change_nothing(
    profiles: Profiles, store_backend: Backend, name: object
) -> None:
    profiles.set("keep", "sk_test_keep")
    before = store_backend.tables()
    with pytest.raises(InvalidProfileError) as err:
        profiles.set(name, "sk_test_other")  # type: ignore[arg-type]
    assert "letters, digits" in str(err.value) or "must be text" in str(err.value)
    assert isinstance(err.value, ValueError) and isinstance(err.value, ZingyError)
    assert store_backend.tables() == before


def test_nothing_is_created_until_a_profile_is_written(
    profiles: Profiles, store_backend: Backend
) -> None:
    # A team store's schema exists before anything is written (its admin created it), and
    # every member has joined (which wrote the store's id and their public keys): there,
    # "nothing" is no profile, no wrap, no grant, no audit entry and no master key record,
    # not the absence of tables or of a store record.
    empty = store_backend.tables()
    assert profiles.list() == []
    with pytest.raises(ProfileNotFoundError):
        profiles.secrets("absent")
    with pytest.raises(ProfileNotFoundError):
        profiles.delete("absent")
    with pytest.raises(ProfileNotFoundError):
        profiles.update("absent", {"secret2": "x"})
    with pytest.raises(ProfileNotFoundError):
        profiles.rename("absent", "other")
    assert store_backend.tables() == empty
    if store_backend.kind == "sqlite":
        assert profiles.store.info() is None
        assert empty == {} and not store_backend.home.exists()
    else:
        info = profiles.store.info()
        assert info is not None and (info.key_id, info.verifier) == ("", b"")
        assert [k for k, _ in empty["store_meta"]] == ["store_id"]
        assert len(empty["members"]) == 4
        for table in ("profiles", "wraps", "grants", "audit"):
            assert empty[table] == [], table
    profiles.set("first", "sk_test_first")
    assert profiles.store.info() is not None
    assert [n for n, _ in store_backend.raw_rows()] == ["first"]
    if store_backend.kind == "sqlite":
        assert (store_backend.home / "profiles.db").exists()
    else:  # sealed for its readers: the owner and the admin, each under their own key
        wraps = store_backend.tables()["wraps"]
        assert sorted(w[1] for w in wraps) == ["alice", "dana"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ((None,), "secret1 is required"),
        (("",), "secret1 is empty"),
        (("ok", ""), "secret2 is empty"),
        ((b"bytes",), "secret1 must be text"),
        (("ok", None, 7), "secret3 must be text"),
        (("x" * (MAX_VALUE_BYTES + 1),), "the limit is 65536 bytes"),
        (("ok\ud800",), "not valid Unicode"),
    ],
)
def test_invalid_values_are_refused_with_clear_errors(
    profiles: Profiles, store_backend: Backend, values: tuple, message: str
) -> None:
    profiles.set("keep", "sk_test_keep")
    before = store_backend.tables()
    with pytest.raises(InvalidProfileError, match=message) as err:
        profiles.set("new", *values)
    assert "ok\ud800" not in str(err.value)
    assert store_backend.tables() == before


def test_value_limits_and_multi_line_values(profiles: Profiles) -> None:
    biggest = "é" * (MAX_VALUE_BYTES // 2)  # 2 bytes each: exactly 64 KiB
    profiles.set("big", biggest, SSH_KEY, "  spaced  ", "nul\x00inside")
    assert profiles.secrets("big") == (biggest, SSH_KEY, "  spaced  ", "nul\x00inside")
    assert profiles.show("big").describe_slots() == "secret1, secret2, secret3, secret4"


def test_set_replaces_all_four_slots(profiles: Profiles) -> None:
    first = profiles.set("svc", "one", "two", "three", "four")
    second = profiles.set("svc", "uno")
    assert profiles.secrets("svc") == ("uno", None, None, None)
    assert second.created == first.created and second.updated > first.updated
    assert second.slots_set == (True, False, False, False)


def test_update_changes_only_given_slots_and_clears_explicitly(profiles: Profiles) -> None:
    profiles.set("svc", "one", "two", "three")
    meta = profiles.update("svc", {"secret2": None, "secret4": "four"})
    assert profiles.secrets("svc") == ("one", None, "three", "four")
    assert meta.slots_set == (True, False, True, True)


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({}, InvalidProfileError, "Nothing to update"),
        ({"secret1": None}, InvalidProfileError, "secret1 cannot be cleared"),
        ({"secret5": "x"}, InvalidProfileError, "Unknown slot"),
        ({"secret2": ""}, InvalidProfileError, "secret2 is empty"),
    ],
)
def test_bad_updates_change_nothing(
    profiles: Profiles, store_backend: Backend, changes: dict, error: type, message: str
) -> None:
    profiles.set("svc", "one", "two")
    before = store_backend.tables()
    with pytest.raises(error, match=message):
        profiles.update("svc", changes)
    assert store_backend.tables() == before
    assert profiles.secrets("svc") == ("one", "two", None, None)


def test_update_of_unknown_profile_is_not_found(profiles: Profiles) -> None:
    profiles.set("svc", "one")
    with pytest.raises(ProfileNotFoundError) as err:
        profiles.update("other", {"secret2": "x"})
    assert isinstance(err.value, KeyError)
    assert "No API Key profile named 'other'" in str(err.value)


def test_rename_reseals_for_the_new_name(profiles: Profiles, store_backend: Backend) -> None:
    created = profiles.set("old", "one", None, "three")
    old_blob = blob_of(store_backend, "old")
    meta = profiles.rename("old", "new")
    assert [m.name for m in profiles.list()] == ["new"]
    assert [n for n, _ in store_backend.raw_rows()] == ["new"]
    assert meta.created == created.created
    assert profiles.secrets("new") == ("one", None, "three", None)
    assert blob_of(store_backend, "new") != old_blob  # bound to the new name


def test_rename_onto_an_existing_name_is_refused(
    profiles: Profiles, store_backend: Backend
) -> None:
    profiles.set("a", "one")
    profiles.set("b", "two")
    before = store_backend.tables()
    with pytest.raises(ProfileExistsError, match="already exists"):
        profiles.rename("a", "b")
    assert store_backend.tables() == before


def test_delete_removes_only_that_profile(profiles: Profiles) -> None:
    profiles.set("a", "one")
    profiles.set("b", "two")
    profiles.delete("a")
    assert [m.name for m in profiles.list()] == ["b"]
    with pytest.raises(ProfileNotFoundError):
        profiles.secrets("a")


def test_metadata_is_in_clear_values_are_not(profiles: Profiles, store_backend: Backend) -> None:
    secrets = (
        "sk_live_MADEUP_aaaa1111",
        "second-MADEUP-bbbb",
        "dritte-Geheimnis-ü-MADEUP",
        SSH_KEY,
    )
    profiles.set("stripe", *secrets)
    profiles.update("stripe", {"secret2": "updated-MADEUP-cccc"})
    profiles.rename("stripe", "stripe-eu")
    # the store's bytes (SQLite: every file in the home; PostgreSQL: pg_dump and every
    # file of the cluster) and, for a team store, anything left in the home folder too
    stored = list(store_backend.stored_bytes())
    if store_backend.kind == "postgres" and store_backend.home.exists():
        stored += [(str(p), b) for p, b in tree_bytes(store_backend.home)]
    found = []
    for where, data in stored:
        for secret in (*secrets, "updated-MADEUP-cccc", "AAAAmadeupline1"):
            for encoded in (secret.encode(), secret.encode("utf-16-le")):
                if encoded in data:
                    found.append((where, secret))
    assert found == []
    assert any(b"stripe-eu" in data for _, data in stored)


def test_store_file_permissions(zingy_home: Path) -> None:
    # SQLite only: a team store has no file of ours (its access is roles and row-level
    # security, tests/test_pg_rls.py).
    Profiles(zingy_home).set("svc", "one")
    assert (zingy_home / "profiles.db").stat().st_mode & 0o077 == 0
    assert zingy_home.stat().st_mode & 0o077 == 0


def test_two_instances_see_each_others_commits(store_backend: Backend) -> None:
    writer, reader = store_backend.profiles(), store_backend.profiles()
    writer.set("svc", "one")
    assert reader.secrets("svc") == ("one", None, None, None)
    writer.update("svc", {"secret1": "uno"})
    assert reader.secrets("svc") == ("uno", None, None, None)
    writer.delete("svc")
    with pytest.raises(ProfileNotFoundError):
        reader.secrets("svc")
