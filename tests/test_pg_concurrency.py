"""50 concurrent processes on a team store, on four roles, retrieving and updating.

Plain Python processes using ``zingyConn`` in cloud-flow (not kernels: a kernel adds
start-up time and nothing under test here). Each profile's slots are written by
different roles at once: ``secret1`` by dana (an admin), ``secret2`` by alice (the
owner), ``secret3`` and ``secret4`` together by bob (write grant). carol (read grant)
and everyone else read; some carol processes also try to write and to read a profile
they have no grant on. Then: no update is lost, no reader ever saw a partial profile,
and every refusal was a clean ``ZingyError``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import postgres
from tests.postgres import PgServer
from zingy_nb.crypto import encode_key, new_key
from zingy_nb.profiles import Profiles

pytestmark = pytest.mark.slow

pg_server = postgres.pg_server
PROFILES = [f"p{i}" for i in range(5)]
WRITES = 25

WRITER = r"""
import json, sys
from zingy_nb.profiles import Profiles
name, slots, tag, log = sys.argv[1], sys.argv[2].split(","), sys.argv[3], sys.argv[4]
p = Profiles()
with open(log, "w") as out:
    for seq in range(int(sys.argv[5])):
        value = f"{name}|{tag}|{seq}"
        p.update(name, {slot: value for slot in slots})
        out.write(f"{seq}\n")
        out.flush()
"""

READER = r"""
import json, os, sys, time
os.environ["ZINGY_NB_FLOW"] = "cloud-flow"
from zingy_nb import zingyConn
from zingy_nb.errors import ProfileNotFoundError, ZingyError
names, stop, try_write = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
stats = {"reads": 0, "bad": 0, "refused": 0, "hidden": 0}
if try_write:
    from zingy_nb.profiles import get_profiles
deadline = time.time() + 120
while not os.path.exists(stop) and time.time() < deadline:
    for name in names:
        info = zingyConn.apikey(name)
        stats["reads"] += 1
        s3, s4 = info.secret3, info.secret4
        # bob writes secret3 and secret4 together: a mix would be a partial profile
        if s3 != s4 or not all(v.startswith(name + "|") for v in info.values()):
            stats["bad"] += 1
    if try_write:
        try:
            get_profiles().update(names[0], {"secret2": "carol-MADEUP"})
        except PermissionError as exc:
            assert isinstance(exc, ZingyError)
            stats["refused"] += 1
        try:
            zingyConn.apikey("private")
        except ProfileNotFoundError:
            stats["hidden"] += 1
print(json.dumps(stats))
"""


def spawn(code: str, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def test_fifty_processes_on_four_roles(
    pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given profiles owned by alice, bob may write them, carol may read them
    key = encode_key(new_key())
    monkeypatch.setenv("ZINGY_NB_MASTER_KEY", key)
    db = pg_server.new_database()
    alice = Profiles(tmp_path / "home", url=pg_server.url("alice", db))
    for name in PROFILES:
        alice.set(name, f"{name}|seed|-", f"{name}|seed|-", f"{name}|seed|-", f"{name}|seed|-")
        alice.store.grant(name, "bob", "write")
        alice.store.grant(name, "carol", "read")
    alice.set("private", "private|MADEUP|-")

    def env(role: str) -> dict[str, str]:
        return {
            "ZINGY_NB_STORE_URL": pg_server.url(role, db),
            "ZINGY_NB_MASTER_KEY": key,
            "ZINGY_NB_HOME": str(tmp_path / role),
        }

    # When 15 writers (3 roles x 5 profiles), 30 readers and 5 refused writers run at once
    stop = tmp_path / "stop"
    writers, logs = [], {}
    for name in PROFILES:
        for role, slots in (("dana", "secret1"), ("alice", "secret2"), ("bob", "secret3,secret4")):
            log = tmp_path / f"{name}-{role}.log"
            logs[(name, role)] = log
            writers.append(spawn(WRITER, name, slots, role, str(log), str(WRITES), env=env(role)))
    readers = [
        spawn(READER, json.dumps(PROFILES), str(stop), "0", env=env(role))
        for role in ("alice", "bob", "carol", "dana") * 7 + ("carol", "bob")
    ]
    refusers = [
        spawn(READER, json.dumps(PROFILES), str(stop), "1", env=env("carol")) for _ in range(5)
    ]
    assert len(writers) + len(readers) + len(refusers) == 50
    try:
        writer_results = [p.communicate(timeout=240) for p in writers]
    finally:
        stop.touch()
    time.sleep(0.1)
    reader_results = [p.communicate(timeout=120) for p in readers + refusers]

    # Then no process failed
    for proc, (_out, err) in zip(writers + readers + refusers, writer_results + reader_results):
        assert proc.returncode == 0, err
    # And no reader saw a partial profile; every refusal was clean
    for i, (out, _err) in enumerate(reader_results):
        stats = json.loads(out)
        assert stats["bad"] == 0 and stats["reads"] > 0, stats
        if i >= len(readers):
            assert stats["refused"] > 0 and stats["hidden"] > 0, stats
    # And no update was lost: each slot holds its writer's last committed value
    final = Profiles(tmp_path / "home", url=pg_server.url("alice", db))
    for name in PROFILES:
        last = {role: len(logs[(name, role)].read_text().splitlines()) - 1 for role in
                ("dana", "alice", "bob")}  # fmt: skip
        assert final.secrets(name) == (
            f"{name}|dana|{last['dana']}",
            f"{name}|alice|{last['alice']}",
            f"{name}|bob|{last['bob']}",
            f"{name}|bob|{last['bob']}",
        )
        assert all(v == WRITES - 1 for v in last.values())
    # And the audit shows who retrieved what, by role
    roles = {e.role for e in final.store.audit("p0")}
    assert {"alice", "bob", "carol", "dana"} <= roles
