"""What notebook access costs a warm retrieval: an allowed notebook against no identity.

Two child processes read the same profile in batches, alternating: one started as a
kernel for an allowed notebook would be (``JPY_SESSION_NAME`` set to an existing
notebook file, allowed for the profile), one with no notebook identity (not checked).
The allowance is cached with the value and revalidated by the same change token, so
the goal is the same warm cost.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .common import BENCH_DIR, run_child, scaled

NAME = "bench-access"
READER = BENCH_DIR / "access_reader.py"


def measure(
    root: Path, number: int = scaled(2000, 20), rounds: int = scaled(9, 1)
) -> dict[str, list[float]]:
    from zingy_nb import access
    from zingy_nb.profiles import get_profiles

    profiles = get_profiles()
    profiles.set(NAME, "sk_live_" + "Acc3ssB3nch" * 3)
    notebook = root / "access-bench.ipynb"
    notebook.write_text("{}")
    real = access.resolve(str(notebook))
    access.allow(profiles, NAME, real, "benchmark")
    with_nb = {**os.environ, "JPY_SESSION_NAME": real}
    without = {k: v for k, v in os.environ.items() if k != "JPY_SESSION_NAME"}
    out: dict[str, list[float]] = {"allowed": [], "none": []}
    argv = [sys.executable, str(READER), NAME, str(number), "5"]
    for i in range(rounds):
        cases = [("allowed", with_nb), ("none", without)]
        for case, env in cases if i % 2 == 0 else cases[::-1]:
            got = run_child(argv, env)
            assert (got["identity"] is not None) is (case == "allowed"), got["identity"]
            out[case] += got["samples"]
    return out
