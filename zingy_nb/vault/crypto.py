"""Authenticated encryption of a profile's four values, bound to its name and key.

AES-256-GCM from ``cryptography`` with a random 96-bit nonce per write. The profile
name and the key id are associated data, so a blob copied onto another row, or read
with another key, fails authentication instead of decrypting to the wrong profile.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import DecryptionError, KeyUnavailableError
from ..rules import Secrets

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
_FORMAT: Final = b"zingy-nb/v1"
_VERIFIER_PLAINTEXT: Final = b"zingy-nb master key verifier"


def new_key() -> bytes:
    """32 random bytes from the OS: a new master key."""
    return os.urandom(KEY_BYTES)


def encode_key(key: bytes) -> str:
    """The form a person sees and copies: URL-safe base64."""
    return base64.urlsafe_b64encode(key).decode("ascii")


def decode_key(text: str, *, where: str) -> bytes:
    """Parse a key written as URL-safe base64; ``where`` names its origin in errors."""
    cleaned = text.strip()
    try:
        key = base64.urlsafe_b64decode(cleaned.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise KeyUnavailableError(
            f"The master key in {where} is not URL-safe base64. "
            "Use the exact text that `zingy-nb key export` printed."
        ) from None
    if len(key) != KEY_BYTES:
        raise KeyUnavailableError(
            f"The master key in {where} is {len(key)} bytes long; it must be "
            f"{KEY_BYTES}. Use the exact text that `zingy-nb key export` printed."
        )
    return key


def key_id(key: bytes) -> str:
    """A short public name for a key: tells keys apart without revealing them."""
    return hmac.new(key, b"zingy-nb key id", hashlib.sha256).hexdigest()[:16]


class Cipher:
    """Seals and opens profile blobs under one master key.

    One ``AESGCM`` object is kept per key: building it costs more than a decrypt.
    """

    __slots__ = ("_aead", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KeyUnavailableError(f"A master key must be {KEY_BYTES} bytes, not {len(key)}.")
        self._aead = AESGCM(key)
        self.key_id = key_id(key)

    def _associated_data(self, name: str) -> bytes:
        return b"\0".join((_FORMAT, name.encode("utf-8"), self.key_id.encode("ascii")))

    def seal(self, name: str, values: Secrets) -> bytes:
        """Encrypt the four slot values of profile ``name``: nonce || ciphertext+tag."""
        plaintext = json.dumps(list(values), ensure_ascii=False).encode("utf-8")
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, self._associated_data(name))

    def open(self, name: str, blob: bytes) -> Secrets:
        """Decrypt a blob sealed for ``name``; any failure is one opaque error."""
        try:
            plaintext = self._aead.decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], self._associated_data(name)
            )
            values = json.loads(plaintext.decode("utf-8"))
        except (InvalidTag, ValueError, TypeError):
            raise DecryptionError(name) from None
        if not (isinstance(values, list) and len(values) == 4):
            raise DecryptionError(name)
        return (values[0], values[1], values[2], values[3])

    def make_verifier(self) -> bytes:
        """A blob only this key opens: lets a wrong key be caught before any read."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, _VERIFIER_PLAINTEXT, b"verifier")

    def check_verifier(self, verifier: bytes) -> bool:
        try:
            got = self._aead.decrypt(verifier[:NONCE_BYTES], verifier[NONCE_BYTES:], b"verifier")
        except (InvalidTag, ValueError):
            return False
        return got == _VERIFIER_PLAINTEXT
