"""The JavaScript flow kernels (issue #26): warm retrieval in Deno, and kernel start.

A ``zingy-js-cloud-flow`` kernel as ``kernels.install`` writes it (launcher, proxy,
Deno), on a store of its own with the agent already running:

- **Warm** ``zingyConn.apikey()``: batches of calls timed inside the kernel
  (``performance.now()``, no messaging counted) after one cold call; the baseline is
  ``Deno.statSync`` of a file (Deno's own executable), alone, timed the same way (the floor of the prelude's
  freshness check).
- **Kernel start**: start to the first ``kernel_info_reply``
  (``measure_startup._start_once``), the zingy spec against a plain Deno kernelspec
  (``deno jupyter --kernel``, no proxy, no launcher), alternating; the extra time is the
  median of the paired differences.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from time import sleep

from .common import log, scaled
from .measure_agent import _environ, _Kernel, stop_agents
from .measure_startup import _start_once

KEY = base64.urlsafe_b64encode(b"made-up-js-bench-key-0123456789a").decode()
NAME = "bench-js"
VALUE = "sk_test_MADEUP_js_bench_0123456789abcdef"
JS = "zingy-js-cloud-flow"
PLAIN = "plain-deno"
CALLS = scaled(5000, 50)
BATCHES = scaled(12, 2)
STARTS = scaled(16, 1)
#: A cell that times ``CALLS`` warm calls and ``CALLS`` statSync calls, in ns each.
WARM = """
zingyConn.apikey("{name}");
let t = performance.now();
for (let i = 0; i < {calls}; i++) zingyConn.apikey("{name}");
const warm = (performance.now() - t) * 1e6 / {calls};
const probe = Deno.execPath();
t = performance.now();
for (let i = 0; i < {calls}; i++) Deno.statSync(probe);
const stat = (performance.now() - t) * 1e6 / {calls};
console.log(JSON.stringify({{warm, stat}}));
"""


@dataclass
class JsTimes:
    warm: list[float] = field(default_factory=list)
    stat: list[float] = field(default_factory=list)
    starts: dict[str, list[float]] = field(default_factory=lambda: {JS: [], PLAIN: []})


def _specs(prefix: Path) -> Path:
    """The flow kernelspecs (the JavaScript ones among them) and a plain Deno one."""
    from zingy_nb import kernels

    deno = kernels.deno_executable()
    if deno is None:
        raise RuntimeError("Deno is not installed (the javascript extra)")
    kernels.install(prefix=str(prefix))
    folder = kernels.kernels_dir(prefix=str(prefix))
    plain = {"argv": [deno, "jupyter", "--kernel", "--conn", "{connection_file}"],
             "display_name": PLAIN, "language": "typescript"}  # fmt: skip
    (folder / PLAIN).mkdir()
    (folder / PLAIN / "kernel.json").write_text(json.dumps(plain))
    return folder


def measure(folder: Path) -> JsTimes:
    """Both measurements in ``folder``; every kernel and agent stopped after."""
    from zingy_nb.agent.client import ensure_agent
    from zingy_nb.agent.location import StoreLocation
    from zingy_nb.profiles import Profiles

    home, runtime = folder / "store", folder / "rt"
    for path in (home, runtime, folder / "prefix"):
        path.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("ZINGY_NB_STORE_URL", "ZINGY_NB_FLOW")}
    env.update(ZINGY_NB_HOME=str(home), JUPYTER_RUNTIME_DIR=str(runtime), ZINGY_NB_MASTER_KEY=KEY)
    env["DENO_DIR"] = str(folder / "deno")  # the plain kernel's cache (the proxy sets its own)
    out = JsTimes()
    with open(folder / "kernels.log", "ab") as chatter, _environ(env):
        try:
            Profiles(home, url="").set(NAME, VALUE)
            specs = _specs(folder / "prefix")
            with ensure_agent(StoreLocation(home)):
                log("warm zingyConn.apikey() in a JavaScript kernel ...")
                kernel = _Kernel(specs, JS, env, chatter)
                try:
                    code = WARM.format(name=NAME, calls=CALLS)
                    for _ in range(BATCHES):
                        got = kernel.json(code)
                        out.warm.append(got["warm"])
                        out.stat.append(got["stat"])
                finally:
                    kernel.stop()
                log("kernel starts, JavaScript and plain Deno, alternating ...")
                for name in (JS, PLAIN):  # one warm-up each
                    _start_once(specs, name, env, chatter)
                for i in range(STARTS):
                    for name in (JS, PLAIN) if i % 2 == 0 else (PLAIN, JS):
                        sleep(0.2)  # let the previous kernel's exit settle
                        out.starts[name].append(_start_once(specs, name, env, chatter))
        finally:
            stop_agents(runtime)
    return out
