"""Member keys: HPKE wraps of data keys and Ed25519 signatures (zingy_nb.vault.member_keys)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from zingy_nb.errors import DecryptionError, MemberKeyError, SignatureError
from zingy_nb.vault import member_keys as tk
from zingy_nb.vault.crypto import Cipher


@pytest.fixture(scope="module")
def alice() -> tk.MemberKeyPair:
    return tk.MemberKeyPair.generate()


@pytest.fixture(scope="module")
def bob() -> tk.MemberKeyPair:
    return tk.MemberKeyPair.generate()


def ctx(
    profile: str = "stripe", role: str = "bob", recipient: str = "fp", kid: str = "k1"
) -> bytes:
    return tk.wrap_context("store-1", profile, kid, role, recipient)


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def test_key_text_round_trips_and_never_shows_in_repr(alice: tk.MemberKeyPair) -> None:
    text = alice.encode()
    assert text.startswith(tk.PRIVATE_PREFIX)
    again = tk.MemberKeyPair.decode(text + "\n", where="test")
    assert again.public == alice.public
    assert again.fingerprint == alice.fingerprint
    assert text[len(tk.PRIVATE_PREFIX) :] not in repr(alice)


@pytest.mark.parametrize(
    "text", ["", "nonsense", tk.PRIVATE_PREFIX + "abcd", tk.PRIVATE_PREFIX + "!!"]
)
def test_malformed_key_text_is_refused_without_quoting_it(text: str) -> None:
    with pytest.raises(MemberKeyError) as info:
        tk.MemberKeyPair.decode(text, where="ZINGY_NB_MEMBER_KEY")
    assert "ZINGY_NB_MEMBER_KEY" in str(info.value)
    if text:
        assert text not in str(info.value)


def test_fingerprints_differ_per_key_and_cover_both_halves(
    alice: tk.MemberKeyPair, bob: tk.MemberKeyPair
) -> None:
    assert alice.fingerprint != bob.fingerprint
    assert alice.fingerprint.startswith("SHA256:") and len(alice.fingerprint) == 7 + 43
    mixed = tk.MemberPublicKey(alice.public.enc, bob.public.sig)
    assert mixed.fingerprint not in (alice.fingerprint, bob.fingerprint)


def test_wrap_opens_only_for_its_member_and_its_context(
    alice: tk.MemberKeyPair, bob: tk.MemberKeyPair
) -> None:
    data_key = tk.new_data_key()
    wrapped = tk.wrap_data_key(data_key, bob.public, ctx())
    assert data_key not in wrapped
    assert tk.unwrap_data_key(wrapped, bob, ctx(), "stripe") == data_key
    # Another member, and every part of the binding, and every byte of the wrap.
    with pytest.raises(DecryptionError):
        tk.unwrap_data_key(wrapped, alice, ctx(), "stripe")
    for other in (ctx(profile="aws"), ctx(role="carol"), ctx(recipient="fp2"), ctx(kid="k2")):
        with pytest.raises(DecryptionError):
            tk.unwrap_data_key(wrapped, bob, other, "stripe")
    for at in range(len(wrapped)):
        with pytest.raises(DecryptionError):
            tk.unwrap_data_key(flip(wrapped, at), bob, ctx(), "stripe")
    with pytest.raises(DecryptionError):
        tk.unwrap_data_key(wrapped[:-1], bob, ctx(), "stripe")


def test_wrap_is_rfc9180_base_mode_from_cryptography(bob: tk.MemberKeyPair) -> None:
    """Interoperable: cryptography's own HPKE suite opens what we wrapped, and two wraps
    of one key differ (a fresh encapsulation each time)."""
    data_key = tk.new_data_key()
    wrapped = tk.wrap_data_key(data_key, bob.public, ctx())
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    assert suite.decrypt(wrapped, bob.enc, info=ctx()) == data_key
    assert tk.wrap_data_key(data_key, bob.public, ctx()) != wrapped
    assert X25519PublicKey.from_public_bytes(bob.public.enc) is not None
    with pytest.raises(ValueError):
        tk.wrap_data_key(b"short", bob.public, ctx())


def test_sealed_profile_signature_catches_tampering_and_wrong_signer(
    alice: tk.MemberKeyPair, bob: tk.MemberKeyPair
) -> None:
    data_key = tk.new_data_key()
    cipher = Cipher(data_key)
    blob = cipher.seal("stripe", ("sk_test_madeup", None, None, None))
    message = tk.profile_statement("store-1", "stripe", cipher.key_id, 1, blob, "alice")
    signature = alice.sign(message)
    alice.public.verify(signature, message)
    with pytest.raises(SignatureError):
        bob.public.verify(signature, message)  # not bob's
    with pytest.raises(SignatureError):
        alice.public.verify(bob.sign(message), message)  # bob pretending
    for changed in (
        tk.profile_statement("store-2", "stripe", cipher.key_id, 1, blob, "alice"),
        tk.profile_statement("store-1", "aws", cipher.key_id, 1, blob, "alice"),
        tk.profile_statement("store-1", "stripe", "other", 1, blob, "alice"),
        tk.profile_statement("store-1", "stripe", cipher.key_id, 3, blob, "alice"),
        tk.profile_statement("store-1", "stripe", cipher.key_id, 1, flip(blob, 20), "alice"),
        tk.profile_statement("store-1", "stripe", cipher.key_id, 1, blob, "bob"),
    ):
        with pytest.raises(SignatureError):
            alice.public.verify(signature, changed)
    for at in range(0, len(signature), 7):
        with pytest.raises(SignatureError):
            alice.public.verify(flip(signature, at), message)
    assert Cipher(data_key).open("stripe", blob) == ("sk_test_madeup", None, None, None)


def test_wrap_signature_binds_the_wrap_and_its_context(
    alice: tk.MemberKeyPair, bob: tk.MemberKeyPair
) -> None:
    wrapped = tk.wrap_data_key(tk.new_data_key(), bob.public, ctx(recipient=bob.fingerprint))
    message = tk.wrap_statement(ctx(recipient=bob.fingerprint), wrapped, "alice")
    signature = alice.sign(message)
    alice.public.verify(signature, message)
    other = tk.wrap_data_key(tk.new_data_key(), bob.public, ctx(recipient=bob.fingerprint))
    with pytest.raises(SignatureError):
        alice.public.verify(
            signature, tk.wrap_statement(ctx(recipient=bob.fingerprint), other, "alice")
        )
    with pytest.raises(SignatureError):
        alice.public.verify(signature, tk.wrap_statement(ctx(role="carol"), wrapped, "alice"))


def test_member_endorsement_names_role_and_both_keys(
    alice: tk.MemberKeyPair, bob: tk.MemberKeyPair
) -> None:
    endorsement = alice.sign(tk.member_statement("store-1", "bob", bob.public))
    alice.public.verify(endorsement, tk.member_statement("store-1", "bob", bob.public))
    with pytest.raises(SignatureError):
        alice.public.verify(endorsement, tk.member_statement("store-1", "mallory", bob.public))
    with pytest.raises(SignatureError):
        alice.public.verify(endorsement, tk.member_statement("store-1", "bob", alice.public))


def test_statement_fields_cannot_be_shifted() -> None:
    assert tk.statement("k", "ab", "c") != tk.statement("k", "a", "bc")
    assert tk.statement("k", "a") != tk.statement("j", "a")


def test_public_key_must_be_two_raw_keys() -> None:
    with pytest.raises(MemberKeyError):
        tk.MemberPublicKey(b"x" * 31, b"y" * 32)
