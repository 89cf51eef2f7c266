"""The MAC that tells allowances and the notebook-access setting the agent wrote from
rows written straight into the store.

A key derived with HKDF-SHA256 from the key that opens the store (the embedded store's
master key, a team member's own private key), under a label of its own, so the MAC key
is never a key that seals a profile. A row's fields are length-prefixed before the
HMAC-SHA256, so no two field lists share bytes. Rotating the master key changes the MAC
key: the rotation re-signs every allowance and the setting in the same transaction.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from hashlib import sha256
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO: Final = b"zingy-nb/notebook-access/mac/v1"


def derive(key: bytes, salt: str) -> bytes:
    """The MAC key of ``key`` (the store's id as salt: one key, two stores, two MACs)."""
    return HKDF(hashes.SHA256(), 32, salt.encode("utf-8"), _INFO).derive(key)


def framed(fields: Sequence[str]) -> bytes:
    parts = [f.encode("utf-8", "surrogatepass") for f in fields]
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def tag(mac_key: bytes, fields: Sequence[str]) -> bytes:
    return hmac.new(mac_key, framed(fields), sha256).digest()


def verifies(mac_key: bytes, fields: Sequence[str], mac: bytes | None) -> bool:
    return mac is not None and hmac.compare_digest(tag(mac_key, fields), bytes(mac))
