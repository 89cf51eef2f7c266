"""Child process: time ``keyring.get_password`` with the backend the env pins.

Run by ``measure_keyring`` with ``PYTHON_KEYRING_BACKEND`` set (and, for keyrings.alt,
``PYTHONPATH=benchmarks/.deps``), never in the benchmark's own process: keyring picks
its backend once per process, and keyrings.alt must not be importable in the main venv.
Prints one JSON document: the backend, its version and per-call ns samples.

Usage: python keyring_reader.py COUNT
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from time import perf_counter_ns

import keyring

SERVICE, USER = "zingy-nb-bench", "store:bench"
SECRET = "aGVsbG8td29ybGQtdGhpcy1pcy1hLWZha2Uta2V5LTMyYg=="  # a key-sized made-up value


def main() -> None:
    count = int(sys.argv[1])
    backend = keyring.get_keyring()
    keyring.set_password(SERVICE, USER, SECRET)
    for _ in range(3):
        assert keyring.get_password(SERVICE, USER) == SECRET
    samples = []
    for _ in range(count):
        t0 = perf_counter_ns()
        keyring.get_password(SERVICE, USER)
        samples.append(perf_counter_ns() - t0)
    dist = "keyrings.alt" if type(backend).__module__.startswith("keyrings.alt") else "keyring"
    print(
        json.dumps(
            {
                "backend": f"{type(backend).__module__}.{type(backend).__name__}",
                "version": f"{dist} {metadata.version(dist)}",
                "samples": samples,
            }
        )
    )


if __name__ == "__main__":
    main()
