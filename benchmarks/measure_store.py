"""How the store scales: 10,000 profiles against 10, for list, set and get.

Listing is what the panel, the CLI and the sidebar do on every refresh; set is one
transaction; get should not care how many other profiles exist, cold (a fresh
``Profiles``: open, find the key, decrypt) or warm (the change check). Both stores are
built with ``Profiles.set`` in a loop (there is no bulk API); building is timed
separately and reported, not counted. Samples of the two stores alternate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter_ns
from typing import TYPE_CHECKING

from .common import batches, scaled

if TYPE_CHECKING:
    from zingy_nb.profiles import Profiles

BIG, SMALL = scaled(10_000, 40), 10


@dataclass
class StoreTimes:
    build_ns: float = 0.0
    samples: dict[str, dict[int, list[float]]] = field(default_factory=dict)


def _name(i: int) -> str:
    return f"profile-{i:05d}"


def _build(home: Path, count: int) -> tuple[Profiles, float]:
    from zingy_nb.profiles import Profiles

    profiles = Profiles(home)
    t0 = perf_counter_ns()
    for i in range(count):
        profiles.set(_name(i), f"secret-one-{i:05d}-" + "x" * 24, f"secret-two-{i:05d}")
    return profiles, perf_counter_ns() - t0


def measure(root: Path, reps: int = scaled(25, 2)) -> StoreTimes:
    """Per-operation ns for each store size, with warm-ups and alternation."""
    from zingy_nb.profiles import Profiles

    out = StoreTimes()
    stores = {}
    for size in (SMALL, BIG):
        profiles, took = _build(root / f"store-{size}", size)
        stores[size] = profiles
        if size == BIG:
            out.build_ns = took
    ops = ("list", "set", "get cold", "get warm")
    out.samples = {op: {SMALL: [], BIG: []} for op in ops}
    counter = [0]

    def do_set(profiles: Profiles, size: int) -> None:
        counter[0] += 1
        profiles.set(_name(counter[0] % size), f"rotated-{counter[0]:06d}-secret-value")

    def cold_get(size: int) -> float:
        fresh = Profiles(stores[size].home)
        t0 = perf_counter_ns()
        fresh.secrets(_name(size // 2))
        took = perf_counter_ns() - t0
        fresh.store.close()
        return took

    def warm_loop(size: int):  # type: ignore[no-untyped-def]
        profiles, name = stores[size], _name(size // 2)
        profiles.secrets(name)

        def loop(n: int) -> None:
            secrets = profiles.secrets
            for _ in range(n):
                secrets(name)

        return loop

    for size in (SMALL, BIG):  # warm-ups
        stores[size].list()
        do_set(stores[size], size)
        cold_get(size)
    for i in range(reps):
        for size in (SMALL, BIG) if i % 2 == 0 else (BIG, SMALL):
            t0 = perf_counter_ns()
            stores[size].list()
            out.samples["list"][size].append(perf_counter_ns() - t0)
            t0 = perf_counter_ns()
            do_set(stores[size], size)
            out.samples["set"][size].append(perf_counter_ns() - t0)
    # Reads apart from writes, so each read sees a settled store.
    for i in range(3 * reps):
        for size in (SMALL, BIG) if i % 2 == 0 else (BIG, SMALL):
            out.samples["get cold"][size].append(cold_get(size))
    for i in range(reps):
        for size in (SMALL, BIG) if i % 2 == 0 else (BIG, SMALL):
            out.samples["get warm"][size] += batches(
                warm_loop(size), number=scaled(2000, 20), repeat=1
            )
    for profiles in stores.values():
        profiles.store.close()
    assert os.environ.get("ZINGY_NB_MASTER_KEY"), "the stores use the env key"
    return out
