"""zingy-nb benchmarks: ``.venv/bin/python benchmarks/bench.py [--smoke] [--only SECTION,...]``.

Not a timed test: one run on one machine prints medians side by side with baselines
measured in the same run, each with its goal and PASS/MISS, plus the machine it ran on.
Sections: apikey (warm retrieval vs decrypt vs keyring reads), access (warm retrieval
from an allowed notebook), reads (keyring reads per kernel lifetime), startup
(%load_ext, kernel start, heavy modules), redaction (registering 1,000 values; 10 MB of
output, 0 vs 1,000 secrets), fd (10 MB written with os.write(1, ...) by a kernel whose
own stdout is redacted, vs a plain kernel), store (10,000 profiles vs 10), runtime (a signed web hook
served by zingy-nb serve vs the secret in the cell, 1 and 4 workers; zingy-nb run vs
papermill), pg (the PostgreSQL team store beside SQLite, on a throwaway server), agent
(a kernel started by the zingy launcher: warm and cold retrieval through the agent,
kernel start against the same kernel without the launcher, the agent's first start).
Every agent a section's kernels start is stopped at the end. A section whose
prerequisite is missing here (gnome-keyring, PostgreSQL) prints an n/a row; a section
that fails prints an error row, the run goes on, and the exit status is 1.

``--smoke`` runs every section at tiny sizes (under a minute) to prove the benchmark
still works; the test suite runs it, so a refactor cannot break it unseen. Its figures
mean nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from time import perf_counter

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if "--smoke" in sys.argv[1:]:  # before the sections import: their sizes read it
    os.environ["ZINGY_NB_BENCH_SMOKE"] = "1"

from benchmarks import machine
from benchmarks.common import Row, isolate, log, table, warm_bytecode
from benchmarks.sections import SECTIONS


def _guarded(
    name: str, section: Callable[..., list[Row]], failed: list[str], *args: object
) -> list[Row]:
    """Run one section; an unexpected failure becomes an error row (and is counted)."""
    log(f"{name} ...")
    try:
        return section(*args)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        failed.append(name)
        return [Row(f"{name}: error", f"{type(exc).__name__}: {exc}"[:160], na=True)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default: all of {', '.join(SECTIONS)})",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every section at tiny sizes, to check the benchmark runs (figures mean nothing)",
    )
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")

    root = isolate()
    date = datetime.now().astimezone()
    started = perf_counter()
    load_before = os.getloadavg()
    try:
        rows: list[Row] = []
        notes: list[str] = []
        failed: list[str] = []
        log("warming the bytecode cache ...")
        try:
            warm_bytecode()
        except Exception as exc:  # the sections then report what fails, one by one
            log(f"warm-up failed ({type(exc).__name__}: {exc}); first timings may be high")
        for name in chosen:
            rows += _guarded(name, SECTIONS[name], failed, root, notes)
    finally:
        from benchmarks.measure_agent import stop_agents

        try:
            stop_agents(root)  # the agents the sections' launched kernels started
        except RuntimeError as exc:  # killed instead: say so, and clean up all the same
            log(str(exc))
        shutil.rmtree(root, ignore_errors=True)
    print(machine.header(date, load_before, os.getloadavg()))
    print()
    print(table(rows))
    if notes:
        print()
        print("\n".join(f"- {n}" for n in notes))
    print()
    print(f"Run took {perf_counter() - started:.0f} s. 'spread' is half the interquartile range")
    print("relative to the median; ratios compare medians measured in this same run.")
    if args.smoke:
        print("Smoke run: tiny sizes, to check every section runs; the figures mean nothing.")
    if failed:
        print(f"Failed sections: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
