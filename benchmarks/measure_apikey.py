"""Warm ``zingyConn.apikey()`` against a bare AES-GCM decrypt of the same blob.

The warm call should cost a flow check, a change check and dictionary look-ups; the
bare decrypt (a reused ``AESGCM`` object, as ``Cipher.open`` keeps one) is the floor
any encrypted-at-rest design pays per read. Samples of the two alternate, so load on
the machine hits both alike.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .common import batches, scaled

NAME = "bench-stripe"
VALUES = ("sk_live_" + "a1B2c3D4" * 4, "whsec_" + "Z9y8X7w6" * 4, None, None)


@dataclass
class ApikeyTimes:
    apikey: list[float]
    decrypt: list[float]


def measure(number: int = scaled(2000, 20), repeat: int = scaled(61, 3)) -> ApikeyTimes:
    """Per-call ns of a warm ``zingyConn.apikey`` and of a bare decrypt, interleaved."""
    from zingy_nb.kernel.conn import zingyConn
    from zingy_nb.profiles import get_profiles
    from zingy_nb.vault.crypto import NONCE_BYTES, Cipher

    profiles = get_profiles()
    profiles.set(NAME, *VALUES)
    info = zingyConn.apikey(NAME)  # cold: decrypts, audits, registers hooks
    assert info.secret1 == VALUES[0], "the benchmark profile did not round-trip"

    key = base64.urlsafe_b64decode(os.environ["ZINGY_NB_MASTER_KEY"])
    row = profiles.store.get(NAME)
    assert row is not None
    aead = AESGCM(key)
    nonce, ciphertext = row.blob[:NONCE_BYTES], row.blob[NONCE_BYTES:]
    ad = Cipher(key)._associated_data(NAME)
    assert aead.decrypt(nonce, ciphertext, ad), "the bare decrypt must open the same blob"

    apikey, decrypt = zingyConn.apikey, aead.decrypt

    def warm(n: int) -> None:
        for _ in range(n):
            apikey(NAME)

    def bare(n: int) -> None:
        for _ in range(n):
            decrypt(nonce, ciphertext, ad)

    times = ApikeyTimes([], [])
    for _ in range(repeat):
        times.apikey += batches(warm, number=number, repeat=1)
        times.decrypt += batches(bare, number=number, repeat=1)
    return times
