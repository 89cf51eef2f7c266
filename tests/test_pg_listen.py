"""Warm reads without the database: the team store's LISTEN/NOTIFY change listener.

Queries are counted by the server: the test database logs every statement
(``log_statement = 'all'``) with the backend's pid, and a reader's statements are the
log lines of its backend, heartbeats (``pg_notify``) and ``LISTEN`` aside. Changes are
committed by other processes (the ``zingy-nb`` CLI, or a plain Python child). alice has
joined the team store from the zingy-nb home every process here uses (her member key in
a file there); there is no master key.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import postgres
from tests.postgres import PgServer, wait_for
from zingy_nb import profiles as profiles_module
from zingy_nb.audit import audit_log
from zingy_nb.kernel.conn import zingyConn
from zingy_nb.paths import HOME_ENV, MEMBER_KEY_ENV
from zingy_nb.profiles import Profiles
from zingy_nb.store.postgres import PostgresStore
from zingy_nb.store.postgres_listen import FRESH_S, IDLE_S
from zingy_nb.store.url import URL_ENV
from zingy_nb.vault.custody import ENV_VAR as KEY_ENV

pg_server = postgres.pg_server
#: At most what opening a profile on a member-key store asks (the change token aside):
#: its row and the caller's wrap, the store record, the member keys, the endorsements.
REREAD_STATEMENTS = 6
#: What one flush of the audit log's warm-read counts asks (every ``FLUSH_SECONDS``, from
#: a background thread): BEGIN, its upsert, the prune, COMMIT.
AUDIT_FLUSH_STATEMENTS = 4

WRITER = """
import sys, time
from zingy_nb.profiles import Profiles
p = Profiles(url=sys.argv[1])
p.set(sys.argv[2], sys.argv[3])
print(time.monotonic_ns(), flush=True)
p.store.close()
"""


@pytest.fixture
def team(pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh store whose database logs every statement, alice joined; yields her URL."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(MEMBER_KEY_ENV, raising=False)
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    db = pg_server.new_database()
    pg_server.join(db, tmp_path / "home", ["alice"])
    pg_server.sql(f"ALTER DATABASE {db} SET log_statement = 'all'")
    url = pg_server.url("alice", db)
    monkeypatch.setenv(URL_ENV, url)
    yield url
    audit_log.flush()  # this test's warm-read counts, while the database is there
    shared = profiles_module._instances.pop((tmp_path / "home", url), None)
    if shared is not None:
        shared.store.close()
    pg_server.drop_database(db)


def store_of(p: Profiles) -> PostgresStore:
    assert isinstance(p.store, PostgresStore)
    return p.store


def backend_pid(p: Profiles) -> int:
    conn = store_of(p)._conn
    assert conn is not None
    return int(conn.info.backend_pid)


def statements(server: PgServer, pid: int) -> list[str]:
    """What backend ``pid`` was asked to run, heartbeats and LISTEN aside."""
    log = (server.root / "log").read_text(errors="replace")
    found = re.findall(rf"\[{pid}\] LOG:  (?:statement|execute [^:]*): (.*)", log)
    return [s for s in found if "pg_notify" not in s and not s.startswith("LISTEN")]


def listening(p: Profiles) -> None:
    """Wait until ``p`` reads without the database (a read kicks the listener off)."""
    p.secrets("svc")
    wait_for(lambda: store_of(p)._listener.healthy, timeout=10)
    p.secrets("svc")  # the cache, refilled under the listener's token


def commit_elsewhere(url: str, name: str, value: str) -> int:
    """Set ``name`` from another process; CLOCK_MONOTONIC ns once its commit returned."""
    out = subprocess.run(
        [sys.executable, "-c", WRITER, url, name, value],
        capture_output=True, text=True, timeout=60, env=os.environ.copy(),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[0])


def test_warm_reads_make_no_query_while_listening(team: str, pg_server: PgServer) -> None:
    p = profiles_module.get_profiles()  # what zingyConn uses in this process
    p.set("svc", "svc-MADEUP-1")
    assert zingyConn.apikey("svc").secret1 == "svc-MADEUP-1"
    listening(p)
    pid = backend_pid(p)
    before = len(statements(pg_server, pid))
    for _ in range(500):
        assert zingyConn.apikey("svc").secret1 == "svc-MADEUP-1"
        assert p.secrets("svc")[0] == "svc-MADEUP-1"
    assert store_of(p)._listener.healthy
    assert statements(pg_server, pid)[before:] == []
    assert backend_pid(p) == pid  # still the one connection

    # The count is real: with the listener stopped, the next read asks the server.
    store_of(p)._listener.stop()
    p.secrets("svc")
    asked = statements(pg_server, pid)[before:]
    assert asked and "changes" in asked[0]


def test_one_connection_per_process(team: str, pg_server: PgServer) -> None:
    p = Profiles(url=team)
    p.set("svc", "svc-MADEUP-1")
    listening(p)
    db = re.findall(r"@/(\w+)\?", team)[0]
    rows = pg_server.sql(
        f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' "
        "AND application_name = 'zingy-nb'"
    )
    assert rows[0][0] == 1
    p.store.close()
    assert store_of(p)._listener._thread is None


def test_a_change_by_another_process_is_seen_at_once(
    team: str, pg_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = Profiles(url=team)
    p.set("svc", "v0")
    listening(p)
    pid = backend_pid(p)
    before = len(statements(pg_server, pid))
    seen: dict[str, int] = {}
    reads = [0]
    stop = threading.Event()
    assert p.vault is not None
    vault_open, opened = p.vault.open, [0]
    listener = store_of(p)._listener
    listener_token, fallbacks, listens = listener.token, [0], listener.listens

    def counted_open(name: str) -> tuple:
        opened[0] += 1  # a re-read: the warm cache had nothing under the current token
        return vault_open(name)

    def counted_token() -> object | None:
        token = listener_token()
        if token is None:
            fallbacks[0] += 1  # the listener is late (a delayed heartbeat): ask the counter
        return token

    audit_flush, flushes = audit_log.flush, [0]

    def counted_flush() -> None:
        flushes[0] += 1  # the background flush of warm-read counts (every 30 s)
        audit_flush()

    p.vault.open = counted_open  # type: ignore[method-assign]
    listener.token = counted_token  # type: ignore[method-assign]
    monkeypatch.setattr(audit_log, "flush", counted_flush)

    def poll() -> None:
        while not stop.is_set():
            value = p.secrets("svc")[0]
            reads[0] += 1
            if value not in seen:
                seen[value] = time.monotonic_ns()

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        committed = {}
        for i in range(1, 4):
            committed[f"v{i}"] = commit_elsewhere(team, "svc", f"v{i}")
            wait_for(lambda i=i: f"v{i}" in seen, timeout=5)
    finally:
        stop.set()
        poller.join()
    for value, at in committed.items():
        assert (seen[value] - at) / 1e9 < 2.0, value  # normally a few ms; CI is slow
    # Seen through the listener, not by asking. What the design allows, counted by kind:
    # - one small counter query per read the listener could not vouch for (a heartbeat
    #   came back late on a busy machine), and none while it could (one more per LISTEN);
    # - the audit log's background flush, if its 30 s came round meanwhile;
    # - a changed token costs one re-read (3 changes; up to 3 each, one more for each
    #   fallback, which may count a change already heard), a re-read being only the
    #   statements of opening the profile.
    assert reads[0] > 1000
    assert fallbacks[0] < reads[0] // 2, (fallbacks[0], reads[0])  # warm reads stay warm
    assert 3 <= opened[0] <= 3 * 3 + fallbacks[0], (opened[0], fallbacks[0])
    asked = statements(pg_server, pid)[before:]
    counter = [s for s in asked if re.search(r"FROM \S*changes WHERE id = 1$", s)]
    relistened = listener.listens - listens  # (re)starting to listen reads it once too
    assert len(counter) <= fallbacks[0] + relistened, (fallbacks[0], relistened, asked)
    audit = [s for s in asked if s in ("BEGIN", "COMMIT") or re.search(r"\.audit\b|audit_prune", s)]
    assert len(audit) <= flushes[0] * AUDIT_FLUSH_STATEMENTS, (flushes[0], asked)
    rereads = [s for s in asked if s not in counter and s not in audit]
    assert len(rereads) <= opened[0] * REREAD_STATEMENTS, asked


def test_a_terminated_connection_falls_back_and_recovers(team: str, pg_server: PgServer) -> None:
    p = Profiles(url=team)
    p.set("svc", "v0")
    listening(p)
    old = backend_pid(p)
    pg_server.sql(f"SELECT pg_terminate_backend({old})")
    wait_for(lambda: not store_of(p)._listener.healthy, timeout=5)
    commit_elsewhere(team, "svc", "v1")  # while nobody listens for this process
    assert p.secrets("svc")[0] == "v1"  # fell back: asked the server (a new connection)
    new = backend_pid(p)
    assert new != old
    assert statements(pg_server, new)  # the fallback's own reads
    listening(p)
    before = len(statements(pg_server, new))
    for _ in range(1000):
        assert p.secrets("svc")[0] == "v1"
    assert statements(pg_server, new)[before:] == []
    commit_elsewhere(team, "svc", "v2")
    wait_for(lambda: p.secrets("svc")[0] == "v2", timeout=2)


def test_a_silent_listener_falls_back_within_the_bound(team: str, pg_server: PgServer) -> None:
    """The listener thread stops without a word (as if blocked): its last heartbeat
    ages out, reads ask the server again and see the change, then it recovers."""
    p = Profiles(url=team)
    p.set("svc", "v0")
    listening(p)
    pid = backend_pid(p)
    listener = store_of(p)._listener
    assert listener._thread is not None
    listener._stop.set()  # ends the thread, leaving its health as it was
    listener._kick()
    listener._thread.join()
    committed = commit_elsewhere(team, "svc", "v1")
    wait_for(lambda: p.secrets("svc")[0] == "v1", timeout=FRESH_S + 5)
    late = (time.monotonic_ns() - committed) / 1e9
    assert late < FRESH_S + 2.0
    assert backend_pid(p) == pid
    before = len(statements(pg_server, pid))
    p.secrets("svc")
    assert len(statements(pg_server, pid)) > before or listener.healthy
    # A read while unhealthy restarted the listener: warm reads are query-free again.
    listening(p)
    before = len(statements(pg_server, pid))
    for _ in range(1000):
        assert p.secrets("svc")[0] == "v1"
    assert statements(pg_server, pid)[before:] == []


def test_a_pooler_that_cannot_listen_means_a_query_per_read(team: str, pg_server: PgServer) -> None:
    """Heartbeats that never come back (here: the channel's notifications are never
    delivered, as behind PgBouncer in transaction mode) keep reads asking the server."""
    p = Profiles(url=team)
    p.set("svc", "v0")
    p.secrets("svc")
    listener = store_of(p)._listener
    wait_for(lambda: listener.heartbeats >= 1, timeout=5)
    with store_of(p)._lock:
        conn = store_of(p)._conn
        assert conn is not None
        conn.execute("UNLISTEN *")  # what a transaction-mode pooler does in effect
    time.sleep(FRESH_S + 0.5)
    assert not listener.healthy
    pid = backend_pid(p)
    before = len(statements(pg_server, pid))
    for _ in range(10):
        p.secrets("svc")
    assert len(statements(pg_server, pid)[before:]) >= 10
    commit_elsewhere(team, "svc", "v1")
    assert p.secrets("svc")[0] == "v1"


def test_the_token_holds_across_fallback_and_listening(team: str) -> None:
    """Nothing changed: the same token whether read from the server or heard (so a
    switch costs no re-read); a change moves it either way."""
    p = Profiles(url=team)
    p.set("svc", "v0")
    store = store_of(p)
    store._listener.stop()
    asked = store.change_token()  # read from the server
    listening(p)
    assert store.change_token() == asked
    commit_elsewhere(team, "svc", "v1")
    wait_for(lambda: store.change_token() != asked, timeout=2)
    heard = store.change_token()
    store._listener.stop()
    again = store.change_token()  # asked: the change may count twice, never not at all
    assert again >= heard
    assert store.change_token() == again  # and then holds while nothing changes


def test_an_idle_process_sends_no_heartbeats_until_it_reads(team: str, pg_server: PgServer) -> None:
    p = Profiles(url=team)
    p.set("svc", "v0")
    listening(p)
    listener = store_of(p)._listener
    listener._asked -= IDLE_S + 1  # as if nothing had been read for a minute
    listener._kick()
    wait_for(lambda: not listener.healthy, timeout=FRESH_S + 5)
    sent = listener.heartbeats
    time.sleep(1.0)
    assert listener.heartbeats == sent
    pid = backend_pid(p)
    before = len(statements(pg_server, pid))
    assert p.secrets("svc")[0] == "v0"  # asks the server once, and wakes the listener
    assert len(statements(pg_server, pid)) > before
    wait_for(lambda: listener.healthy, timeout=2)
    assert listener.heartbeats > sent
