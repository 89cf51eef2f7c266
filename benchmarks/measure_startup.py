"""What the extension adds to a kernel's start: ``%load_ext`` alone, and a whole start.

``%load_ext zingy_nb`` is timed in fresh processes (``load_ext_probe.py``). A kernel
start is timed from ``start_kernel`` to the first ``kernel_info_reply`` for two
kernelspecs that differ only in ``--ext=zingy_nb`` (the python3 spec's argv, with and
without it); starts of the two alternate so load on the machine hits both alike.
``wait_for_ready`` is not used: it waits for 0.2 s of IOPub silence after the reply.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from time import perf_counter_ns, sleep
from typing import Any

from .common import BENCH_DIR, run_child, scaled

PROBE = BENCH_DIR / "load_ext_probe.py"


@dataclass
class LoadExt:
    samples: list[float] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    top_new: list[str] = field(default_factory=list)
    new_modules: int = 0


def load_ext(runs: int = scaled(15, 2)) -> LoadExt:
    """``%load_ext zingy_nb`` in ``runs`` fresh IPython processes (one warm-up first)."""
    out = LoadExt()
    run_child([sys.executable, str(PROBE)])  # warm the OS file cache and .pyc files
    for _ in range(runs):
        got = run_child([sys.executable, str(PROBE)])
        out.samples.append(got["ns"])
        out.present, out.added = got["present"], got["added"]
        out.top_new, out.new_modules = got["top_new"], got["new_modules"]
    return out


def _kernelspecs(root: Path) -> None:
    """Two specs: the python3 spec's argv, and the same plus ``--ext=zingy_nb``."""
    from jupyter_client.kernelspec import KernelSpecManager

    base = KernelSpecManager().get_kernel_spec("python3")
    for name, extra in (("bench-plain", []), ("bench-ext", ["--ext=zingy_nb"])):
        folder = root / name
        folder.mkdir(parents=True)
        spec = {"argv": [*base.argv, *extra], "display_name": name, "language": "python"}
        (folder / "kernel.json").write_text(json.dumps(spec))


def _start_once(kernels: Path, name: str, env: dict[str, str], log: Any) -> float:
    """ns from ``start_kernel`` to the first ``kernel_info_reply``; the kernel is then ended."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    km = KernelManager(
        kernel_name=name, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)])
    )
    t0 = perf_counter_ns()
    km.start_kernel(env=env, stderr=log, stdout=log)
    kc = km.client()
    try:
        kc.start_channels()
        deadline, resend = t0 + 60e9, 0.0
        while True:
            now = perf_counter_ns()
            if now >= resend:
                kc.kernel_info()
                resend = now + 1e9
            try:
                msg = kc.shell_channel.get_msg(timeout=0.01)
            except Empty:
                if now > deadline or not km.is_alive():
                    raise RuntimeError(f"kernel {name} did not answer kernel_info") from None
                continue
            if msg["msg_type"] == "kernel_info_reply":
                return perf_counter_ns() - t0
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        km.cleanup_resources()


@dataclass
class KernelStarts:
    plain: list[float] = field(default_factory=list)
    ext: list[float] = field(default_factory=list)


def kernel_starts(runs: int = scaled(24, 2)) -> KernelStarts:
    """Alternating starts of the plain and the ``--ext=zingy_nb`` kernel (one warm-up each)."""
    root = Path(tempfile.mkdtemp(prefix="specs-"))
    env: dict[str, Any] = dict(os.environ)
    log = open(root / "kernels.log", "ab")  # the kernels' own chatter, kept off the report
    try:
        _kernelspecs(root)
        _start_once(root, "bench-plain", env, log)
        _start_once(root, "bench-ext", env, log)
        out = KernelStarts()
        for i in range(runs):
            order = ("bench-plain", "bench-ext") if i % 2 == 0 else ("bench-ext", "bench-plain")
            for name in order:
                sleep(0.2)  # let the previous kernel's exit settle
                (out.plain if name == "bench-plain" else out.ext).append(
                    _start_once(root, name, env, log)
                )
        return out
    finally:
        log.close()
        shutil.rmtree(root, ignore_errors=True)
