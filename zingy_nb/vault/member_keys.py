"""Member keys of a team store: who may open a profile's data key, and who wrote a row.

Each member holds one key pair made of two ``cryptography`` keys:

- X25519, the KEM of HPKE (RFC 9180, base mode, suite DHKEM(X25519, HKDF-SHA256),
  HKDF-SHA256, AES-256-GCM) from ``cryptography.hazmat.primitives.hpke``: a profile's
  32-byte data key is *wrapped* (sealed) for each member who may read the profile;
- Ed25519: every sealed profile and every wrap is *signed* by the member who wrote it,
  so someone who can only write rows (a DBA, the schema owner) cannot plant a value or
  a key that a reader would accept.

Everything a wrap or signature covers is bound into it (store id, profile name, data
key id, recipient role and fingerprint): a wrap or signature copied onto another row,
another profile or another member fails, with one opaque error. A profile's values are
sealed with ``crypto.Cipher`` under the data key (AES-256-GCM bound to the name).

Nothing here is a home-made primitive: HPKE, Ed25519 and SHA-256 are ``cryptography``'s.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..errors import DecryptionError, MemberKeyError, SignatureError
from .crypto import KEY_BYTES

#: The text form of a private member key starts with this (and the version it has).
PRIVATE_PREFIX: Final = "zingy-nb-member-key-v1:"
_RAW: Final = 32  # raw X25519 and Ed25519 keys are both 32 bytes
_FINGERPRINT_TAG: Final = b"zingy-nb member key v1"
_SUITE: Final = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)

#: What a signature or wrap is about; part of the signed or bound bytes.
KIND_PROFILE: Final = "profile"
KIND_WRAP: Final = "wrap"
KIND_MEMBER: Final = "member"


def _raw_public(key: X25519PublicKey | Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def statement(kind: str, *fields: str | bytes) -> bytes:
    """The exact bytes a signature covers (and a wrap is bound to): a domain tag, the
    kind and each field length-prefixed, so no two different field lists share bytes."""
    parts = [
        b"zingy-nb/team/v1",
        kind.encode("utf-8"),
        *(f.encode("utf-8") if isinstance(f, str) else bytes(f) for f in fields),
    ]
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def fingerprint(enc_public: bytes, sig_public: bytes) -> str:
    """A member key's public name, compared out of band: ``SHA256:`` and 43 characters
    of URL-safe base64, as OpenSSH shows host keys."""
    digest = hashlib.sha256(statement("fingerprint", _FINGERPRINT_TAG, enc_public, sig_public))
    return "SHA256:" + base64.urlsafe_b64encode(digest.digest()).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class MemberPublicKey:
    """What a member publishes under their database role: both raw public keys."""

    enc: bytes  # X25519, 32 bytes: data keys are wrapped for it
    sig: bytes  # Ed25519, 32 bytes: verifies what the member wrote

    def __post_init__(self) -> None:
        if len(self.enc) != _RAW or len(self.sig) != _RAW:
            raise MemberKeyError("A member public key must be two 32-byte keys.")

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.enc, self.sig)

    def verify(self, signature: bytes, message: bytes, what: str = "A team-store row") -> None:
        """Raise ``SignatureError`` unless ``signature`` is this member's over ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.sig).verify(signature, message)
        except (InvalidSignature, ValueError):
            raise SignatureError(what) from None


@dataclass(frozen=True)
class MemberKeyPair:
    """A member's private keys; its repr never shows them."""

    enc: X25519PrivateKey = field(repr=False)
    sig: Ed25519PrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> MemberKeyPair:
        return cls(X25519PrivateKey.generate(), Ed25519PrivateKey.generate())

    @property
    def public(self) -> MemberPublicKey:
        return MemberPublicKey(
            _raw_public(self.enc.public_key()), _raw_public(self.sig.public_key())
        )

    @property
    def fingerprint(self) -> str:
        return self.public.fingerprint

    def encode(self) -> str:
        """The text kept by the member (env var, keyring or key file): a secret."""
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        raw = b"".join(
            k.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
            for k in (self.enc, self.sig)
        )
        return PRIVATE_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii")

    @classmethod
    def decode(cls, text: str, *, where: str) -> MemberKeyPair:
        """Parse ``encode()``'s text; ``where`` names its origin in errors (never the text)."""
        cleaned = text.strip()
        if not cleaned.startswith(PRIVATE_PREFIX):
            raise MemberKeyError(
                f"The member key in {where} is not a zingy-nb member key (it must start "
                f"with {PRIVATE_PREFIX!r}). Run `zingy-nb team join` to make one."
            )
        try:
            raw = base64.urlsafe_b64decode(cleaned[len(PRIVATE_PREFIX) :].encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raw = b""
        if len(raw) != 2 * _RAW:
            raise MemberKeyError(
                f"The member key in {where} is damaged (not 64 bytes of URL-safe base64). "
                "Restore it from your backup, or run `zingy-nb team join` for a new one."
            )
        return cls(
            X25519PrivateKey.from_private_bytes(raw[:_RAW]),
            Ed25519PrivateKey.from_private_bytes(raw[_RAW:]),
        )

    def sign(self, message: bytes) -> bytes:
        return self.sig.sign(message)


def new_data_key() -> bytes:
    """A profile's own 32 random bytes: its values are sealed under it (``Cipher``)."""
    return os.urandom(KEY_BYTES)


def wrap_context(store_id: str, profile: str, data_key_id: str, role: str, recipient: str) -> bytes:
    """What a wrap is bound to (the HPKE ``info``): a wrap moved to another store,
    profile, data key, role or member key fails to open."""
    return statement(KIND_WRAP, store_id, profile, data_key_id, role, recipient)


def wrap_data_key(data_key: bytes, recipient: MemberPublicKey, context: bytes) -> bytes:
    """Seal a data key for one member with HPKE: ``enc || ciphertext+tag`` (80 bytes)."""
    if len(data_key) != KEY_BYTES:
        raise ValueError(f"A data key must be {KEY_BYTES} bytes.")
    return _SUITE.encrypt(data_key, X25519PublicKey.from_public_bytes(recipient.enc), info=context)


def unwrap_data_key(wrapped: bytes, keys: MemberKeyPair, context: bytes, name: str) -> bytes:
    """Open a wrap made for ``keys``; any failure is one opaque ``DecryptionError``."""
    try:
        data_key = _SUITE.decrypt(wrapped, keys.enc, info=context)
    except (InvalidTag, ValueError, TypeError):
        raise DecryptionError(name) from None
    if len(data_key) != KEY_BYTES:
        raise DecryptionError(name)
    return data_key


def profile_statement(
    store_id: str, name: str, key_id: str, slots: int, blob: bytes, signer: str
) -> bytes:
    """What the writer of a sealed profile signs: the blob and the clear fields beside it."""
    return statement(KIND_PROFILE, store_id, name, key_id, str(slots), blob, signer)


def wrap_statement(context: bytes, wrapped: bytes, signer: str) -> bytes:
    """What the writer of a wrap signs: its binding and the wrap itself."""
    return statement(KIND_WRAP, context, wrapped, signer)


def member_statement(store_id: str, role: str, public: MemberPublicKey) -> bytes:
    """What a member signs about a member key: their own on joining, or an admin's
    endorsement of a new ``zingy_nb_admin`` key."""
    return statement(KIND_MEMBER, store_id, role, public.enc, public.sig)
