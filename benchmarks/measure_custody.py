"""Locked custody (issue #23): what unlocking costs.

``unwrap`` is the work of ``zingy-nb unlock`` in the agent: Scrypt (N=2^17, r=8, p=1)
and one AES-GCM open. Its baseline, in the same run, is the bare Scrypt derivation with
the same parameters, so the ratio shows what zingy-nb adds to the KDF (nothing much),
and the median against the goal shows whether the parameters suit this machine.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter_ns

from .common import scaled

PASSPHRASE = "made-up benchmark passphrase"
ROUNDS = scaled(7, 1)  # read at import, as every section's sizes are


@dataclass
class Times:
    unwrap: list[float] = field(default_factory=list)
    scrypt: list[float] = field(default_factory=list)


def measure(rounds: int | None = None) -> Times:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    from zingy_nb.vault import locked

    times = Times()
    home = Path(tempfile.mkdtemp(prefix="custody-"))
    path = locked.protect(locked.locked_file(home), "bench", os.urandom(32), PASSPHRASE)
    for _ in range(rounds or ROUNDS):  # alternating
        start = perf_counter_ns()
        locked.unwrap(path, "bench", PASSPHRASE)
        times.unwrap.append(perf_counter_ns() - start)
        kdf = Scrypt(salt=os.urandom(16), length=32, n=locked.SCRYPT_N, r=locked.SCRYPT_R,
                     p=locked.SCRYPT_P)  # fmt: skip
        start = perf_counter_ns()
        kdf.derive(PASSPHRASE.encode())
        times.scrypt.append(perf_counter_ns() - start)
    path.unlink()
    home.rmdir()
    return times
