"""The report's header: when, on what machine, under what load, with which versions.

Figures from different machines are not comparable, and a busy machine slows the
multi-process measurements most: the header says both, so a reader can judge.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
from datetime import datetime
from importlib import metadata

from .common import BENCH_DIR

LIBRARIES = (
    "zingy-nb", "cryptography", "keyring", "ipykernel", "ipython", "jupyter_client", "psycopg",
    "pyzmq", "tornado",
)  # fmt: skip


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _keyrings_alt() -> str:
    found = list(metadata.distributions(path=[str(BENCH_DIR / ".deps")]))
    alt = [d.version for d in found if d.metadata["Name"] == "keyrings.alt"]
    return alt[0] if alt else "not installed"


def _gnome_keyring() -> str:
    try:
        done = subprocess.run(
            ["gnome-keyring-daemon", "--version"], capture_output=True, text=True, timeout=10
        )
        first = (done.stdout.splitlines() or ["unknown"])[0].split()
        return first[-1] if first else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "not installed"


def _commit() -> str:
    """The code measured: commit, and whether the work tree had changes."""
    try:
        done = subprocess.run(
            ["git", "-C", str(BENCH_DIR.parent), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def header(started: datetime, load_before: tuple[float, ...], load_after: tuple[float, ...]) -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    versions = ", ".join(f"{lib} {_version(lib)}" for lib in LIBRARIES)
    return "\n".join(
        [
            "zingy-nb benchmarks",
            f"date:     {started.isoformat(timespec='seconds')}; code {_commit()}",
            f"machine:  {platform.platform()}; {cpu_model()}; {os.cpu_count()} cores"
            + (f" ({usable} usable)" if usable is not None else ""),
            f"load:     {' '.join(f'{x:.2f}' for x in load_before)} (1/5/15 min) at start, "
            f"{' '.join(f'{x:.2f}' for x in load_after)} at end",
            f"python:   {sys.version.split()[0]} ({platform.python_implementation()}), "
            f"SQLite {sqlite3.sqlite_version}",
            f"versions: {versions}, keyrings.alt {_keyrings_alt()} (benchmarks/.deps), "
            f"gnome-keyring {_gnome_keyring()}",
        ]
    )
