"""The PostgreSQL team store beside the embedded SQLite one, in the same run.

A throwaway PostgreSQL server (``tests.postgres``: initdb / pg_ctl, unix socket only,
as the ``postgres`` OS user when run as root) is started for the section and stopped
in a ``finally``. Both stores hold 10,000 profiles, written through the store's
transaction API, 250 per transaction (timed, not counted), and the PostgreSQL one is used as
member ``alice`` (row-level security applies, as for any team member; she has joined,
so each of her profiles has its own data key wrapped for her, and no master key takes
part). Measured, with
samples of the two backends alternating:

- warm ``zingyConn.apikey()``, the store chosen by ``ZINGY_NB_HOME`` /
  ``ZINGY_NB_STORE_URL`` as in a kernel;
- cold retrieval: ``secrets()`` on a fresh ``Profiles`` (for PostgreSQL this includes
  connecting and authenticating);
- ``list()`` of the 10,000 profiles;
- database statements per 1,000 warm ``zingyConn.apikey()`` calls while the store's
  change listener is healthy: counted by the server (``log_statement = 'all'`` on the
  database for that phase only; lines of this process's backend pid, its own
  heartbeats counted apart);
- change propagation: a child process (``pg_reader.py``, a plain Python process, not a
  kernel) polls ``zingyConn.apikey(name)`` in a tight loop while this process changes
  the profile with ``Profiles.set``; latency = the reader's first sight of the new value
  minus the moment ``set()`` returned (commit acknowledged), both on CLOCK_MONOTONIC.
  The reader starts once its listener is healthy (warm reads need no query).
- grant and revoke (a second database on the same server): one profile owned by ``alice`` with ``READERS`` grantees who
  have all joined (their own member keys, 0600 key files in throwaway homes); each
  sample revokes the last grantee (the store removes its wraps and rotates the data
  key: re-seal, re-wrap and re-sign for everyone left) and grants it ``read`` again
  (wrap and sign for one), through ``Profiles.store`` as ``zingy-nb profiles
  grant|revoke`` does. Alternating, each timed from the call to its commit.
"""

from __future__ import annotations

import os
import queue
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from zingy_nb.pytest_plugin import temporary_env

from .common import BENCH_DIR, ROOT, batches, scaled

if TYPE_CHECKING:
    from zingy_nb.profiles import Profiles

COUNT = scaled(10_000, 40)
#: Profiles per build transaction. Not one transaction for all 10,000: every statement
#: on zingy_nb.profiles bumps the one change-counter row (a statement trigger), and
#: 20,000 updates of one row inside one transaction make each next update walk all
#: earlier versions (one transaction of 10,000 puts took 48 s here; chunks take ~5 s).
CHUNK = 250
WARM = "bench-warm"
PROPAGATE = "bench-propagate"
BACKENDS = ("pg", "sqlite")
QUERY_READS = 1000


@dataclass
class PgTimes:
    build_ns: dict[str, float] = field(default_factory=dict)
    warm: dict[str, list[float]] = field(default_factory=lambda: {b: [] for b in BACKENDS})
    cold: dict[str, list[float]] = field(default_factory=lambda: {b: [] for b in BACKENDS})
    listing: dict[str, list[float]] = field(default_factory=lambda: {b: [] for b in BACKENDS})
    propagate: dict[str, list[float]] = field(default_factory=lambda: {b: [] for b in BACKENDS})
    server: str = ""
    #: (statements by the read path, heartbeats) over ``QUERY_READS`` warm reads
    queries: tuple[int, int] = (-1, -1)
    #: member-key store: ns per grant / per revoke (re-seal included) of one profile
    grant: list[float] = field(default_factory=list)
    revoke: list[float] = field(default_factory=list)


def available() -> str | None:
    """Why PostgreSQL cannot run here, or None."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg not installed: install the wheel with its postgres extra, or pip install 'psycopg[binary]>=3.1'"
    import shutil

    found = shutil.which("initdb") or list(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return None if found else "PostgreSQL not installed: run .ci/run"


@contextmanager
def team_store(home: Path) -> Iterator[tuple[str, str, Any, str]]:
    """A throwaway server and database, where ``alice`` has joined from ``home`` (her
    member key in a 0600 file there); yields (her URL, server version, server, db)."""
    import tests.postgres as pg

    try:
        server = pg._start()
    except BaseException as exc:  # pytest.fail raises a BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise RuntimeError(f"could not start PostgreSQL: {exc}") from None
    try:
        db = server.new_database()
        server.join(db, home, ["alice"])
        version = server.sql("SHOW server_version")[0][0]
        yield server.url("alice", db), f"PostgreSQL {version}", server, db
    finally:
        pg.stop_cluster(server)


def _bulk(profiles: Profiles, count: int) -> float:
    """``count`` profiles through the store's transaction API, ``CHUNK`` per
    transaction; ns taken. On the team store each is sealed as ``Profiles.set`` seals
    it (its own data key, wrapped for its readers, signed)."""
    from zingy_nb.store.base import utcnow

    t0 = perf_counter_ns()
    profiles.set(WARM, "sk_live_" + "a1B2c3D4" * 4, "whsec_" + "Z9y8X7w6" * 4)
    profiles.set(PROPAGATE, "start")
    for start in range(0, count - 2, CHUNK):
        with profiles.store.transaction() as txn:
            now = utcnow()
            for i in range(start, min(start + CHUNK, count - 2)):
                name = f"profile-{i:05d}"
                values = (f"secret-one-{i:05d}-" + "x" * 24, f"secret-two-{i:05d}", None, None)
                profiles.vault.seal(txn, name, values, now, now)
    profiles._changed()
    return perf_counter_ns() - t0


def _propagation(writer: Profiles, env: dict[str, str], rounds: int) -> list[float]:
    """ns from ``set()`` returning in this process to a polling child seeing the value."""
    child = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "pg_reader.py"), PROPAGATE],
        env=env, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.put(line.strip())
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()

    def next_line() -> str:
        try:
            line = lines.get(timeout=15)
        except queue.Empty:
            raise RuntimeError("the polling reader saw no change within 15 s") from None
        if not line:
            err = child.stderr.read() if child.stderr else ""
            raise RuntimeError(f"pg_reader.py exited: {err.strip().splitlines()[-1:]}")
        return line

    out: list[float] = []
    try:
        assert next_line().startswith("ready")
        time.sleep(0.2)  # let it settle into its loop
        for i in range(rounds + 1):
            time.sleep(random.uniform(0.02, 0.06))
            value = f"v{i:03d}" if i < rounds else "stop"
            writer.set(PROPAGATE, value)
            committed = time.monotonic_ns()
            seen, got = next_line().split(" ", 1)
            assert got == value, f"reader saw {got!r}, expected {value!r}"
            if i < rounds and i > 0:  # the first round is a warm-up
                out.append(int(seen) - committed)
        child.wait(timeout=15)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return out


def _wait_listening(profiles: Profiles, timeout: float = 10.0) -> Any:
    """The store's change listener, once healthy (a read starts it)."""
    listener = profiles.store._listener  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while not listener.healthy:
        if time.monotonic() > deadline:
            raise RuntimeError("the store's change listener did not become healthy")
        profiles.secrets(WARM)
        time.sleep(0.01)
    profiles.secrets(WARM)  # refill the cache under the listener's token
    return listener


def _statements(server: Any, pid: int) -> list[str]:
    log = (server.root / "log").read_text(errors="replace")
    return re.findall(rf"\[{pid}\] LOG:  (?:statement|execute [^:]*): (.*)", log)


def _queries(server: Any, db: str, home: Path, url: str) -> tuple[int, int]:
    """(statements other than heartbeats, heartbeats) by this process's backend over
    ``QUERY_READS`` warm ``zingyConn.apikey()`` calls while listening."""
    from zingy_nb.kernel.conn import zingyConn
    from zingy_nb.paths import HOME_ENV, URL_ENV
    from zingy_nb.profiles import get_profiles

    server.sql(f"ALTER DATABASE {db} SET log_statement = 'all'")
    try:
        with temporary_env(**{HOME_ENV: str(home), URL_ENV: url}):
            shared = get_profiles()
            shared.store.close()  # the next connection logs its statements
            listener = _wait_listening(shared)
            pid = shared.store._conn.info.backend_pid  # type: ignore[attr-defined]
            before = _statements(server, pid)
            for _ in range(QUERY_READS):
                zingyConn.apikey(WARM)
            healthy = listener.healthy
            after = _statements(server, pid)[len(before) :]
    finally:
        server.sql(f"ALTER DATABASE {db} RESET log_statement")
    if not healthy:
        raise RuntimeError("the listener fell back during the count")
    beats = [s for s in after if "pg_notify" in s]
    return len(after) - len(beats), len(beats)


READERS = 10
MEMBER_PROFILE = "bench-member-keys"
READER_PASSWORD = "made-up-bench-reader-pw"  # a throwaway server's role


def _member_key_database(server: Any) -> str:
    """A second database on ``server`` (created by its owner), with ``READERS`` extra
    member roles ``bench_rNN`` besides the test roles."""
    import tests.postgres as pg

    readers = [f"bench_r{i:02d}" for i in range(1, READERS + 1)]
    for role in readers:
        server.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{READER_PASSWORD}'")
    return server.new_database(members=[*pg.MEMBERS, *readers], admins=())


def _grant_revoke(server: Any, home: Path, reps: int) -> tuple[list[float], list[float]]:
    """ns per revoke (re-seal included) and per grant of one profile with ``READERS``
    grantees; see the module docstring."""
    from zingy_nb.profiles import Profiles
    from zingy_nb.store.postgres_members import MemberKeyStore
    from zingy_nb.vault.member_custody import ENV_VAR as MEMBER_KEY_ENV
    from zingy_nb.vault.member_keys import MemberKeyPair

    db = _member_key_database(server)
    readers = [f"bench_r{i:02d}" for i in range(1, READERS + 1)]
    for role in readers:  # each joins with their own key (as a spawner gives it), then hangs up
        with temporary_env(**{MEMBER_KEY_ENV: MemberKeyPair.generate().encode()}):
            member = Profiles(
                home / role,
                store=MemberKeyStore(server.url(role, db, password=READER_PASSWORD)),
            )
            try:
                member.vault.join()  # type: ignore[union-attr]
            finally:
                member.store.close()
    owner = Profiles(home / "alice", store=MemberKeyStore(server.url("alice", db)))
    grants: list[float] = []
    revokes: list[float] = []
    with temporary_env(**{MEMBER_KEY_ENV: MemberKeyPair.generate().encode()}):
        try:
            _pairs(owner, readers, server, db, reps, grants, revokes)
        finally:
            owner.store.close()
    return grants[1:], revokes[1:]


def _pairs(
    owner: Any,
    readers: list[str],
    server: Any,
    db: str,
    reps: int,
    grants: list[float],
    revokes: list[float],
) -> None:
    """The owner joins, saves, grants every reader, then times revoke / grant pairs."""
    owner.vault.join()
    owner.set(MEMBER_PROFILE, "sk_live_MADEUP_" + "m3Mb3rK3y" * 3, "whsec_MADEUP")
    for role in readers:
        owner.store.grant(MEMBER_PROFILE, role, "read")
    last = readers[-1]

    def wraps() -> int:
        return int(server.sql("SELECT count(*) FROM zingy_nb.wraps", db=db)[0][0])

    full = wraps()  # the owner's and every grantee's
    if full != READERS + 1:
        raise RuntimeError(f"expected {READERS + 1} wraps, found {full}")
    for _ in range(reps + 1):  # the first pair is a warm-up
        t0 = perf_counter_ns()
        if not owner.store.revoke(MEMBER_PROFILE, last):
            raise RuntimeError("revoke removed no grant")
        t1 = perf_counter_ns()
        owner.store.grant(MEMBER_PROFILE, last, "read")
        t2 = perf_counter_ns()
        revokes.append(t1 - t0)
        grants.append(t2 - t1)
    owner.store.revoke(MEMBER_PROFILE, last)
    if wraps() != READERS:
        raise RuntimeError("the revoke left the revoked member's wrap")


def measure(root: Path, reps: int = scaled(25, 2), rounds: int = scaled(51, 3)) -> PgTimes:
    from zingy_nb.audit import audit_log
    from zingy_nb.kernel.conn import zingyConn
    from zingy_nb.paths import HOME_ENV, URL_ENV
    from zingy_nb.profiles import Profiles

    out = PgTimes()
    home = root / "pg-section"
    home.mkdir()
    with team_store(home / "pg") as (url, version, server, db):
        out.server = version
        urls = {"pg": url, "sqlite": ""}
        stores = {b: Profiles(home / b, url=urls[b]) for b in BACKENDS}
        try:
            for b in BACKENDS:
                out.build_ns[b] = _bulk(stores[b], COUNT)
                assert len(stores[b].list()) == COUNT

            def warm_loop(backend: str):  # type: ignore[no-untyped-def]
                env = {HOME_ENV: str(home / backend), URL_ENV: urls[backend]}

                def loop(n: int) -> None:
                    with temporary_env(**env):
                        apikey = zingyConn.apikey
                        for _ in range(n):
                            apikey(WARM)

                return loop

            loops = {b: warm_loop(b) for b in BACKENDS}
            loops["pg"](1)  # the process-wide Profiles exists: wait for its listener
            with temporary_env(**{HOME_ENV: str(home / "pg"), URL_ENV: url}):
                from zingy_nb.profiles import get_profiles

                _wait_listening(get_profiles())
            number = {"pg": scaled(500, 20), "sqlite": scaled(2000, 20)}
            for i in range(reps):
                for b in BACKENDS if i % 2 == 0 else BACKENDS[::-1]:
                    out.warm[b] += batches(loops[b], number=number[b], repeat=1)

            def cold(backend: str) -> float:
                fresh = Profiles(home / backend, url=urls[backend])
                t0 = perf_counter_ns()
                fresh.secrets(WARM)
                took = perf_counter_ns() - t0
                fresh.store.close()
                return took

            for b in BACKENDS:  # warm-ups
                cold(b)
                stores[b].list()
            for i in range(reps):
                for b in BACKENDS if i % 2 == 0 else BACKENDS[::-1]:
                    out.cold[b].append(cold(b))
            for i in range(scaled(15, 2)):
                for b in BACKENDS if i % 2 == 0 else BACKENDS[::-1]:
                    t0 = perf_counter_ns()
                    stores[b].list()
                    out.listing[b].append(perf_counter_ns() - t0)

            out.queries = _queries(server, db, home / "pg", url)
            for b in BACKENDS:
                env = {**os.environ, HOME_ENV: str(home / b), URL_ENV: urls[b]}
                out.propagate[b] = _propagation(stores[b], env, rounds)
            out.grant, out.revoke = _grant_revoke(server, home / "member-keys", scaled(20, 2))
        finally:
            audit_log.flush()  # the warm calls' counts, before the server goes away
            for profiles in stores.values():
                profiles.store.close()
    return out
