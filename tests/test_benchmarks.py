"""The benchmark cannot rot unseen: its smoke mode runs here, exactly as documented."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def agents_started_since(when: float) -> list[int]:
    """Pids of zingy-nb agents (any user's store) started after ``when``, still running."""
    found = []
    for proc in psutil.process_iter(["cmdline", "create_time", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "zingy_nb.agent" in cmdline and proc.info["create_time"] >= when:
            if proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
    return found


def test_bench_smoke_runs_every_section_as_documented() -> None:
    started = time.time()
    # docs/performance.md's command, from the repository root.
    done = subprocess.run(
        [sys.executable, "benchmarks/bench.py", "--smoke"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
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
    ):
        assert row in table, f"missing row {row!r}:\n{table}"
    assert "n/a" not in table, table
    # and no agent the sections' kernels started outlives the run
    assert agents_started_since(started) == []


def test_an_unknown_section_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/bench.py", "--smoke", "--only", "nonsense"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "unknown section" in done.stderr
