"""Tampering and fuzzed input on both store backends (``tests.postgres.store_backend``).

A flipped byte or a blob moved to another row gives the backend's one opaque error and
changes nothing: ``DecryptionError`` on the embedded store; on a team store, where every
row is signed by its writer and the signature is checked before any decryption,
``SignatureError``. Hypothesis-generated names and values either get a documented error
or read back exactly, whichever backend holds them.
"""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import postgres
from tests.postgres import Backend
from zingy_nb.errors import (
    DecryptionError,
    InvalidProfileError,
    ProfileNotFoundError,
    SignatureError,
    ZingyError,
)

pg_server = postgres.pg_server
store_backend = postgres.store_backend


def write_blob(backend: Backend, name: str, blob: bytes) -> None:
    """Overwrite a stored blob around zingy-nb, as a tamperer would."""
    if backend.server is None:
        conn = sqlite3.connect(backend.home / "profiles.db", isolation_level=None)
        try:
            conn.execute("UPDATE profiles SET blob = ? WHERE name = ?", (blob, name))
        finally:
            conn.close()
        return
    assert backend.db is not None
    backend.server.sql(
        f"UPDATE zingy_nb.profiles SET blob = '\\x{blob.hex()}'::bytea WHERE name = '{name}'",
        db=backend.db,
    )


def blob_of(backend: Backend, name: str) -> bytes:
    return dict(backend.raw_rows())[name]


def opaque_error(backend: Backend) -> type[ZingyError]:
    """The one error a damaged or moved blob gives: the embedded store finds it when it
    decrypts, a team store when it checks the writer's signature, before decrypting."""
    return DecryptionError if backend.server is None else SignatureError


@pytest.mark.parametrize("where", [0, 12, -1])  # nonce, ciphertext, tag
def test_a_flipped_byte_is_the_opaque_error(store_backend: Backend, where: int) -> None:
    store_backend.profiles().set("svc", "svc-MADEUP-value", "second-MADEUP")
    blob = bytearray(blob_of(store_backend, "svc"))
    blob[where] ^= 0x01
    write_blob(store_backend, "svc", bytes(blob))
    before = store_backend.tables()
    with pytest.raises(ZingyError) as err:
        store_backend.profiles().secrets("svc")
    assert type(err.value) is opaque_error(store_backend)
    assert "MADEUP" not in str(err.value)
    assert store_backend.tables() == before


def test_a_blob_moved_to_another_row_is_the_opaque_error(store_backend: Backend) -> None:
    p = store_backend.profiles()
    p.set("alpha", "alpha-MADEUP-value")
    p.set("beta", "beta-MADEUP-value")
    write_blob(store_backend, "beta", blob_of(store_backend, "alpha"))
    before = store_backend.tables()
    fresh = store_backend.profiles()
    with pytest.raises(ZingyError) as err:
        fresh.secrets("beta")
    assert type(err.value) is opaque_error(store_backend)
    assert "MADEUP" not in str(err.value)
    assert store_backend.tables() == before
    assert fresh.secrets("alpha") == ("alpha-MADEUP-value", None, None, None)


NAMES = st.one_of(
    st.text(max_size=140),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,140}", fullmatch=True),
)
VALUES = st.one_of(
    st.none(), st.text(), st.sampled_from(["\x00", "\ud800", "\u202e", "e\u0301", "😀"])
)


def test_fuzzed_names_and_values_store_exactly_or_are_refused(store_backend: Backend) -> None:
    profiles = store_backend.profiles()

    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(name=NAMES, values=st.lists(VALUES, min_size=4, max_size=4))
    def check(name: str, values: list) -> None:
        try:
            profiles.set(name, *values)
        except InvalidProfileError:
            with pytest.raises((ProfileNotFoundError, InvalidProfileError)):
                profiles.secrets(name)
            return
        try:
            assert profiles.secrets(name) == tuple(values)
            assert store_backend.profiles().secrets(name) == tuple(values)
        finally:
            profiles.delete(name)

    check()
