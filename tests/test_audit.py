"""The audit log: retrievals and refusals recorded in the store, never a value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.isolation import tree_bytes
from tests.kernels import Kernel, kernel_env, running_kernel

CLI = str(Path(sys.executable).with_name("zingy-nb"))
SECRET = "sk_test_MADEUP_audit_value"


def cli(home: Path, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], input=stdin, capture_output=True, text=True, timeout=60,
        env={**os.environ, "ZINGY_NB_HOME": str(home), **env},
    )  # fmt: skip


def audit(home: Path, *args: str) -> list[dict]:
    result = cli(home, "audit", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def python(home: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={**os.environ, "ZINGY_NB_HOME": str(home), **env},
    )  # fmt: skip


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "audit-home"
    assert cli(home, "profiles", "set", "stripe", "--stdin", stdin=SECRET + "\n").returncode == 0
    return home


def test_kernel_retrievals_and_refusals_are_listed(home: Path, tmp_path: Path) -> None:
    from jupyter_client.multikernelmanager import MultiKernelManager

    # Given a kernel started as Jupyter's server starts one (named kernel-<id>.json)
    env = kernel_env(flow="cloud-flow", home=home, JPY_SESSION_NAME="work/pay.ipynb")
    mkm = MultiKernelManager(connection_dir=str(tmp_path))
    kernel_id = mkm.start_kernel(kernel_name="python3", env=env)
    kernel = Kernel(mkm.get_kernel(kernel_id), None)
    try:
        kernel.ok("%load_ext zingy_nb")
        kernel.ok("zingyConn.apikey('stripe')")
        # the first retrieval is committed before the call returned
        first = audit(home)
        assert [(e["profile"], e["outcome"], e["count"]) for e in first] == [
            ("stripe", "retrieved", 1)
        ]
        assert first[0]["kernel_id"] == kernel_id
        assert first[0]["notebook"] == "work/pay.ipynb"
        assert first[0]["flow"] == "cloud-flow"
        for _ in range(4):
            kernel.ok("zingyConn.apikey('stripe')")
        # warm retrievals are only counted in memory: nothing written yet
        assert audit(home)[0]["count"] == 1
    finally:
        kernel.shutdown()
    # and flushed when the kernel shuts down
    assert audit(home)[0]["count"] == 5
    with running_kernel(kernel_env(flow="page-flow", home=home)) as kernel:
        kernel.ok("%load_ext zingy_nb")
        assert kernel.run("zingyConn.apikey('stripe')").ename == "CloudFlowOnlyError"
        refused = [e for e in audit(home) if e["outcome"] == "refused"]
        assert [(e["profile"], e["flow"], e["count"]) for e in refused] == [
            ("stripe", "page-flow", 1)
        ]
    text = cli(home, "audit").stdout
    assert (
        "stripe\trefused\tpage-flow\tx1" in text
        and "stripe\tretrieved\tcloud-flow\tx5\twork/pay.ipynb" in text
    )
    assert all(SECRET.encode() not in data for _, data in tree_bytes(home))


def test_every_refusal_is_committed_and_filtering_works(home: Path) -> None:
    cli(home, "profiles", "set", "other", "--stdin", stdin="other-MADEUP-value\n")
    code = (
        "from zingy_nb import zingyConn\n"
        "for name in ['stripe', 'stripe', 'other']:\n"
        "    try: zingyConn.apikey(name)\n"
        "    except PermissionError: pass\n"
    )
    assert python(home, code).returncode == 0  # unflagged process
    entries = audit(home)
    assert sorted((e["profile"], e["outcome"], e["flow"], e["count"]) for e in entries) == [
        ("other", "refused", "unflagged", 1),
        ("stripe", "refused", "unflagged", 2),
    ]
    assert [e["profile"] for e in audit(home, "--profile", "other")] == ["other"]
    assert "Invalid profile name" in cli(home, "audit", "--profile", "../x").stderr


def test_missing_key_is_not_audited_and_leaves_the_store_alone(home: Path) -> None:
    (home / "master.key").rename(home / "elsewhere.key")
    before = {p.name: b for p, b in tree_bytes(home) if p.suffix == ".db"}
    result = python(
        home,
        "from zingy_nb import zingyConn; zingyConn.apikey('stripe')",
        ZINGY_NB_FLOW="cloud-flow",
    )
    assert "KeyUnavailableError" in result.stderr
    assert {p.name: b for p, b in tree_bytes(home) if p.suffix == ".db"} == before
    (home / "elsewhere.key").rename(home / "master.key")
    assert audit(home) == []


def test_retention_is_bounded(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from zingy_nb import sqlite_store
    from zingy_nb.profiles import Profiles
    from zingy_nb.store import AuditEntry, utcnow

    monkeypatch.setattr(sqlite_store, "AUDIT_MAX_ENTRIES", 5)
    store = Profiles(home).store
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
