"""Locked custody: ``zingy-nb key protect``, ``unlock`` and ``lock``, with a real agent,
the real CLI and real kernels.

The key starts in a key file (this suite pins keyring's "no backend"); after ``key
protect`` it is kept only wrapped with the passphrase beside the store and, unwrapped, in
the agent's memory. Passphrases and values here are made up.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import agents
from tests.kernels import CLI, kernel_env, running_kernel
from tests.leaks import scanner
from zingy_nb.errors import WrongPassphraseError
from zingy_nb.vault import locked

own_agents = agents.own_agents
pytestmark = [
    pytest.mark.usefixtures("own_agents"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the agent: Linux"),
]

PASSPHRASE = "correct horse made-up battery"
WRONG = "incorrect horse made-up battery"
SECRET = "sk_test_MADEUP_locked_custody_4417"


def zingy(home: Path, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], input=stdin, env=kernel_env(flow=None, home=home, **env),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def ok(home: Path, *args: str, stdin: str = "") -> str:
    done = zingy(home, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stderr


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "store"
    ok(home, "profiles", "set", "stripe", "--stdin", stdin=SECRET + "\n")
    return home


@pytest.fixture
def protected(home: Path) -> Iterator[Path]:
    said = ok(home, "key", "protect", "--stdin", stdin=PASSPHRASE + "\n")
    assert "Protected" in said
    yield home


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


READ = (
    "import hashlib\nprint(hashlib.sha256(zingyConn.apikey('stripe').secret1.encode()).hexdigest())"
)


# -- the wrapped key --------------------------------------------------------------------
def test_the_wrapped_key_opens_only_with_its_passphrase_and_store(tmp_path: Path) -> None:
    key = os.urandom(32)
    path = locked.protect(locked.locked_file(tmp_path), "store-a", key, PASSPHRASE)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert locked.unwrap(path, "store-a", PASSPHRASE) == key
    with pytest.raises(WrongPassphraseError, match="does not unlock"):
        locked.unwrap(path, "store-a", WRONG)
    with pytest.raises(WrongPassphraseError):  # copied beside another store
        locked.unwrap(path, "store-b", PASSPHRASE)
    data = json.loads(path.read_text())
    assert data["kdf"] == {"name": "scrypt", "n": 2**17, "r": 8, "p": 1}
    data["kdf"]["n"] = 2**14  # weakened by hand: bound into the AEAD, so it fails
    path.write_text(json.dumps(data))
    with pytest.raises(WrongPassphraseError):
        locked.unwrap(path, "store-a", PASSPHRASE)
    assert key.hex() not in path.read_text()


def test_a_short_passphrase_is_refused_and_nothing_changes(home: Path) -> None:
    done = zingy(home, "key", "protect", "--stdin", stdin="short\n")
    assert done.returncode == 1 and "at least 8 characters" in done.stderr
    assert (home / "master.key").exists() and not locked.is_locked(home)


def test_without_a_terminal_or_stdin_the_passphrase_is_asked_for_by_name(home: Path) -> None:
    done = zingy(home, "unlock")
    assert done.returncode == 1 and "--stdin" in done.stderr


# -- protect, lock, unlock ------------------------------------------------------------------
def test_protect_removes_every_unwrapped_copy_and_the_agent_keeps_serving(protected: Path) -> None:
    home = protected
    assert not (home / "master.key").exists()
    assert locked.is_locked(home)
    status = json.loads(zingy(home, "key", "status", "--json").stdout)
    assert status["key_source"] == "locked" and status["problem"] is None
    assert "passphrase" in status["key_location"]
    # a kernel reads through the agent, which holds the key unlocked
    with running_kernel(kernel_env(flow="cloud-flow", home=home)) as kernel:
        kernel.ok("%load_ext zingy_nb")
        assert kernel.ok(READ).stdout.strip() == digest(SECRET)
    # the CLI saves through the agent too: it holds no key itself
    ok(home, "profiles", "set", "github", "--stdin", stdin="ghp_MADEUP_locked_0001\n")
    files = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert PASSPHRASE.encode() not in files and SECRET.encode() not in files


def test_lock_empties_what_kernels_hold_and_unlock_brings_it_back(protected: Path) -> None:
    home = protected
    with running_kernel(kernel_env(flow="cloud-flow", home=home)) as kernel:
        kernel.ok("%load_ext zingy_nb")
        assert kernel.ok(READ).stdout.strip() == digest(SECRET)
        assert "forgot the key" in ok(home, "lock")
        # the kernel's warm copy went with the lock
        refused = kernel.run(READ)
        assert refused.ename == "StoreLockedError", refused.describe()
        assert "zingy-nb unlock" in refused.evalue
        # so does the CLI: it asks the agent, which cannot seal now
        done = zingy(home, "profiles", "set", "other", "--stdin", stdin="MADEUP-other-1\n")
        assert done.returncode == 1 and "locked with a passphrase" in done.stderr
        status = json.loads(zingy(home, "key", "status", "--json").stdout)
        assert "locked with a passphrase" in (status["problem"] or "")
        # a wrong passphrase changes nothing and is audited
        for _ in range(2):
            wrong = zingy(home, "unlock", "--stdin", stdin=WRONG + "\n")
            assert wrong.returncode == 1 and "does not unlock" in wrong.stderr
        assert kernel.run(READ).ename == "StoreLockedError"
        assert "Unlocked" in ok(home, "unlock", "--stdin", stdin=PASSPHRASE + "\n")
        assert kernel.ok(READ).stdout.strip() == digest(SECRET)
    audit = json.loads(zingy(home, "audit", "--json").stdout)
    events = {(e["outcome"], e["count"]) for e in audit if e["profile"] == "<key>"}
    assert {("wrong-passphrase", 2), ("protected", 1), ("locked", 1), ("unlocked", 1)} <= events


def test_a_kernel_can_neither_protect_nor_unlock(protected: Path) -> None:
    home = protected
    ok(home, "lock")
    with running_kernel(kernel_env(flow="cloud-flow", home=home)) as kernel:
        kernel.ok("%load_ext zingy_nb")
        kernel.run("zingyConn.apikey('stripe')")  # registers the kernel with the agent
        for args in ("unlock --stdin", "key protect --stdin"):
            cell = kernel.run(f"!printf '%s\\n' '{PASSPHRASE}' | {CLI} {args}")
            assert "never accepted from a Jupyter kernel" in cell.stdout, cell.describe()
        assert kernel.run(READ).ename == "StoreLockedError"


def test_a_script_reads_through_the_agent_with_the_flow_it_states(protected: Path) -> None:
    home = protected
    code = (
        "import hashlib\nfrom zingy_nb import zingyConn, get_profiles\n"
        "print(type(get_profiles()).__name__)\n"
        "print(hashlib.sha256(zingyConn.apikey('stripe').secret1.encode()).hexdigest())"
    )
    cloud = subprocess.run(
        [sys.executable, "-c", code], env=kernel_env(flow="cloud-flow", home=home),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cloud.returncode == 0, cloud.stderr
    assert cloud.stdout.split() == ["PersonProfiles", digest(SECRET)]
    page = subprocess.run(
        [sys.executable, "-c", code], env=kernel_env(flow="page-flow", home=home),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert page.returncode == 1 and "CloudFlowOnlyError" in page.stderr
    assert SECRET not in cloud.stdout + cloud.stderr + page.stdout + page.stderr


def test_the_passphrase_reaches_no_log_or_audit(protected: Path, own_agents: Path) -> None:
    home = protected
    ok(home, "lock")
    zingy(home, "unlock", "--stdin", stdin=WRONG + "\n")
    ok(home, "unlock", "--stdin", stdin=PASSPHRASE + "\n")
    logs = "".join(p.read_text(errors="replace") for p in own_agents.rglob("agent.log"))
    audit = zingy(home, "audit", "--json").stdout
    for text, where in ((logs, "agent.log"), (audit, "audit")):
        for secret in (PASSPHRASE, WRONG):
            assert not scanner.find(text, {"passphrase": secret}, where)


def test_protecting_again_changes_the_passphrase(protected: Path) -> None:
    home = protected
    NEW = "another made-up passphrase"
    ok(home, "key", "protect", "--stdin", stdin=NEW + "\n")
    exported = zingy(home, "key", "export")  # a backup, from the agent that holds it
    assert exported.returncode == 0 and len(exported.stdout.strip()) == 44, exported.stderr
    ok(home, "lock")
    assert zingy(home, "key", "export").returncode == 1  # nobody holds it now
    assert zingy(home, "unlock", "--stdin", stdin=PASSPHRASE + "\n").returncode == 1
    ok(home, "unlock", "--stdin", stdin=NEW + "\n")
    status = json.loads(zingy(home, "key", "status", "--json").stdout)
    assert status["key_source"] == "locked" and status["problem"] is None


def test_a_locked_key_rotates_with_its_passphrase_and_stays_locked(protected: Path) -> None:
    home = protected
    status = json.loads(zingy(home, "key", "status", "--json").stdout)
    before, wrapped = status["key_id"], locked.locked_file(home).read_text()
    no_terminal = zingy(home, "key", "rotate")
    assert no_terminal.returncode == 1 and "--stdin" in no_terminal.stderr
    wrong = zingy(home, "key", "rotate", "--stdin", stdin=WRONG + "\n")
    assert wrong.returncode == 1 and "does not unlock" in wrong.stderr
    assert locked.locked_file(home).read_text() == wrapped  # nothing changed
    said = ok(home, "key", "rotate", "--stdin", stdin=PASSPHRASE + "\n")
    assert "Rotated" in said
    status = json.loads(zingy(home, "key", "status", "--json").stdout)
    assert status["key_id"] != before and status["key_source"] == "locked", status
    assert not (home / "master.key").exists() and not (home / "master.key.next").exists()
    assert not locked.pending_file(locked.locked_file(home)).exists()
    with running_kernel(kernel_env(flow="cloud-flow", home=home)) as kernel:
        kernel.ok("%load_ext zingy_nb")
        assert kernel.ok(READ).stdout.strip() == digest(SECRET)
    ok(home, "lock")  # the new key is locked with the same passphrase
    ok(home, "unlock", "--stdin", stdin=PASSPHRASE + "\n")
    status = json.loads(zingy(home, "key", "status", "--json").stdout)
    assert status["key_id"] != before and status["problem"] is None, status
    audit = json.loads(zingy(home, "audit", "--json").stdout)
    assert ("wrong-passphrase", 1) in {(e["outcome"], e["count"]) for e in audit}


def test_unlock_finishes_a_rotation_that_stopped_after_the_store_committed(
    protected: Path,
) -> None:
    """The state a crash leaves between the store's commit and promoting the new key:
    the locked file holds the old key, the pending one the key the store needs."""
    home = protected
    path = locked.locked_file(home)
    old = path.read_bytes()
    ok(home, "key", "rotate", "--stdin", stdin=PASSPHRASE + "\n")
    new_id = json.loads(zingy(home, "key", "status", "--json").stdout)["key_id"]
    ok(home, "lock")
    locked.pending_file(path).write_bytes(path.read_bytes())
    path.write_bytes(old)
    ok(home, "unlock", "--stdin", stdin=PASSPHRASE + "\n")
    status = json.loads(zingy(home, "key", "status", "--json").stdout)
    assert status["key_id"] == new_id and status["problem"] is None, status
    assert not locked.pending_file(path).exists() and path.read_bytes() != old
    ok(home, "lock")
    ok(home, "unlock", "--stdin", stdin=PASSPHRASE + "\n")  # promoted for good
    with running_kernel(kernel_env(flow="cloud-flow", home=home)) as kernel:
        kernel.ok("%load_ext zingy_nb")
        assert kernel.ok(READ).stdout.strip() == digest(SECRET)


def test_zingy_nb_run_on_a_locked_store(protected: Path, tmp_path: Path, own_agents: Path) -> None:
    from tests.isolation import stop_agents
    from tests.test_runtime_run import CLOUD, notebook

    home = protected
    prefix = tmp_path / "prefix"
    ok(home, "kernels", "install", "--prefix", str(prefix))
    spec = {"JUPYTER_PATH": str(prefix / "share" / "jupyter")}
    nb = notebook(tmp_path / "job.ipynb", CLOUD, "print(len(zingyConn.apikey('stripe').secret1))")
    out = tmp_path / "out.ipynb"
    # With the agent unlocked, a run just works
    ran = zingy(home, "run", str(nb), "--output", str(out), **spec)
    assert ran.returncode == 0, ran.stderr
    assert f"{len(SECRET)}\n" in out.read_text().replace("\\n", "\n")
    key = zingy(home, "key", "export").stdout.strip()  # a backup, while unlocked
    # Locked, with no terminal to ask on: refused at once, naming what to do
    ok(home, "lock")
    refused = zingy(home, "run", str(nb), **spec)
    assert refused.returncode == 2 and "zingy-nb unlock" in refused.stderr, refused.stderr
    # With ZINGY_NB_MASTER_KEY (headless), the agent the run starts takes it
    stop_agents(own_agents)
    headless = zingy(home, "run", str(nb), "--output", str(out), ZINGY_NB_MASTER_KEY=key, **spec)
    assert headless.returncode == 0, headless.stderr
    assert key not in headless.stdout + headless.stderr + out.read_text()


def test_on_a_terminal_zingy_nb_run_asks_for_the_passphrase(
    protected: Path, tmp_path: Path
) -> None:
    import pty
    import select

    from tests.test_runtime_run import CLOUD, notebook

    home = protected
    prefix = tmp_path / "prefix"
    ok(home, "kernels", "install", "--prefix", str(prefix))
    nb = notebook(tmp_path / "job.ipynb", CLOUD, "print(len(zingyConn.apikey('stripe').secret1))")
    ok(home, "lock")
    env = kernel_env(flow=None, home=home, JUPYTER_PATH=str(prefix / "share" / "jupyter"))
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of its own, as a person's shell gives
        os.execve(CLI, [CLI, "run", str(nb)], env)
    seen, typed = b"", False
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 120)
            assert ready, f"zingy-nb run said nothing for 120 s: {seen!r}"
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal: it ended
                break
            if not chunk:
                break
            seen += chunk
            if not typed and b"Passphrase:" in seen:
                os.write(fd, PASSPHRASE.encode() + b"\n")
                typed = True
    finally:
        _, status = os.waitpid(pid, 0)
    assert typed and os.waitstatus_to_exitcode(status) == 0, seen.decode(errors="replace")
    assert PASSPHRASE.encode() not in seen  # typed without echo
    status_now = json.loads(zingy(home, "key", "status", "--json").stdout)
    assert status_now["problem"] is None  # the agent stays unlocked, as after `unlock`


def test_the_agent_locks_a_key_left_unused_for_its_setting(home: Path) -> None:
    bad = zingy(home, "key", "protect", "--stdin", "--lock-after", "0", stdin=PASSPHRASE + "\n")
    assert bad.returncode == 1 and "--lock-after" in bad.stderr and not locked.is_locked(home)
    ok(home, "key", "protect", "--stdin", "--lock-after", "8", stdin=PASSPHRASE + "\n")
    assert json.loads(zingy(home, "key", "status", "--json").stdout)["problem"] is None
    deadline = time.monotonic() + 60
    while True:  # no request that needs the key: after 8 s the agent forgets it (8: a
        # loaded machine may take seconds to start the status command just above)
        status = json.loads(zingy(home, "key", "status", "--json").stdout)
        if status["problem"] is not None:
            break
        assert time.monotonic() < deadline, "the agent never locked the unused key"
        time.sleep(1)
    assert "locked with a passphrase" in status["problem"]
    audit = json.loads(zingy(home, "audit", "--json").stdout)
    assert ("<key>", "locked-when-idle") in {(e["profile"], e["outcome"]) for e in audit}
    # and the setting is bound to the wrapped key: editing it makes the file fail
    data = json.loads(locked.locked_file(home).read_text())
    data["lock_after"] = None
    locked.locked_file(home).write_text(json.dumps(data))
    tampered = zingy(home, "unlock", "--stdin", stdin=PASSPHRASE + "\n")
    assert tampered.returncode == 1 and "does not unlock" in tampered.stderr
