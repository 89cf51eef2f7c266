"""What the kernel's fd pass-through costs: 10 MB written with ``os.write(1, ...)``.

Three real kernels, each one's process stdout a pipe this process reads (as the Jupyter
server's log, a gateway or ``zingy-nb run`` would): ``filtered`` has ``%load_ext
zingy_nb`` and ``SECRETS`` random secrets registered, so the pass-through redacts what
reaches the pipe and the message filter what reaches the client; ``messages`` has the
same secrets and only the message filter (``outgoing.install``, as before the
pass-through existed): the baseline that prices the pass-through alone; ``plain`` is the
python3 kernelspec without zingy-nb. ipykernel captures fds 1 and 2 in all three, as
under Jupyter: each write reaches the client as stream output and the process's own
stdout. A sample is the client's time from the execute request until the cell is idle,
all stream output has arrived (ipykernel may forward the last bytes after idle) and
every byte has come out of the kernel's stdout pipe. Each write ends a line, as printed
output does: output that ends mid-line may wait up to ``outgoing.DELAY`` (100 ms) for
its continuation, a latency this row does not count. Repetitions alternate between the
kernels, after one warm-up each.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter_ns, sleep
from typing import Any

from .common import CHILD_TIMEOUT, Row, log, scaled, timed_row
from .measure_redaction import CHUNK_BYTES, CHUNKS, MAKE_TEXT, REGISTER, SECRETS

TOTAL = CHUNK_BYTES * CHUNKS
WRITE = f"""
_data = _chunk[:-1].encode() + b"\\n"  # whole lines, as printed output is
for _ in range({CHUNKS}):
    _view = memoryview(_data)
    while _view:
        _view = _view[os.write(1, _view):]
"""


class _Drain:
    """Counts the bytes a kernel writes to its process stdout (a pipe)."""

    def __init__(self) -> None:
        self.read, self.write = os.pipe()
        self.count = 0
        self.masked = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while data := os.read(self.read, 1 << 16):
            self.count += len(data)
            self.masked += data.count(b"[REDACTED]")

    def wait(self, target: int) -> None:
        deadline = perf_counter_ns() + CHILD_TIMEOUT * 1e9
        while self.count < target:
            if perf_counter_ns() > deadline:
                raise RuntimeError(f"kernel stdout: {self.count} of {target} bytes arrived")
            sleep(0.0005)


@dataclass
class FdPassThrough:
    samples: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in KERNELS})


KERNELS = ("plain", "messages", "filtered")
SETUP = {
    "plain": "",
    "messages": "from zingy_nb.kernel import outgoing\n"
    "outgoing.install(get_ipython().kernel.session)\n" + REGISTER,
    "filtered": "%load_ext zingy_nb\n" + REGISTER,
}


def _timed_write(kernel: Any, drain: _Drain) -> float:
    """Client-side ns for ``WRITE``: idle, all stream output, all bytes on stdout."""
    got = {"bytes": 0}

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            got["bytes"] += len(msg["content"]["text"])

    start = drain.count
    t0 = perf_counter_ns()
    reply = kernel.kc.execute_interactive(WRITE, store_history=False, output_hook=hook, timeout=120)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"write cell failed: {reply['content'].get('evalue')}")
    while got["bytes"] < TOTAL:  # ipykernel may forward the pipe's last bytes after idle
        hook(kernel.kc.get_iopub_msg(timeout=CHILD_TIMEOUT))
    drain.wait(start + TOTAL)
    elapsed = perf_counter_ns() - t0
    if got["bytes"] != TOTAL or drain.masked:
        raise RuntimeError(f"output arrived incomplete or altered: {got}, {drain.count}")
    return elapsed


def _start(env: dict[str, str], drain: _Drain, log_file: Path) -> Any:
    from jupyter_client.manager import KernelManager

    from tests.kernels import Kernel

    km = KernelManager(kernel_name="python3")
    with open(log_file, "wb") as err:
        km.start_kernel(env=env, stdout=drain.write, stderr=err)
    os.close(drain.write)  # the kernel holds the only write end: EOF when it exits
    try:
        return Kernel(km, log_file)
    except BaseException:
        km.shutdown_kernel(now=True)
        raise


def measure(log_dir: Path, reps: int = scaled(15, 1)) -> FdPassThrough:
    """Alternating 10 MB ``os.write(1, ...)`` cells in the three kernels."""
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)  # under pytest ipykernel would not capture fds
    out = FdPassThrough()
    drains = {name: _Drain() for name in KERNELS}
    kernels = {}
    try:
        for name in KERNELS:
            kernels[name] = kernel = _start(env, drains[name], log_dir / f"fd-{name}.log")
            if SETUP[name]:
                kernel.ok(SETUP[name])
            kernel.ok("import os\n" + MAKE_TEXT)
        kernels["filtered"].ok("os.write(1, _secrets[0].encode() + b'\\n')")
        sleep(0.3)
        if not drains["filtered"].masked:
            raise RuntimeError("the filtering kernel does not redact its stdout")
        drains["filtered"].masked = 0
        log("fd pass-through: warm-up ...")
        for name in KERNELS:
            _timed_write(kernels[name], drains[name])
        for i in range(reps):
            for name in KERNELS[i % 3 :] + KERNELS[: i % 3]:
                out.samples[name].append(_timed_write(kernels[name], drains[name]))
    finally:
        for kernel in kernels.values():
            kernel.shutdown()
    return out


def section(root: Path, notes: list[str]) -> list[Row]:
    """The fd pass-through: 10 MB through ``os.write(1, ...)``, against message redaction only."""
    log_dir = root / "fd-logs"
    log_dir.mkdir()
    out = measure(log_dir)
    n = f"{SECRETS:,}"
    notes.append(
        f"fd: {len(out.samples['plain'])} cells per kernel, alternating, each writing "
        f"{CHUNKS} x {CHUNK_BYTES:,} bytes of ordinary text with os.write(1, ...); baseline "
        f"= a kernel with the same {n} secrets whose messages are redacted but not its "
        "own stdout (outgoing.install only); a python3 kernel without zingy-nb for "
        "reference. Timed by the client until idle, all stream output received and every "
        "byte read from the kernel's stdout pipe (checked: complete, nothing masked). The "
        "pass-through's 1 MB pipe lets a kernel write on while this reader lags, which "
        "offsets part of its cost."
    )
    got = out.samples
    return [
        timed_row(f"os.write(1) 10 MB, fd pass-through, {n} secrets", got["filtered"],
                  baseline=got["messages"], goal="<= 1.25x", ok=lambda _, r: r <= 1.25),
        timed_row("  vs a kernel without zingy-nb", got["filtered"],
                  baseline=got["plain"]),
    ]  # fmt: skip
