"""Reliability: concurrent processes, SIGKILL mid-write and mid-rotation, tampering.

Plain processes, not kernels: a kernel adds start-up time and nothing under test here.
Concurrency and SIGKILL mid-write run on both backends through ``store_backend``
(``tests.postgres``); each process gets the backend's environment (home, store URL
with member ``alice``'s credentials, and the embedded store's ``ZINGY_NB_MASTER_KEY`` or
alice's own ``ZINGY_NB_MEMBER_KEY``). Rotation, truncation and key-file tests are about
the embedded store's master key and file, and stay on SQLite (reasons below).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import postgres
from tests.postgres import Backend
from zingy_nb.errors import KeyUnavailableError, StoreError
from zingy_nb.profiles import Profiles

pytestmark = pytest.mark.slow

# The fixtures this module uses (imported fixtures are found by their module name).
pg_server = postgres.pg_server
store_backend = postgres.store_backend

WRITER = r"""
import json, random, sys
from zingy_nb.errors import ProfileNotFoundError
from zingy_nb.profiles import Profiles
wid, ops, log = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "w")
p, rnd = Profiles(), random.Random(wid)
for seq in range(ops):
    own, shared = f"w{wid}-{seq % 3}", f"shared-{seq % 2}"
    name = shared if rnd.random() < 0.3 else own
    vals = [f"{name}|w{wid}|s{seq}|{slot}" for slot in range(1, 5)]
    op = rnd.choice(["set", "set", "update", "delete"])
    try:
        if op == "set":
            p.set(name, *vals)
        elif op == "update":
            p.update(name, {"secret1": vals[0], "secret3": vals[2]})
        else:
            p.delete(name)
    except ProfileNotFoundError:
        op = "missing"
    log.write(json.dumps([op, name, vals]) + "\n")
    log.flush()
"""

READER = r"""
import json, os, sys, time
os.environ["ZINGY_NB_FLOW"] = "cloud-flow"
from zingy_nb import zingyConn
from zingy_nb.errors import ProfileNotFoundError
names = json.loads(sys.argv[1]); deadline = time.time() + float(sys.argv[2])
reads = bad = 0
while time.time() < deadline:
    for name in names:
        try:
            info = zingyConn.apikey(name)
        except ProfileNotFoundError:
            continue
        reads += 1
        s1, s3 = info.secret1.split("|"), info.secret3.split("|")
        # secret1 and secret3 always change together: a mix means a partial profile
        if s1[:3] != s3[:3] or s1[0] != name:
            bad += 1
print(json.dumps({"reads": reads, "bad": bad}))
"""


def spawn(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_eight_writers_and_two_readers(store_backend: Backend, tmp_path: Path) -> None:
    # Given a store with a key (a member-key team store: every process is alice, with
    # her key), 8 writer processes and 2 cloud-flow readers
    seeder = store_backend.profiles()
    seeder.set("seed", "seed-value")
    seeder.store.close()
    env = store_backend.env()
    names = [f"w{w}-{i}" for w in range(8) for i in range(3)] + ["shared-0", "shared-1"]
    logs = [tmp_path / f"writer{w}.log" for w in range(8)]
    writers = [spawn(WRITER, str(w), "40", str(logs[w]), env=env) for w in range(8)]
    readers = [spawn(READER, json.dumps(names), "6", env=env) for _ in range(2)]
    results = [p.communicate(timeout=180) for p in writers + readers]
    # Then no process failed, nobody hit "database is locked"
    for proc, (_out, err) in zip(writers + readers, results):
        assert proc.returncode == 0, err
        assert "locked" not in err
    # And readers never saw a partial or undecryptable profile
    for out, _ in results[8:]:
        stats = json.loads(out)
        assert stats["bad"] == 0 and stats["reads"] > 0
    # And each writer's own profiles end exactly as its committed operations say
    expected: dict[str, list | None] = {}
    for log in logs:
        for line in log.read_text().splitlines():
            op, name, vals = json.loads(line)
            if name.startswith("shared"):
                continue
            if op == "set":
                expected[name] = list(vals)
            elif op == "update":
                current = expected[name]
                assert current is not None
                current[0], current[2] = vals[0], vals[2]
            elif op in ("delete", "missing"):
                expected[name] = None
    final = store_backend.profiles()
    for name, want in expected.items():
        if want is None:
            assert not final.exists(name)
        else:
            assert final.secrets(name) == tuple(want)
    # And every stored profile, contended ones included, decrypts whole (and is in the
    # backend's own storage, read around zingy-nb)
    assert [n for n, _ in store_backend.raw_rows()] == sorted(m.name for m in final.list())
    for meta in final.list():
        values = final.secrets(meta.name)
        assert meta.name == "seed" or values[0].split("|")[:3] == values[2].split("|")[:3]


SLOW_WRITER = r"""
import sys
from zingy_nb.profiles import Profiles
p = Profiles()
seq = int(sys.argv[1])
while True:
    seq += 1
    p.set(f"k{seq % 5}", f"value-{seq}", f"second-{seq}")
    print(seq, flush=True)
"""


def test_writer_killed_fifty_times_leaves_every_commit_readable(store_backend: Backend) -> None:
    first = store_backend.profiles()
    first.set("k0", "value-0", "second-0")
    first.store.close()
    env = store_backend.env()
    rnd = random.Random(7)
    last_seq = 0
    for _ in range(50):
        proc = spawn(SLOW_WRITER, str(last_seq), env=env)
        time.sleep(0.15 + rnd.random() * 0.25)  # past start-up, into the write loop
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        seqs = [int(x) for x in out.split()]
        fresh = store_backend.profiles()
        # every commit acknowledged before the kill is there, intact
        for seq in seqs[-5:]:
            values = fresh.secrets(f"k{seq % 5}")
            stored = int(values[0].split("-")[1])
            assert stored >= seq and values[1] == f"second-{stored}"
        if seqs:
            last_seq = seqs[-1] + 1  # the write in flight may or may not have committed
        assert len(fresh.list()) >= 1
        fresh.store.close()
    # the writers ran against this backend: its own storage holds what the API lists
    raw = [n for n, _ in store_backend.raw_rows()]
    assert raw == [m.name for m in store_backend.profiles().list()]
    assert set(raw) <= {f"k{i}" for i in range(5)}


# SQLite only: `zingy-nb key rotate` rotates the embedded store's master key; a team
# store has none (a revoke rotates a profile's data key: test_pg_member_keys.py).
def test_rotation_killed_at_random_points_keeps_every_profile_readable(
    zingy_home: Path,
) -> None:
    p = Profiles(zingy_home)
    originals = {f"svc{i}": (f"secret-{i}-MADEUP", None, f"third-{i}", None) for i in range(40)}
    for name, values in originals.items():
        p.set(name, *values)
    cli = str(Path(sys.executable).with_name("zingy-nb"))
    started = time.perf_counter()
    subprocess.run([cli, "key", "rotate"], check=True, capture_output=True, timeout=60)
    full = time.perf_counter() - started
    rnd = random.Random(11)
    for _ in range(50):
        proc = subprocess.Popen(
            [cli, "key", "rotate"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        time.sleep(rnd.random() * full)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        fresh = Profiles(zingy_home)
        status = fresh.key_status()
        assert status.problem is None, status.problem
        assert {n: fresh.secrets(n) for n in originals} == originals
        assert fresh.store.info().key_id == status.key_id
    done = subprocess.run([cli, "key", "rotate"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert {n: Profiles(zingy_home).secrets(n) for n in originals} == originals


# SQLite only: it damages the embedded store's file; a team store has no file of ours.
def test_truncated_database_is_a_clear_error_and_left_alone(zingy_home: Path) -> None:
    p = Profiles(zingy_home)
    for i in range(30):
        p.set(f"svc{i}", "x" * 2000)
    p.store.close()
    db = zingy_home / "profiles.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    key_before = (zingy_home / "master.key").read_bytes()
    with pytest.raises(StoreError, match="restore it from a backup"):
        fresh = Profiles(zingy_home)
        [fresh.secrets(m.name) for m in fresh.list()]
    with pytest.raises(StoreError):
        Profiles(zingy_home).set("new", "value-new")
    assert db.read_bytes() == data[: len(data) // 2]
    assert (zingy_home / "master.key").read_bytes() == key_before


# SQLite only: the master key file; a team store has no master key (member key files:
# tests/test_member_custody.py).
def test_key_of_the_wrong_length_is_refused(zingy_home: Path) -> None:
    Profiles(zingy_home).set("svc", "value-svc")
    (zingy_home / "master.key").write_text("c2hvcnQta2V5\n")  # 9 bytes
    with pytest.raises(KeyUnavailableError, match="must be 32"):
        Profiles(zingy_home).secrets("svc")
    assert (zingy_home / "master.key").read_text() == "c2hvcnQta2V5\n"


def test_a_copy_of_the_store_file_alone_holds_what_a_live_process_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent keeps its connection open for hours: what it saved must be in
    profiles.db itself, not only in the write-ahead log beside it, when a person copies
    the store's file (to a backup, to another machine) while it runs."""
    monkeypatch.setenv("ZINGY_NB_MASTER_KEY", "bWFkZS11cC13YWwtY2hlY2twb2ludC1rZXktMDEyMzQ=")
    home, copy = tmp_path / "live", tmp_path / "copy"
    live = Profiles(home, url="")  # held open, as the agent holds its store
    live.set("first", "made-up-first-value")
    live.set("second", "made-up-second-value")
    copy.mkdir(mode=0o700)
    (copy / "profiles.db").write_bytes((home / "profiles.db").read_bytes())
    assert [m.name for m in Profiles(copy, url="").list()] == ["first", "second"]
    live.store.close()
