"""50 concurrent Jupyter kernels on a team store, on four roles, retrieving and updating.

Each kernel is a real ipykernel started through ``jupyter_client`` with its role's
environment (``ZINGY_NB_STORE_URL`` with that role's credentials, that member's own key
in ``ZINGY_NB_MEMBER_KEY`` as a spawner gives it, no master key: every member joined
first; ``ZINGY_NB_FLOW=cloud-flow``), runs ``%load_ext zingy_nb`` and
then its whole workload as one cell. All 50 kernels are started (in parallel batches)
before any workload is sent; then every workload is sent, then the replies collected.
Kernels talk over Unix sockets (``transport="ipc"``): with TCP, a port picked for a
kernel not started yet can be taken meanwhile as the source port of a connection to an
earlier one, and that kernel dies at start.

Each profile's slots are written by different roles at once: ``secret1`` by dana (an
admin), ``secret2`` by alice (the owner), ``secret3`` and ``secret4`` together by bob
(write grant). carol (read grant) and everyone else read through ``zingyConn``; some
carol kernels also try to write and to read a profile they have no grant on. Then: no
update is lost, no reader ever saw a partial profile, and every refusal was a clean
``ProfileAccessError`` / ``ProfileNotFoundError``. Every kernel is shut down at the end,
pass or fail, and no kernel process may outlive the test.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil
import pytest
from jupyter_client.manager import AsyncKernelManager

from tests import postgres
from tests.kernels import kernel_env
from tests.postgres import PgServer
from zingy_nb.paths import MEMBER_KEY_ENV
from zingy_nb.profiles import Profiles
from zingy_nb.vault.custody import ENV_VAR as KEY_ENV

pytestmark = pytest.mark.slow

pg_server = postgres.pg_server
PROFILES = [f"p{i}" for i in range(5)]
WRITES = 25
START_BATCH = 10  # kernels started at once: 2 cores, ~1 s of CPU each to start
START_TIMEOUT = 120
WRITE_TIMEOUT = 240
READ_TIMEOUT = 120

SETUP = """\
%load_ext zingy_nb
import json, os, time
from zingy_nb.errors import ProfileAccessError, ProfileNotFoundError, ZingyError
from zingy_nb.profiles import get_profiles
"""

#: A writer's cell: update its slots WRITES times; print the sequence numbers committed.
WRITER = """\
_name, _slots, _tag = {name!r}, {slots!r}, {tag!r}
_committed = []
try:
    for _seq in range({writes}):
        get_profiles().update(_name, {{slot: f"{{_name}}|{{_tag}}|{{_seq}}" for slot in _slots}})
        _committed.append(_seq)
finally:
    print("ZNB-RESULT " + json.dumps({{"committed": _committed}}))
"""

#: A reader's cell: retrieve every profile until the stop file appears; with try_write,
#: also try an update without a write grant and a retrieval without any grant. Every
#: outcome of those two that is not the expected clean refusal is kept in "unclean".
READER = """\
_names, _stop, _try_write = {names!r}, {stop!r}, {try_write!r}
_stats = {{"reads": 0, "bad": 0, "refused": 0, "hidden": 0, "unclean": []}}
_deadline = time.time() + {read_timeout}
while not os.path.exists(_stop) and time.time() < _deadline:
    for _name in _names:
        _info = zingyConn.apikey(_name)
        _stats["reads"] += 1
        # bob writes secret3 and secret4 together: a mix would be a partial profile
        if _info.secret3 != _info.secret4 or not all(
            v is not None and v.startswith(_name + "|") for v in _info.values()
        ):
            _stats["bad"] += 1
    if _try_write:
        try:
            get_profiles().update(_names[0], {{"secret2": "carol-MADEUP"}})
            _stats["unclean"].append("update was not refused")
        except ProfileAccessError as _exc:
            if "MADEUP" in str(_exc):
                _stats["unclean"].append("refusal shows the value")
            _stats["refused"] += 1
        except Exception as _exc:
            _stats["unclean"].append(f"update: {{type(_exc).__name__}}: {{_exc}}")
        try:
            zingyConn.apikey("private")
            _stats["unclean"].append("private was retrieved")
        except ProfileNotFoundError as _exc:
            if "MADEUP" in str(_exc):
                _stats["unclean"].append("refusal shows the value")
            _stats["hidden"] += 1
        except Exception as _exc:
            _stats["unclean"].append(f"apikey: {{type(_exc).__name__}}: {{_exc}}")
print("ZNB-RESULT " + json.dumps(_stats))
"""


class Job:
    """One kernel, its role and the cell it runs."""

    def __init__(
        self, role: str, name: str, code: str, env: dict[str, str], log: Path, ipc: str
    ) -> None:
        self.role, self.name, self.code, self.env, self.log = role, name, code, env, log
        # ipc: the socket files are named "{ipc}-{n}"; one prefix per kernel
        self.km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=ipc)
        self.kc: Any = None
        self.msg_id: str | None = None

    async def start(self) -> None:
        with open(self.log, "wb") as log:
            await self.km.start_kernel(env=self.env, stderr=log)
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            await self.kc.wait_for_ready(timeout=START_TIMEOUT)
        except RuntimeError as exc:
            raise RuntimeError(f"{self.role} kernel: {exc}\n{self.log.read_text()}") from None

    def send(self, code: str) -> None:
        self.msg_id = self.kc.execute(code, store_history=True)

    async def collect(self, timeout: float) -> tuple[dict[str, Any], str]:
        """The reply to the last ``send`` and the stdout it printed."""
        deadline = time.monotonic() + timeout
        out: list[str] = []
        while True:
            msg = await self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") != self.msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content["name"] == "stdout":
                out.append(content["text"])
            elif kind == "status" and content["execution_state"] == "idle":
                break
        while True:
            reply = await self.kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == self.msg_id:
                return reply["content"], "".join(out)

    async def run(self, code: str, timeout: float) -> dict[str, Any]:
        """Run ``code``; it must succeed; return the JSON it printed (if any)."""
        self.send(code)
        return await self.result(timeout)

    async def result(self, timeout: float) -> dict[str, Any]:
        reply, out = await self.collect(timeout)
        assert reply["status"] == "ok", (
            f"{self.role} kernel: {reply.get('ename')}: {reply.get('evalue')}\n{out}\n"
            f"{self.log.read_text(errors='replace')}"
        )
        lines = [ln for ln in out.splitlines() if ln.startswith("ZNB-RESULT ")]
        return json.loads(lines[-1].removeprefix("ZNB-RESULT ")) if lines else {}

    def connection_file(self) -> str:
        return str(self.km.connection_file)

    async def shutdown(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
        if await self.km.is_alive():
            await self.km.shutdown_kernel(now=False)


async def in_batches(jobs: Iterable[Job], size: int) -> None:
    todo = list(jobs)
    for i in range(0, len(todo), size):
        await asyncio.gather(*(job.start() for job in todo[i : i + size]))


def kernel_processes(connection_files: set[str]) -> list[psutil.Process]:
    """Live processes started for one of these connection files (ours, nobody else's)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if connection_files.intersection(cmdline) and proc.status() != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def test_fifty_kernels_on_four_roles(
    pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given every member joined, profiles owned by alice, bob may write them, carol read
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(MEMBER_KEY_ENV, raising=False)
    db = pg_server.new_database()
    member_keys = pg_server.join(db, tmp_path / "home")
    alice = Profiles(tmp_path / "home", url=pg_server.url("alice", db))
    for name in PROFILES:
        alice.set(name, f"{name}|seed|-", f"{name}|seed|-", f"{name}|seed|-", f"{name}|seed|-")
        alice.store.grant(name, "bob", "write")
        alice.store.grant(name, "carol", "read")
    alice.set("private", "private|MADEUP|-")
    alice.store.close()

    def job(role: str, code: str, name: str = "") -> Job:
        env = kernel_env(
            flow="cloud-flow",
            home=tmp_path / role,
            ZINGY_NB_STORE_URL=pg_server.url(role, db),
            ZINGY_NB_MASTER_KEY=None,
            ZINGY_NB_MEMBER_KEY=member_keys[role],
        )
        n = len(jobs)
        return Job(role, name, code, env, tmp_path / f"kernel-{n}-{role}.log", f"{ipc}/k{n}")

    # And 15 writer kernels (3 roles x 5 profiles), 30 reader kernels, 5 refused writers
    ipc = tempfile.mkdtemp(prefix="zk-")  # short: a Unix socket path has ~107 bytes
    stop = tmp_path / "stop"
    jobs: list[Job] = []
    for name in PROFILES:
        for role, slots in (("dana", ["secret1"]), ("alice", ["secret2"]),
                            ("bob", ["secret3", "secret4"])):  # fmt: skip
            code = WRITER.format(name=name, slots=slots, tag=role, writes=WRITES)
            jobs.append(job(role, code, name))
    writers = list(jobs)
    for role in ("alice", "bob", "carol", "dana") * 7 + ("carol", "bob"):
        code = READER.format(
            names=PROFILES, stop=str(stop), try_write=False, read_timeout=READ_TIMEOUT
        )
        jobs.append(job(role, code))
    for _ in range(5):
        code = READER.format(
            names=PROFILES, stop=str(stop), try_write=True, read_timeout=READ_TIMEOUT
        )
        jobs.append(job("carol", code))
    readers = jobs[len(writers) : -5]
    refusers = jobs[-5:]
    assert len(jobs) == 50 and {j.role for j in jobs} == {"alice", "bob", "carol", "dana"}

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        try:
            # When all 50 kernels are started and have loaded the extension
            await in_batches(jobs, START_BATCH)
            await asyncio.gather(*(j.run(SETUP, START_TIMEOUT) for j in jobs))
            # And every workload is sent before any reply is awaited
            for j in jobs:
                j.send(j.code)
            try:
                written = await asyncio.gather(*(j.result(WRITE_TIMEOUT) for j in writers))
            finally:
                stop.touch()
            read = await asyncio.gather(*(j.result(READ_TIMEOUT) for j in readers + refusers))
            return written, read
        finally:
            stop.touch()
            await asyncio.gather(*(j.shutdown() for j in jobs), return_exceptions=True)

    started = time.monotonic()
    try:
        writer_results, reader_results = asyncio.run(scenario())
    finally:
        # Then no kernel process is left behind, pass or fail
        files = {j.connection_file() for j in jobs if j.connection_file()}
        leftover = kernel_processes(files)
        for proc in leftover:
            proc.kill()
        shutil.rmtree(ipc, ignore_errors=True)
        assert not leftover, f"kernel processes left running: {leftover}"
    elapsed = time.monotonic() - started
    print(f"50 kernels: {elapsed:.1f} s")

    # And no reader saw a partial profile; every refusal was clean
    for j, stats in zip(readers + refusers, reader_results):
        assert stats["bad"] == 0 and stats["reads"] > 0, (j.role, stats)
        assert stats["unclean"] == [], (j.role, stats)
    for j, stats in zip(refusers, reader_results[len(readers) :]):
        assert stats["refused"] > 0 and stats["hidden"] > 0, (j.role, stats)
    # And no update was lost: each slot holds its writer's last committed value
    committed = {(j.name, j.role): stats["committed"] for j, stats in zip(writers, writer_results)}
    final = Profiles(tmp_path / "home", url=pg_server.url("alice", db))
    for name in PROFILES:
        last = {role: committed[(name, role)][-1] for role in ("dana", "alice", "bob")}
        assert final.secrets(name) == (
            f"{name}|dana|{last['dana']}",
            f"{name}|alice|{last['alice']}",
            f"{name}|bob|{last['bob']}",
            f"{name}|bob|{last['bob']}",
        )
        assert all(committed[(name, r)] == list(range(WRITES)) for r in ("dana", "alice", "bob"))
    # And the audit shows who retrieved what, by role
    roles = {e.role for e in final.store.audit("p0")}
    assert {"alice", "bob", "carol", "dana"} <= roles
