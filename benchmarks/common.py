"""What every measurement shares: an isolated environment, timing, statistics, rows.

Numbers are medians of many samples, and every goal that is a ratio is checked against
a baseline measured in the same run on the same machine, so a slow or busy machine
moves both sides of a ratio together.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: ``bench.py --smoke`` sets this before the sections are imported (children inherit it):
#: every section runs at tiny sizes, to prove it still works, not to measure.
SMOKE_ENV = "ZINGY_NB_BENCH_SMOKE"


def smoke() -> bool:
    return os.environ.get(SMOKE_ENV) == "1"


def scaled(full: int, tiny: int) -> int:
    """``full`` for a real run, ``tiny`` in smoke mode."""
    return tiny if smoke() else full


ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
#: Child processes get this long at most, so a hang becomes an error row, not a stuck run.
CHILD_TIMEOUT = 120.0


# -- the isolated environment ------------------------------------------------------------
def isolate() -> Path:
    """Point HOME, Jupyter, IPython and zingy-nb at a throwaway folder; return it.

    Called before anything imports jupyter_core or starts a kernel, so kernels and
    children inherit the same locations and the developer's store and keyring are
    never touched. The process is cloud-flow with a random master key in the env, and
    keyring is pinned to its fail backend (no D-Bus prompt can hang the run).
    """
    root = Path(tempfile.mkdtemp(prefix="zingy-bench-"))
    env = {
        "HOME": root / "home",
        "TMPDIR": root / "tmp",
        "JUPYTER_CONFIG_DIR": root / "jupyter" / "config",
        "JUPYTER_DATA_DIR": root / "jupyter" / "data",
        "JUPYTER_RUNTIME_DIR": root / "jupyter" / "runtime",
        "IPYTHONDIR": root / "ipython",
        "ZINGY_NB_HOME": root / "zingy-home",
        "PYTHONPYCACHEPREFIX": root / "pycache",
    }
    for path in env.values():
        path.mkdir(parents=True, exist_ok=True)
    # Bytecode is cached (under the throwaway folder), as after any normal install:
    # with PYTHONDONTWRITEBYTECODE and an editable install every fresh process would
    # compile zingy_nb from source, which no user pays.
    # Any ZINGY_NB_* of the caller (a team store URL, a key, a flow) is dropped too.
    dropped = ("DBUS_SESSION_BUS_ADDRESS", "JUPYTER_PATH", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    for key in [k for k in os.environ if k in dropped or k.startswith("ZINGY_NB_")]:
        os.environ.pop(key, None)
    os.environ.update({k: str(v) for k, v in env.items()})
    os.environ.update(
        {
            "ZINGY_NB_FLOW": "cloud-flow",
            "ZINGY_NB_MASTER_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        }
    )
    tempfile.tempdir = None  # honour the new TMPDIR
    return root


def warm_bytecode() -> None:
    """Fill the bytecode cache once, so no measured process pays for compiling.

    A throwaway kernel loads the extension and what the kernels here import; the
    ``PYTHONPYCACHEPREFIX`` set by ``isolate`` then serves every later process.
    """
    from tests.kernels import running_kernel

    with running_kernel(dict(os.environ), log=Path(os.environ["TMPDIR"]) / "warm.log") as kernel:
        kernel.ok("%load_ext zingy_nb")
        kernel.ok("import keyring.backends.SecretService, IPython.core.interactiveshell")


def run_child(
    argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = CHILD_TIMEOUT
) -> Any:
    """Run a child that prints one JSON document last; return it (raise with its stderr)."""
    done = subprocess.run(
        list(argv),
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(ROOT),
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{Path(argv[1]).name} failed: " + " | ".join(tail))
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- statistics --------------------------------------------------------------------------
def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def spread(samples: Sequence[float]) -> float:
    """Interquartile range relative to the median: how noisy a measurement was."""
    if len(samples) < 4:
        return float("nan")
    q1, _, q3 = statistics.quantiles(samples, n=4)
    return (q3 - q1) / statistics.median(samples)


def batches(loop: Callable[[int], None], *, number: int, repeat: int) -> list[float]:
    """Per-call ns of ``loop(number)``, ``repeat`` times (after one warm-up batch).

    ``loop`` runs its own ``for`` loop, so no per-call function-call overhead is added
    beyond what the caller's code does.
    """
    from time import perf_counter_ns

    loop(number)
    out = []
    for _ in range(repeat):
        t0 = perf_counter_ns()
        loop(number)
        out.append((perf_counter_ns() - t0) / number)
    return out


# -- formatting --------------------------------------------------------------------------
def fmt_ns(ns: float) -> str:
    if ns != ns:  # NaN
        return "n/a"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if abs(ns) >= scale:
            value = ns / scale
            return f"{value:#.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{ns:.0f} ns"


def fmt_ratio(ratio: float) -> str:
    if ratio != ratio:
        return "n/a"
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    return f"{ratio:.2f}x"


@dataclass
class Row:
    """One line of the results table. ``ok`` is None when a row has no goal."""

    name: str
    median: str
    baseline: str = "-"
    ratio: str = "-"
    goal: str = "-"
    ok: bool | None = None
    spread: str = ""
    na: bool = False

    @property
    def verdict(self) -> str:
        if self.na:
            return "n/a"
        if self.ok is None:
            return "info"
        return "PASS" if self.ok else "MISS"


def na_row(name: str, why: str, goal: str = "-") -> Row:
    """A row that could not be measured here, saying why (never a crash)."""
    return Row(name, f"n/a ({why})", goal=goal, na=True)


def timed_row(
    name: str,
    samples: Sequence[float],
    *,
    baseline: Sequence[float] | None = None,
    goal: str = "-",
    ok: Callable[[float, float], bool] | None = None,
    invert: bool = False,
) -> Row:
    """A row from raw ns samples; ``ratio`` is median/baseline (baseline/median if
    ``invert``), and ``ok(median_ns, ratio)`` decides PASS/MISS."""
    m = median(samples)
    b = median(baseline) if baseline else float("nan")
    ratio = (b / m if invert else m / b) if baseline else float("nan")
    return Row(
        name,
        fmt_ns(m),
        baseline=fmt_ns(b) if baseline else "-",
        ratio=fmt_ratio(ratio) if baseline else "-",
        goal=goal,
        ok=ok(m, ratio) if ok else None,
        spread=f"±{spread(samples) * 50:.0f}%" if len(samples) >= 4 else "",
    )


def table(rows: Sequence[Row]) -> str:
    """A plain-text table (also valid Markdown), one row per measurement."""
    head = ("measurement", "median", "spread", "baseline", "ratio", "goal", "result")
    cells = [head] + [
        (r.name, r.median, r.spread, r.baseline, r.ratio, r.goal, r.verdict) for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]

    def line(c: Sequence[str]) -> str:
        return "| " + " | ".join(s.ljust(w) for s, w in zip(c, widths)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), rule, *(line(c) for c in cells[1:])])


def log(message: str) -> None:
    """Progress on stderr, so stdout holds only the report."""
    print(f"  .. {message}", file=sys.stderr, flush=True)
