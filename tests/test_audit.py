"""The audit log: retrievals and refusals recorded in the store, never a value.

Every test runs on both backends through ``store_backend`` (``tests.postgres``): the
embedded SQLite store and a PostgreSQL team store as member ``alice``. The CLI, plain
processes and kernels get the backend's environment (home, store URL, and the embedded
store's master key or the team member's own key).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import postgres
from tests.isolation import tree_bytes
from tests.kernels import Kernel, kernel_env, running_kernel
from tests.postgres import Backend
from zingy_nb.audit import INVALID_NAME, UNKNOWN_NAME, recorded_name
from zingy_nb.paths import MEMBER_KEY_ENV
from zingy_nb.vault.custody import ENV_VAR as KEY_ENV
from zingy_nb.vault.member_custody import MemberKeyLocator

# The fixtures this module uses (imported fixtures are found by their module name).
pg_server = postgres.pg_server
store_backend = postgres.store_backend

CLI = str(Path(sys.executable).with_name("zingy-nb"))
SECRET = "sk_test_MADEUP_audit_value"


def cli(
    backend: Backend, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], input=stdin, capture_output=True, text=True, timeout=60,
        env={**os.environ, **backend.env(), **env},
    )  # fmt: skip


def audit(backend: Backend, *args: str) -> list[dict]:
    result = cli(backend, "audit", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def python(backend: Backend, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={**os.environ, **backend.env(), **env},
    )  # fmt: skip


@pytest.fixture
def backend(store_backend: Backend) -> Backend:
    """``store_backend`` holding profile ``stripe``, set through the CLI."""
    result = cli(store_backend, "profiles", "set", "stripe", "--stdin", stdin=SECRET + "\n")
    assert result.returncode == 0, result.stderr
    return store_backend


def test_kernel_retrievals_and_refusals_are_listed(backend: Backend, tmp_path: Path) -> None:
    from jupyter_client.multikernelmanager import MultiKernelManager

    home = backend.home
    # Given a kernel started as Jupyter's server starts one (named kernel-<id>.json)
    env = kernel_env(
        flow="cloud-flow", home=home, JPY_SESSION_NAME="work/pay.ipynb", **backend.env()
    )
    mkm = MultiKernelManager(connection_dir=str(tmp_path))
    kernel_id = mkm.start_kernel(kernel_name="python3", env=env)
    kernel = Kernel(mkm.get_kernel(kernel_id), None)
    try:
        kernel.ok("%load_ext zingy_nb")
        kernel.ok("zingyConn.apikey('stripe')")
        # the first retrieval is committed before the call returned
        first = audit(backend)
        assert [(e["profile"], e["outcome"], e["count"]) for e in first] == [
            ("stripe", "retrieved", 1)
        ]
        assert first[0]["kernel_id"] == kernel_id
        assert first[0]["notebook"] == "work/pay.ipynb"
        assert first[0]["flow"] == "cloud-flow"
        for _ in range(4):
            kernel.ok("zingyConn.apikey('stripe')")
        # warm retrievals are only counted in memory: nothing written yet
        assert audit(backend)[0]["count"] == 1
    finally:
        kernel.shutdown()
    # and flushed when the kernel shuts down
    assert audit(backend)[0]["count"] == 5
    with running_kernel(kernel_env(flow="page-flow", home=home, **backend.env())) as kernel:
        kernel.ok("%load_ext zingy_nb")
        assert kernel.run("zingyConn.apikey('stripe')").ename == "CloudFlowOnlyError"
        refused = [e for e in audit(backend) if e["outcome"] == "refused"]
        assert [(e["profile"], e["flow"], e["count"]) for e in refused] == [
            ("stripe", "page-flow", 1)
        ]
    text = cli(backend, "audit").stdout
    assert text.splitlines()[0] == "LAST\tPROFILE\tOUTCOME\tFLOW\tCOUNT\tWHERE\tVIA"
    assert (
        "stripe\trefused\tpage-flow\tx1" in text
        and "stripe\tretrieved\tcloud-flow\tx5\twork/pay.ipynb" in text
    )
    stored = list(backend.stored_bytes())
    if backend.kind == "postgres" and home.exists():
        stored += [(str(p), b) for p, b in tree_bytes(home)]
    assert [where for where, data in stored if SECRET.encode() in data] == []


def test_every_refusal_is_committed_and_filtering_works(backend: Backend) -> None:
    cli(backend, "profiles", "set", "other", "--stdin", stdin="other-MADEUP-value\n")
    code = (
        "from zingy_nb import zingyConn\n"
        "for name in ['stripe', 'stripe', 'other']:\n"
        "    try: zingyConn.apikey(name)\n"
        "    except PermissionError: pass\n"
    )
    assert python(backend, code).returncode == 0  # unflagged process
    entries = audit(backend)
    assert sorted((e["profile"], e["outcome"], e["flow"], e["count"]) for e in entries) == [
        ("other", "refused", "unflagged", 1),
        ("stripe", "refused", "unflagged", 2),
    ]
    assert [e["profile"] for e in audit(backend, "--profile", "other")] == ["other"]
    assert "Invalid profile name" in cli(backend, "audit", "--profile", "../x").stderr


def test_a_reader_that_leaves_early_ends_the_listing_quietly(backend: Backend) -> None:
    # Given `zingy-nb audit | head`, where head has gone before the listing is written
    proc = subprocess.Popen(
        [CLI, "audit"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, **backend.env()},
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # long before the interpreter has started
    stderr = proc.stderr.read()
    proc.wait(timeout=60)
    proc.stderr.close()
    # Then it stops as a command killed by SIGPIPE would, without a word
    assert stderr == b""
    assert proc.returncode == 141


def test_a_refused_name_is_recorded_only_if_it_names_a_profile(backend: Backend) -> None:
    # Given a value pasted where a profile name belongs (a valid name, as tokens are)
    pasted = "sk_live_MADEUP_pasted_as_a_name_0123456789"
    code = (
        "from zingy_nb import zingyConn\n"
        f"for name in ['stripe', {pasted!r}, '../not a name']:\n"
        "    try: zingyConn.apikey(name)\n"
        "    except PermissionError: pass\n"
    )
    # When an unflagged process is refused each of them
    assert python(backend, code).returncode == 0
    # Then every refusal is audited, the pasted and the invalid name without their text
    entries = audit(backend)
    assert sorted((e["profile"], e["outcome"], e["count"]) for e in entries) == [
        (INVALID_NAME, "refused", 1),
        (UNKNOWN_NAME, "refused", 1),
        ("stripe", "refused", 1),
    ]
    shown = cli(backend, "audit")
    assert f"{UNKNOWN_NAME}\trefused" in shown.stdout
    assert pasted not in shown.stdout + json.dumps(entries)
    stored = [where for where, data in backend.stored_bytes() if pasted.encode() in data]
    assert stored == []
    # And the decision: a name is kept only if valid and naming a profile one can see
    profiles = backend.profiles()
    assert recorded_name(profiles, "stripe") == "stripe"
    assert recorded_name(profiles, pasted) == UNKNOWN_NAME
    assert recorded_name(profiles, "../not a name") == INVALID_NAME
    assert recorded_name(profiles, None) == INVALID_NAME


def test_missing_key_is_not_audited_and_leaves_the_store_alone(
    backend: Backend, tmp_path: Path
) -> None:
    # SQLite: the key is in ZINGY_NB_MASTER_KEY, so a process without it has none. A team
    # store: alice's member key is in her 0600 key file (and ZINGY_NB_MEMBER_KEY for
    # processes); with the file moved away and the variable empty she has none.
    before = backend.tables()
    if backend.kind == "sqlite":
        assert not (backend.home / "master.key").exists()
        files = {p.name: b for p, b in tree_bytes(backend.home) if p.suffix == ".db"}
        missing, expected = {KEY_ENV: ""}, "KeyUnavailableError"
    else:
        key_file = MemberKeyLocator(backend.home, "alice").key_file
        key_file.rename(tmp_path / "away.key")
        files = dict(tree_bytes(backend.home))
        missing, expected = {MEMBER_KEY_ENV: ""}, "MemberKeyError"
    result = python(
        backend,
        "from zingy_nb import zingyConn; zingyConn.apikey('stripe')",
        ZINGY_NB_FLOW="cloud-flow",
        **missing,
    )
    assert expected in result.stderr and SECRET not in result.stdout + result.stderr
    assert backend.tables() == before
    if backend.kind == "sqlite":
        assert {p.name: b for p, b in tree_bytes(backend.home) if p.suffix == ".db"} == files
    else:  # told to join, and no key was made in place of the lost one
        assert "Run `zingy-nb team join` first" in result.stderr
        assert dict(tree_bytes(backend.home)) == files and not key_file.exists()
        (tmp_path / "away.key").rename(key_file)
    assert audit(backend) == []


def test_retention_is_bounded(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from zingy_nb.store import postgres as pg_store
    from zingy_nb.store import sqlite as sqlite_store
    from zingy_nb.store.base import AuditEntry, utcnow

    monkeypatch.setattr(sqlite_store, "AUDIT_MAX_ENTRIES", 5)
    monkeypatch.setattr(pg_store, "AUDIT_MAX_ENTRIES", 5)
    store = backend.profiles().store
    now = utcnow()
    old = AuditEntry("stripe", "cloud-flow", "retrieved", "p-old", None, None,
                     now - timedelta(days=200), now - timedelta(days=200), 1)  # fmt: skip
    store.audit_add([old])
    fresh = [
        AuditEntry(
            "stripe",
            "cloud-flow",
            "retrieved",
            f"p{i}",
            None,
            None,
            now + timedelta(seconds=i),
            now + timedelta(seconds=i),
            1,
        )
        for i in range(8)
    ]
    store.audit_add(fresh)
    kept = store.audit()
    assert [e.process for e in kept] == ["p7", "p6", "p5", "p4", "p3"]


def test_each_store_object_commits_its_own_first_retrieval(zingy_home: Path) -> None:
    import gc
    import weakref

    from zingy_nb.audit import audit_log
    from zingy_nb.profiles import Profiles

    first = Profiles(zingy_home)
    first.set("svc", "svc-MADEUP-value")
    audit_log.retrieved(first, "svc", "cloud-flow")
    gone = weakref.ref(first)
    del first
    gc.collect()
    assert gone() is None  # the recorder holds no store alive (ids may be reused later)
    # A new object, possibly at the same address, is a new first retrieval: committed now
    second = Profiles(zingy_home)
    audit_log.retrieved(second, "svc", "cloud-flow")
    entries = second.store.audit("svc")
    assert sum(e.count for e in entries) == 2
