"""The Cloud Flow runtime: a served web hook, and ``zingy-nb run`` start to finish.

Web hook: ``zingy-nb serve notebooks/webhook.ipynb`` (cloud-flow kernels, the signing
secrets from the store through ``zingyConn``, every response through the kernel's
redactor) against the same notebook with its two secrets written into the cell, served
by the same gateway code with the same kernel settings (history off, no stdin) on the
stock ``python3`` kernel: the only difference is zingy-nb in the kernel, which is
its share of a request. (Stock ``jupyter kernelgateway`` keeps every request in the
kernel's history, which costs it more than zingy-nb costs us, so it would flatter the
ratio.) Both get the same signed POSTs from ``2 x workers`` client threads, each on a
kept-alive connection; rounds alternate between the two servers, after a warm-up of
each. A request is timed by its client from send to the whole response read. The rate
ratio is the median of each round's pair (the two servers measured back to back), so a
machine that speeds up or slows down across the run moves both sides of a pair alike.

Run: ``zingy-nb run`` against the ``papermill`` command on the same trivial cloud-flow
notebook (two tiny cells, output notebook written), alternating, from process start to
exit. Both start the same kernel, so the difference is what ``run`` adds: the median of
the paired differences (each run against the papermill run next to it).

``section(root, notes)`` turns these into rows (``bench.py``'s ``SECTIONS``).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic, perf_counter_ns, sleep

from .common import ROOT, Row, fmt_ns, log, median, na_row, scaled, smoke, spread, timed_row

BIN = Path(sys.executable).parent
ZINGY = str(BIN / "zingy-nb")
WEBHOOK = ROOT / "notebooks" / "webhook.ipynb"
HOOK = "/webhooks/orders"
SECRET1 = "bench-webhook-signing-secret-0123456789"
SECRET2 = "bench-previous-signing-secret-9876543210"
BODY = json.dumps({"id": "A-1001", "total": 42}, separators=(",", ":")).encode()
WORKERS = (1, 4)
ROUNDS = scaled(10, 1)
PER_ROUND = scaled(160, 10)  # requests per server per round
WARMUP = scaled(60, 4)
RUNS = scaled(16, 1)
US, MS = 1e3, 1e6
#: The baseline server: serve's gateway, minus the flow check, on the python3 kernel.
_PLAIN_GATEWAY = """
import sys
from pathlib import Path
from zingy_nb.runtime.gateway import serve_gateway
from zingy_nb.runtime.notebook_flow import NotebookKernel
from zingy_nb.runtime.serve import gateway_argv
kernel = NotebookKernel("python3", "Python 3", True, None, False)
notebook, port, workers = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
sys.exit(serve_gateway(gateway_argv(notebook, kernel, ip="127.0.0.1", port=port, workers=workers)))
"""


@dataclass
class Load:
    """Per-request latencies (ns) and the request rate of each round."""

    latencies: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Runtime:
    hook: dict[int, tuple[Load, Load]] = field(default_factory=dict)  # workers: (zingy, base)
    run: list[float] = field(default_factory=list)
    papermill: list[float] = field(default_factory=list)


def _baseline_notebook(folder: Path) -> Path:
    """The example with the secrets written into the cell, on the plain python3 kernel."""
    nb = json.loads(WEBHOOK.read_text())
    nb["metadata"]["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    literal = f"types.SimpleNamespace(secret1={SECRET1!r}, secret2={SECRET2!r})"
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if "get_profiles" in source:
            source = "import os\nimport types"
        cell["source"] = source.replace('zingyConn.apikey("shop-webhooks")', literal)
        cell["outputs"] = [] if cell["cell_type"] == "code" else cell.get("outputs")
        if cell["outputs"] is None:
            del cell["outputs"]
    path = folder / "webhook-literal.ipynb"
    path.write_text(json.dumps(nb))
    assert "zingyConn" not in path.read_text()
    return path


def _signed_post(conn: http.client.HTTPConnection) -> float:
    signature = hmac.new(SECRET1.encode(), BODY, hashlib.sha256).hexdigest()
    t0 = perf_counter_ns()
    conn.request("POST", HOOK, BODY, {"Content-Type": "application/json", "X-Signature": signature})
    response = conn.getresponse()
    response.read()
    elapsed = perf_counter_ns() - t0
    if response.status != 200:
        raise RuntimeError(f"the web hook answered {response.status}")
    return elapsed


def _load(port: int, clients: int, total: int, out: Load | None) -> None:
    """``total`` signed POSTs from ``clients`` threads; recorded into ``out`` if given."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    per_client = max(1, total // clients)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for _ in range(per_client):
                latencies.append(_signed_post(conn))
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = perf_counter_ns()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = perf_counter_ns() - t0
    if errors:
        raise RuntimeError(f"load failed: {errors[0]!r}")
    if out is not None:
        out.latencies += latencies
        out.rates.append(len(latencies) / (wall / 1e9))


class _Server:
    """A web hook server process, stopped with SIGTERM (kernels included)."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        from tests.ports import free_port  # below the ephemeral range: no kernel takes it

        self.port = free_port()
        self.log = open(log_path, "ab")
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log
        )
        deadline = monotonic() + 120
        while True:  # ready when the hook answers a signed request
            if self.proc.poll() is not None:
                raise RuntimeError(f"{Path(argv[0]).name} exited {self.proc.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                try:
                    _signed_post(conn)
                    return
                finally:
                    conn.close()
            except (OSError, RuntimeError):
                if monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the web hook did not come up") from None
                sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _hook(folder: Path, env: dict[str, str], workers: int) -> tuple[Load, Load]:
    baseline = _baseline_notebook(folder)
    zingy = _Server(
        [ZINGY, "serve", str(WEBHOOK), "--port", "{port}", "--workers", str(workers)],
        env, folder / f"serve-{workers}.log",
    )  # fmt: skip
    try:
        plain = _Server(
            [sys.executable, "-c", _PLAIN_GATEWAY, str(baseline), "{port}", str(workers)],
            env, folder / f"plain-{workers}.log",
        )  # fmt: skip
        try:
            ours, base = Load(), Load()
            clients = 2 * workers
            _load(zingy.port, clients, WARMUP, None)
            _load(plain.port, clients, WARMUP, None)
            for i in range(ROUNDS):
                order = [(zingy, ours), (plain, base)]
                for server, out in order if i % 2 == 0 else order[::-1]:
                    _load(server.port, clients, PER_ROUND, out)
            return ours, base
        finally:
            plain.stop()
    finally:
        zingy.stop()


def _timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = perf_counter_ns()
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=180)
    elapsed = perf_counter_ns() - t0
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-2:]
        raise RuntimeError(f"{Path(argv[0]).name} failed: {' | '.join(tail)}")
    return elapsed


def _runs(folder: Path, env: dict[str, str], out: Runtime) -> None:
    nb = {
        "cells": [
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": s}
            for s in ("x = 1", "print(x + 1)")
        ],
        "metadata": {"kernelspec": {"name": "zingy-cloud-flow", "display_name": "Python 3 (Zingy Cloud Flow)", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }  # fmt: skip
    trivial = folder / "trivial.ipynb"
    trivial.write_text(json.dumps(nb))
    ours = [ZINGY, "run", str(trivial), "--output", str(folder / "out-run.ipynb")]
    theirs = [
        str(BIN / "papermill"),
        "--no-progress-bar",
        str(trivial),
        str(folder / "out-pm.ipynb"),
    ]
    if not smoke():  # warm both: OS file cache, bytecode
        _timed(ours, env)
        _timed(theirs, env)
    for i in range(RUNS):
        pair = [(ours, out.run), (theirs, out.papermill)]
        for argv, samples in pair if i % 2 == 0 else pair[::-1]:
            samples.append(_timed(argv, env))


def measure(folder: Path) -> Runtime:
    """Everything above, in ``folder`` (the flow kernelspecs and a profile are set up)."""
    from zingy_nb.profiles import Profiles

    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop("ZINGY_NB_FLOW", None)  # started from a terminal: unflagged
    subprocess.run(
        [ZINGY, "kernels", "install", "--user"], env=env, check=True,
        capture_output=True, timeout=60,
    )  # fmt: skip
    Profiles(env["ZINGY_NB_HOME"], url="").set("shop-webhooks", SECRET1, SECRET2)
    out = Runtime()
    for workers in WORKERS:
        log(f"web hook, {workers} worker(s) ...")
        out.hook[workers] = _hook(folder, env, workers)
    log("zingy-nb run vs papermill ...")
    _runs(folder, env, out)
    return out


def section(root: Path, notes: list[str]) -> list[Row]:
    """Rows for ``bench.py``: the web hook against its baseline, ``run`` against papermill."""
    if shutil.which("jupyter-kernelgateway", path=str(BIN)) is None:
        return [na_row("Cloud Flow runtime", "jupyter_kernel_gateway is not installed")]
    got = measure(root / "runtime")
    rows: list[Row] = []
    for workers, (ours, base) in got.hook.items():
        rate, base_rate = median(ours.rates), median(base.rates)
        ratio = median([b / o for o, b in zip(ours.rates, base.rates)])  # paired rounds
        rows += [
            Row(f"web hook, {workers} worker(s): requests/s", f"{rate:,.0f}",
                spread=f"±{spread(ours.rates) * 50:.0f}%" if len(ours.rates) >= 4 else "",
                baseline=f"{base_rate:,.0f}", ratio=f"{ratio:.2f}x", goal="<= 1.05x",
                ok=ratio <= 1.05),
            timed_row(f"  p50 latency, {workers} worker(s)", [ours.quantile(0.5)],
                      baseline=[base.quantile(0.5)], goal="<= 1.05x", ok=lambda _, r: r <= 1.05),
            timed_row(f"  p99 latency, {workers} worker(s)", [ours.quantile(0.99)],
                      baseline=[base.quantile(0.99)]),
        ]  # fmt: skip
    extra = median([r - p for r, p in zip(got.run, got.papermill)])  # paired runs
    row = timed_row("zingy-nb run, trivial notebook", got.run, baseline=got.papermill,
                    goal="<= +100 ms", ok=lambda *_: extra <= 100 * MS)  # fmt: skip
    row.ratio += f" ({'+' if extra >= 0 else '-'}{fmt_ns(abs(extra))})"
    rows.append(row)
    notes.append(
        f"runtime: web hook = notebooks/webhook.ipynb under zingy-nb serve against the same "
        "gateway and kernel settings on the python3 kernel, both secrets written into the "
        "cell; "
        f"{ROUNDS} alternating rounds of {PER_ROUND} signed POSTs per server and worker "
        f"count, from 2 x workers client threads on kept-alive connections (after "
        f"{WARMUP} warm-up requests each); ratios: the median over rounds of baseline "
        "rate / ours (each round against its neighbour), our latency / baseline's "
        f"(pooled). run: {len(got.run)} alternating runs of each command on a two-cell "
        "cloud-flow notebook, process start to exit, output notebook written; the extra "
        "time is the median of the paired differences."
    )
    return rows
