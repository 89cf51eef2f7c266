"""The agent (issue #22): what a launched kernel pays for holding no key.

A launched kernel is the ``zingy-cloud-flow`` kernelspec as ``kernels.install`` writes
it (``python -c "from zingy_nb.agent.launch import main; main()" cloud-flow -- python -m
ipykernel_launcher ... --ext=zingy_nb``): its ``get_profiles()`` is ``RemoteProfiles``, so a cold
``zingyConn.apikey()`` is one ``retrieve`` round trip to the agent and a warm one is
served from the kernel's cache. The baseline is today's path: the same kernel argv
without the launcher (``--ext=zingy_nb``, ``ZINGY_NB_FLOW=cloud-flow``) holding the key
itself (``ZINGY_NB_MASTER_KEY``). Both kernels are checked to be what they claim
(``RemoteProfiles`` and no key in the launched one's environment, ``Profiles`` in the
other) before anything is timed.

- Warm: batches of calls timed inside each kernel (no messaging counted), alternating
  between the two kernels.
- Cold: inside each kernel, a write to another profile (not timed: it moves the store's
  change token, so the kernel's cache and the agent's are both dropped), then one timed
  ``zingyConn.apikey()``; alternating rounds.
- Kernel start: ``start_kernel`` to the first ``kernel_info_reply``
  (``measure_startup._start_once``) of the launched spec and of the plain one,
  alternating, with the agent already running.
- Where a launched kernel's start goes (info): the launcher alone (the kernelspec's
  argv up to ``--``, then ``/bin/true``, agent up) against ``python -c pass``,
  alternating, process start to exit; and ``import zingy_nb.agent.remote``, which the
  extension does at load in a launched kernel only, timed in a fresh process after what
  a kernel has imported by then (ipykernel, the extension, ``zingyConn``).
- The agent's first start: ``ensure_agent()`` starting one (``--detach``, which returns
  once it listens) until its first ``status`` answer, in this process; the agent is then
  stopped (SIGTERM) and waited for before the next.

Everything runs on a store of its own with a made-up key, in a runtime folder of its own;
every agent started there and every kernel is stopped, also on failure.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic, perf_counter_ns, sleep
from typing import IO, Any

from .common import CHILD_TIMEOUT, log, scaled, smoke
from .measure_apikey import NAME, VALUES
from .measure_startup import _start_once

#: A made-up 32-byte key, urlsafe base64: the custody of a headless run.
KEY = base64.urlsafe_b64encode(b"made-up-bench-agent-key-01234567").decode()
LAUNCHED, PLAIN = "zingy-cloud-flow", "bench-plain-ext"
KINDS = ("launched", "plain")
#: Kernel starts: the launched spec confined (as installed), the same unconfined
#: (``ZINGY_NB_CONFINE=off``), and the plain spec.
START_KINDS = ("launched", "unconfined", "plain")
#: Written between cold reads (two long values: anything the kernel registers for
#: redaction must not match the digits it prints).
BUMP = ("bench-agent-bump-made-up-value-a-0123", "bench-agent-bump-made-up-value-b-4567")
IDLE_TIMEOUT = 120.0  # a leftover agent stops by itself soon

WARM_NUMBER = scaled(2000, 20)  # calls per batch
WARM_BATCHES = scaled(4, 2)  # batches per kernel per round
WARM_ROUNDS = scaled(15, 1)
COLD_READS = scaled(20, 3)  # cold reads per kernel per round
COLD_ROUNDS = scaled(10, 1)
STARTS = scaled(24, 1)
AGENT_STARTS = scaled(10, 1)
LAUNCHER_RUNS = scaled(20, 1)
IMPORT_RUNS = scaled(10, 1)

#: How each kernel opens the store: the launched one as any kernel does (its
#: ``get_profiles()`` asks the agent); the baseline holds the key and opens the store
#: in-process, as every kernel did before the agent (a plain kernel now registers
#: with the agent too, so it is built explicitly).
OPEN = {
    "launched": "from zingy_nb.profiles import get_profiles as _zb_get_profiles\n"
    "_zb_profiles = _zb_get_profiles()\n_zb_apikey = zingyConn.apikey\n",
    "plain": "from zingy_nb.profiles import Profiles as _zb_Profiles\n"
    "from zingy_nb.kernel.conn import ZingyConn as _zb_ZingyConn\n"
    "_zb_profiles = _zb_Profiles()\n_zb_apikey = _zb_ZingyConn(_zb_profiles).apikey\n",
}

SETUP = f"""
import hashlib as _zb_hashlib, json as _zb_json, os as _zb_os
from time import perf_counter_ns as _zb_now

def _zb_warm(n, batches, name={NAME!r}, apikey=_zb_apikey, now=_zb_now):
    for _ in range(n):
        apikey(name)
    out = []
    for _ in range(batches):
        t0 = now()
        for _ in range(n):
            apikey(name)
        out.append((now() - t0) / n)
    return out

def _zb_cold(n, first, name={NAME!r}, bump={BUMP!r}, apikey=_zb_apikey, now=_zb_now):
    out = []
    for i in range(first, first + n):
        _zb_profiles.set("bench-agent-bump", bump[i % 2])
        t0 = now()
        apikey(name)
        out.append(now() - t0)
    return out

_zb_info = _zb_apikey({NAME!r})
print(_zb_json.dumps({{
    "profiles": type(_zb_profiles).__name__,
    "key_in_env": "ZINGY_NB_MASTER_KEY" in _zb_os.environ,
    "digest": _zb_hashlib.sha256(_zb_info.secret1.encode()).hexdigest(),
}}))
"""
#: What each kernel must report after ``SETUP``: which ``Profiles`` and whether it holds
#: the key in its environment.
EXPECTED = {"launched": ("RemoteProfiles", False), "plain": ("Profiles", True)}


@dataclass
class AgentTimes:
    warm: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    cold: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    starts: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in START_KINDS})
    first_start: list[float] = field(default_factory=list)
    launcher: list[float] = field(default_factory=list)
    bare_python: list[float] = field(default_factory=list)
    remote_import: list[float] = field(default_factory=list)


@contextlib.contextmanager
def _environ(env: Mapping[str, str]) -> Iterator[None]:
    """This process's environment is ``env`` for the block (restored after)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _agent_pids(runtime: Path) -> list[int]:
    """Pids of live agents whose pid file is under ``runtime`` (at any depth: an agent
    whose runtime folder is too deep for a socket keeps it under TMPDIR)."""
    from zingy_nb.agent.location import PID_FILE, agent_pid

    found = (agent_pid(pid_file.parent) for pid_file in runtime.rglob(PID_FILE))
    return [pid for pid in found if pid is not None]


def stop_agents(runtime: Path, timeout: float = 30.0) -> int:
    """SIGTERM every agent under ``runtime`` and wait until each has exited; how many."""
    import signal

    from zingy_nb.agent.procs import identify

    pids = _agent_pids(runtime)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = monotonic() + timeout
    while any(identify(pid) is not None for pid in pids):  # a zombie is gone
        if monotonic() > deadline:
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            raise RuntimeError(f"agent(s) {pids} did not stop within {timeout:g} s")
        sleep(0.01)
    return len(pids)


def _specs(prefix: Path) -> Path:
    """Both flow kernelspecs installed under ``prefix``, plus the plain one: the launched
    spec's kernel argv (after ``--``) without the launcher. Returns the kernels folder."""
    from zingy_nb import kernels

    kernels.install(prefix=str(prefix))
    folder = kernels.kernels_dir(prefix=str(prefix))
    spec = json.loads((folder / LAUNCHED / "kernel.json").read_text())
    argv = spec["argv"]
    if "--" not in argv or not any("zingy_nb.agent.launch" in a for a in argv[: argv.index("--")]):
        raise RuntimeError(f"the {LAUNCHED} kernelspec does not run the launcher: {argv}")
    plain = {
        "argv": argv[argv.index("--") + 1 :],
        "display_name": PLAIN,
        "language": "python",
        "env": spec["env"],
    }
    (folder / PLAIN).mkdir()
    (folder / PLAIN / "kernel.json").write_text(json.dumps(plain))
    return folder


class _Kernel:
    """A kernel of one of the two specs, and its blocking client."""

    def __init__(self, specs: Path, name: str, env: Mapping[str, str], chatter: IO[bytes]) -> None:
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager

        self.km = KernelManager(
            kernel_name=name, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(specs)])
        )
        self.kc: Any = None
        try:
            self.km.start_kernel(env=dict(env), stdout=chatter, stderr=chatter)
            self.kc = self.km.client()
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=CHILD_TIMEOUT)
        except BaseException:
            self.stop()
            raise

    def json(self, code: str) -> Any:
        """Run ``code``, which prints one JSON document; return it."""
        out: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                out.append(msg["content"]["text"])

        reply = self.kc.execute_interactive(
            code, store_history=False, allow_stdin=False, timeout=CHILD_TIMEOUT, output_hook=hook
        )["content"]
        if reply["status"] != "ok":
            raise RuntimeError(f"kernel cell failed: {reply.get('ename')}: {reply.get('evalue')}")
        return json.loads("".join(out).strip().splitlines()[-1])

    def stop(self) -> None:
        if self.kc is not None:
            with contextlib.suppress(Exception):
                self.kc.stop_channels()
        with contextlib.suppress(Exception):
            self.km.shutdown_kernel(now=True)
        with contextlib.suppress(Exception):
            self.km.cleanup_resources()


def _first_starts(location: Any, runtime: Path, out: AgentTimes) -> None:
    """``ensure_agent`` starting the agent until its first answer, ``AGENT_STARTS`` times."""
    from zingy_nb.agent.client import ensure_agent

    runs = AGENT_STARTS if smoke() else AGENT_STARTS + 1  # the first one warms the caches
    for i in range(runs):
        stop_agents(runtime)
        sleep(0.2)
        t0 = perf_counter_ns()
        with ensure_agent(location, idle_timeout=IDLE_TIMEOUT) as client:
            client.status()
        elapsed = perf_counter_ns() - t0
        if i or smoke():
            out.first_start.append(elapsed)
    stop_agents(runtime)


def _in_kernels(specs: Path, env: Mapping[str, str], chatter: IO[bytes], out: AgentTimes) -> None:
    """Warm and cold reads timed inside a launched and a plain kernel, alternating."""
    expected_digest = hashlib.sha256(VALUES[0].encode()).hexdigest()
    started: dict[str, _Kernel] = {}
    try:
        for kind, name in (("launched", LAUNCHED), ("plain", PLAIN)):
            started[kind] = _Kernel(specs, name, env, chatter)
            got = started[kind].json(OPEN[kind] + SETUP)
            if (got["profiles"], got["key_in_env"]) != EXPECTED[kind]:
                raise RuntimeError(f"the {kind} kernel is not what it should be: {got}")
            if got["digest"] != expected_digest:
                raise RuntimeError(f"the {kind} kernel read another value")
        log("warm reads in both kernels ...")
        for i in range(WARM_ROUNDS):
            for kind in KINDS if i % 2 == 0 else KINDS[::-1]:
                code = f"print(_zb_json.dumps(_zb_warm({WARM_NUMBER}, {WARM_BATCHES})))"
                out.warm[kind] += started[kind].json(code)
        log("cold reads in both kernels ...")
        for i in range(COLD_ROUNDS):
            for kind in KINDS if i % 2 == 0 else KINDS[::-1]:
                code = f"print(_zb_json.dumps(_zb_cold({COLD_READS}, {i * COLD_READS})))"
                out.cold[kind] += started[kind].json(code)
    finally:
        for kernel in started.values():
            kernel.stop()


def _kernel_starts(
    specs: Path, env: Mapping[str, str], chatter: IO[bytes], out: AgentTimes
) -> None:
    """Starts of the launched spec, confined and not, and of the plain spec, in a
    rotating order (one warm-up each)."""
    names = {"launched": LAUNCHED, "unconfined": LAUNCHED, "plain": PLAIN}
    envs = {kind: dict(env) for kind in START_KINDS}
    envs["unconfined"]["ZINGY_NB_CONFINE"] = "off"
    if not smoke():
        for kind in START_KINDS:
            _start_once(specs, names[kind], envs[kind], chatter)
    for i in range(STARTS):
        shift = i % len(START_KINDS)
        for kind in START_KINDS[shift:] + START_KINDS[:shift]:
            sleep(0.2)  # let the previous kernel's exit settle
            out.starts[kind].append(_start_once(specs, names[kind], envs[kind], chatter))


#: Imports what a kernel has loaded before the extension's ``agent.remote`` import, then
#: times that import alone.
REMOTE_IMPORT = """
import json, time
import ipykernel.kernelapp, zingy_nb.kernel.extension, zingy_nb.kernel.conn
t0 = time.perf_counter_ns()
import zingy_nb.agent.remote
print(json.dumps({"ns": time.perf_counter_ns() - t0}))
"""


def _launcher_parts(specs: Path, env: Mapping[str, str], out: AgentTimes) -> None:
    """The launcher alone (as the kernelspec runs it) against a bare interpreter start;
    the ``agent.remote`` import."""
    import subprocess

    from .common import run_child

    argv = json.loads((specs / LAUNCHED / "kernel.json").read_text())["argv"]
    launcher = [*argv[: argv.index("--") + 1], "/bin/true"]
    bare = [sys.executable, "-c", "pass"]

    def timed(argv: list[str]) -> float:
        t0 = perf_counter_ns()
        subprocess.run(argv, env=dict(env), stdin=subprocess.DEVNULL, check=True,
                       capture_output=True, timeout=CHILD_TIMEOUT)  # fmt: skip
        return perf_counter_ns() - t0

    timed(launcher)
    timed(bare)
    for i in range(LAUNCHER_RUNS):
        pair = [(launcher, out.launcher), (bare, out.bare_python)]
        for argv, samples in pair if i % 2 == 0 else pair[::-1]:
            samples.append(timed(argv))
    code = [sys.executable, "-c", REMOTE_IMPORT]
    run_child(code, env)
    for _ in range(IMPORT_RUNS):
        out.remote_import.append(run_child(code, env)["ns"])


def measure(folder: Path) -> AgentTimes:
    """Everything above, in ``folder`` (created); every agent and kernel stopped after."""
    from zingy_nb.agent.client import ensure_agent
    from zingy_nb.agent.location import StoreLocation
    from zingy_nb.profiles import Profiles

    home, runtime = folder / "store", folder / "rt"
    for path in (home, runtime, folder / "prefix"):
        path.mkdir(parents=True)
    env = dict(os.environ)
    for var in ("ZINGY_NB_STORE_URL", "ZINGY_NB_MEMBER_KEY", "ZINGY_NB_AGENT_CAP"):
        env.pop(var, None)
    env.update(
        {
            "ZINGY_NB_HOME": str(home),
            "JUPYTER_RUNTIME_DIR": str(runtime),
            "ZINGY_NB_MASTER_KEY": KEY,
            "ZINGY_NB_FLOW": "cloud-flow",
            "ZINGY_NB_AGENT_IDLE_TIMEOUT": str(int(IDLE_TIMEOUT)),
        }
    )
    out = AgentTimes()
    with open(folder / "kernels.log", "ab") as kernel_log, _environ(env):
        try:
            Profiles(home, url="").set(NAME, *VALUES)
            specs = _specs(folder / "prefix")
            location = StoreLocation(home)
            log("the agent's first start ...")
            _first_starts(location, runtime, out)
            # From here on the agent runs: this connection keeps it from idling out.
            with ensure_agent(location, idle_timeout=IDLE_TIMEOUT):
                _in_kernels(specs, env, kernel_log, out)
                log("kernel starts, launcher and plain, alternating ...")
                _kernel_starts(specs, env, kernel_log, out)
                log("the launcher alone, the agent.remote import ...")
                _launcher_parts(specs, env, out)
        finally:
            stop_agents(runtime)
    return out
