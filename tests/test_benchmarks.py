"""The benchmark cannot rot unseen: its smoke mode runs here, exactly as documented."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent


def agents_started_since(when: float, under: Path) -> list[int]:
    """Pids of zingy-nb agents started after ``when`` whose environment names ``under``
    (the run's temp folder: not another suite's agents), still running."""
    found = []
    for proc in psutil.process_iter(["cmdline", "create_time", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "zingy_nb.agent" in cmdline and proc.info["create_time"] >= when:
            try:
                mine = any(str(under) in v for v in proc.environ().values())
            except psutil.Error:
                continue
            if mine and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
    return found


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temp folder with a short path (agents' sockets live below it)."""
    path = Path(tempfile.mkdtemp(prefix="zb", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_bench_smoke_runs_every_section_as_documented(short_tmp: Path) -> None:
    started = time.time()
    # docs/performance.md's command, from the repository root; its throwaway folder
    # (benchmarks/common.isolate) in this test's
    done = subprocess.run(
        [sys.executable, "benchmarks/bench.py", "--smoke"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TMPDIR": str(short_tmp)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout
    assert ": error" not in table, table
    assert "Smoke run" in table
    # Every section printed its rows (the suite's machine has gnome-keyring and PostgreSQL).
    for row in (
        "warm zingyConn.apikey()",
        "warm zingyConn.apikey(), allowed notebook",
        "register ",
        "keyring reads per kernel lifetime",
        "%load_ext zingy_nb, fresh IPython process",
        "kernel start to kernel_info",
        "print 10 MB",
        "os.write(1) 10 MB, fd pass-through",
        "list(), ",
        "web hook, 1 worker(s): requests/s",
        "zingy-nb run, trivial notebook",
        "warm zingyConn.apikey(), PostgreSQL",
        "warm zingyConn.apikey(), launched kernel",
        "cold zingyConn.apikey() through the agent",
        "kernel start to kernel_info, launcher unconfined (agent up)",
        "kernel start, confined (vs the launcher unconfined)",
        "agent first start",
        "unlock: Scrypt N=2^17 + AES-GCM open",
        "warm zingyConn.apikey(), JavaScript kernel",
        "kernel start, JavaScript flow kernel (vs plain Deno, agent up)",
    ):
        assert row in table, f"missing row {row!r}:\n{table}"
    assert "n/a" not in table, table
    # and no agent the sections' kernels started outlives the run
    assert agents_started_since(started, short_tmp) == []


def test_an_unknown_section_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/bench.py", "--smoke", "--only", "nonsense"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "unknown section" in done.stderr
