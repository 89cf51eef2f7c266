"""The master key in a real OS keyring: gnome-keyring's Secret Service on a private bus.

Everything that touches the keyring runs in a child process (keyring picks its backend
once per process); this process only inspects files, the SQLite store and, through
``secret-tool``, the keyring itself.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from tests import agents
from tests.isolation import tree_bytes
from tests.keyring_daemon import (  # noqa: F401  (fixtures, by their pytest names)
    SecretService,
    locked_secret_service_fixture,
    secret_service_fixture,
    start_secret_service,
)
from zingy_nb.agent import confine
from zingy_nb.vault.crypto import decode_key, encode_key, key_id, new_key

pytestmark = pytest.mark.keyring_daemon
own_agents = agents.own_agents

STRIPE = "sk_test_MADEUP_kr_51HxQ2eZvKYlo2C"
GITHUB = "ghp_MADEUP_kr_0123456789abcdefABCDEF"
GITHUB2 = "github-second-slot-MADEUP-kr-77"

READ = """
import json, sys
from zingy_nb import flow
flow.flag("cloud-flow")  # a reader as a cloud-flow kernel would read
from zingy_nb.errors import ZingyError
from zingy_nb.profiles import Profiles
try:
    print(json.dumps({n: Profiles().secrets(n) for n in sys.argv[1:]}))
except ZingyError as exc:
    print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(1)
"""


def read(ss: SecretService, home: Path, *names: str, **kw: object):
    return ss.run([sys.executable, "-c", READ, *names], home, **kw)  # type: ignore[arg-type]


def store_meta(home: Path) -> dict[str, object]:
    conn = sqlite3.connect(home / "profiles.db")
    try:
        return dict(conn.execute("SELECT key, value FROM store_meta").fetchall())
    finally:
        conn.close()


def snapshot(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): data for p, data in tree_bytes(home)}


def save_profile(ss: SecretService, home: Path, name: str, *values: str) -> None:
    done = ss.cli(home, "profiles", "set", name, "--stdin", input="\n".join(values) + "\n")
    assert done.returncode == 0, done.stderr


def test_first_write_keeps_the_key_in_the_keyring_and_no_key_file(
    secret_service: SecretService, tmp_path: Path
) -> None:
    home = tmp_path / "zingy"
    # When a profile is saved in one process
    save_profile(secret_service, home, "stripe", STRIPE)

    # Then the key is in the keyring under the store's id, and it is the store's key
    meta = store_meta(home)
    entry = f"store:{meta['store_id']}"
    assert secret_service.usernames() == [entry]
    stored = secret_service.lookup(entry)
    assert stored is not None
    assert key_id(decode_key(stored, where="keyring")) == meta["key_id"]
    # and no key file was ever written beside the store
    assert sorted(p.name for p in home.iterdir()) == ["profiles.db"]

    # And a second process reads the profile with the key from the keyring
    done = read(secret_service, home, "stripe")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"stripe": [STRIPE, None, None, None]}
    assert "no OS keyring" not in done.stderr
    assert not (home / "master.key").exists()


def test_key_status_names_the_keyring(secret_service: SecretService, tmp_path: Path) -> None:
    home = tmp_path / "zingy"
    save_profile(secret_service, home, "stripe", STRIPE)

    done = secret_service.cli(home, "key", "status", "--json")

    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["key_source"] == "keyring"
    assert "SecretService" in status["key_location"]
    assert status["problem"] is None
    assert status["key_id"] == store_meta(home)["key_id"]


def test_rotation_changes_the_keyring_entry_and_retires_the_old_key(
    secret_service: SecretService, tmp_path: Path
) -> None:
    # Given a store with two profiles and a backup of its key
    home = tmp_path / "zingy"
    save_profile(secret_service, home, "stripe", STRIPE)
    save_profile(secret_service, home, "github", GITHUB, GITHUB2)
    exported = secret_service.cli(home, "key", "export")
    assert exported.returncode == 0, exported.stderr
    old_key = exported.stdout.strip()
    entry = f"store:{store_meta(home)['store_id']}"
    assert secret_service.lookup(entry) == old_key

    # When the key is rotated
    done = secret_service.cli(home, "key", "rotate")
    assert done.returncode == 0, done.stderr

    # Then the keyring holds a new key that opens the store, and no pending entry
    new = secret_service.lookup(entry)
    assert new is not None and new != old_key
    assert key_id(decode_key(new, where="keyring")) == store_meta(home)["key_id"]
    assert secret_service.usernames() == [entry]
    assert not (home / "master.key").exists()
    assert not (home / "master.key.next").exists()
    # and every profile still reads
    done = read(secret_service, home, "stripe", "github")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "stripe": [STRIPE, None, None, None],
        "github": [GITHUB, GITHUB2, None, None],
    }
    # and the old key no longer opens the store
    done = read(secret_service, home, "stripe", extra_env={"ZINGY_NB_MASTER_KEY": old_key})
    assert done.returncode == 1
    assert done.stderr.startswith("KeyUnavailableError: ZINGY_NB_MASTER_KEY holds a different key")
    assert STRIPE not in done.stdout + done.stderr


def test_locked_keyring_refuses_reads_and_writes_and_changes_nothing(
    secret_service: SecretService, tmp_path: Path
) -> None:
    # Given a store made while the keyring was unlocked
    home = tmp_path / "zingy"
    save_profile(secret_service, home, "stripe", STRIPE)
    entry = f"store:{store_meta(home)['store_id']}"
    key_before = secret_service.lookup(entry)
    before = snapshot(home)

    # When a new session leaves the keyring locked
    secret_service.restart_keyring(unlock=False)
    assert secret_service.lookup(entry) is None  # really locked

    # Then writing a profile fails with a clear message, exit code 1
    write = secret_service.cli(
        home, "profiles", "set", "stripe", "--stdin", input="sk_test_MADEUP_other\n"
    )
    assert write.returncode == 1
    assert write.stderr.startswith("zingy-nb: error: The OS keyring failed to read")
    assert "Unlock the keyring" in write.stderr
    assert "Traceback" not in write.stderr
    # and reading fails the same way, as KeyUnavailableError
    got = read(secret_service, home, "stripe")
    assert got.returncode == 1
    assert got.stderr.startswith("KeyUnavailableError: The OS keyring failed to read")
    assert STRIPE not in got.stdout + got.stderr
    # and key status reports the problem
    status = secret_service.cli(home, "key", "status", "--json")
    assert status.returncode == 1
    assert "Unlock the keyring" in json.loads(status.stdout)["problem"]
    # and nothing was created or changed on disk
    assert snapshot(home) == before
    assert not (home / "master.key").exists()

    # And once unlocked again, the keyring holds the same single key and the old value
    secret_service.restart_keyring(unlock=True)
    assert secret_service.usernames() == [entry]
    assert secret_service.lookup(entry) == key_before
    got = read(secret_service, home, "stripe")
    assert json.loads(got.stdout) == {"stripe": [STRIPE, None, None, None]}


def test_locked_keyring_never_creates_a_store_or_key(
    locked_secret_service: SecretService, tmp_path: Path
) -> None:
    # Given an empty home and a keyring that is locked from the start
    home = tmp_path / "zingy"

    # When the first profile is saved
    done = locked_secret_service.cli(
        home, "profiles", "set", "stripe", "--stdin", input=STRIPE + "\n"
    )

    # Then it fails saying the key could not be saved, and creates nothing at all
    assert done.returncode == 1
    assert done.stderr.startswith("zingy-nb: error: The OS keyring failed to save")
    assert "Unlock the keyring" in done.stderr
    assert not home.exists() or list(home.iterdir()) == []
    locked_secret_service.restart_keyring(unlock=True)
    assert locked_secret_service.usernames() == []


def test_keyring_never_created_fails_fast_and_creates_nothing(tmp_path: Path) -> None:
    # Given a fresh session whose login keyring was never created nor unlocked: creating
    # it needs a prompt, which is dismissed headless ("Prompt dismissed", no hang)
    service = start_secret_service(unlock=False)
    try:
        home = tmp_path / "zingy"
        done = service.cli(home, "profiles", "set", "stripe", "--stdin", input=STRIPE + "\n")
        got = read(service, home, "stripe")
    finally:
        service.close()
        shutil.rmtree(service.root, ignore_errors=True)

    assert done.returncode == 1
    assert done.stderr.startswith("zingy-nb: error: The OS keyring failed to save")
    assert "Unlock the keyring" in done.stderr
    assert got.returncode == 1 and got.stderr.startswith("ProfileNotFoundError")
    assert not home.exists() or list(home.iterdir()) == []


def test_missing_keyring_entry_is_an_error_and_nothing_is_created(
    secret_service: SecretService, tmp_path: Path
) -> None:
    # Given a store whose keyring entry was deleted
    home = tmp_path / "zingy"
    save_profile(secret_service, home, "stripe", STRIPE)
    entry = f"store:{store_meta(home)['store_id']}"
    secret_service.clear(entry)
    assert secret_service.lookup(entry) is None
    before = snapshot(home)

    # When a profile is written and another is read
    write = secret_service.cli(home, "profiles", "set", "github", "--stdin", input=GITHUB + "\n")
    got = read(secret_service, home, "stripe")

    # Then both fail, pointing at key import, and no key appears anywhere
    assert write.returncode == 1
    assert write.stderr.startswith("zingy-nb: error: No master key for the store")
    assert "no new key was made" in write.stderr
    assert "zingy-nb key import" in write.stderr
    assert got.returncode == 1
    assert got.stderr.startswith("KeyUnavailableError: No master key for the store")
    assert secret_service.usernames() == []
    assert snapshot(home) == before
    assert not (home / "master.key").exists()


def test_import_restores_a_deleted_keyring_entry(
    secret_service: SecretService, tmp_path: Path
) -> None:
    # Given a key backup, and then the keyring entry lost
    home = tmp_path / "zingy"
    save_profile(secret_service, home, "stripe", STRIPE)
    backup = secret_service.cli(home, "key", "export").stdout.strip()
    entry = f"store:{store_meta(home)['store_id']}"
    secret_service.clear(entry)

    # When a wrong key is imported, then the backup
    wrong = secret_service.cli(home, "key", "import", input=encode_key(new_key()) + "\n")
    assert wrong.returncode == 1
    assert "does not open the store" in wrong.stderr
    assert secret_service.usernames() == []
    done = secret_service.cli(home, "key", "import", input=backup + "\n")

    # Then the keyring holds the backup and the store reads again, with no key file
    assert done.returncode == 0, done.stderr
    assert secret_service.lookup(entry) == backup
    got = read(secret_service, home, "stripe")
    assert json.loads(got.stdout) == {"stripe": [STRIPE, None, None, None]}
    assert not (home / "master.key").exists()


def test_protect_takes_the_key_out_of_the_keyring_into_the_agent(
    secret_service: SecretService, tmp_path: Path, own_agents: Path
) -> None:
    home = tmp_path / "zingy"
    save_profile(secret_service, home, "stripe", STRIPE)
    assert secret_service.usernames() == [f"store:{store_meta(home)['store_id']}"]
    # When the key is protected with a passphrase (locked custody, docs/custody.md)
    passphrase = "made-up keyring passphrase"
    done = secret_service.cli(home, "key", "protect", "--stdin", input=passphrase + "\n")
    assert done.returncode == 0, done.stderr
    # Then no keyring entry and no key file hold it; the store's agent does, unlocked
    assert secret_service.usernames() == []
    assert not (home / "master.key").exists() and (home / "master.key.locked").exists()
    script = "from zingy_nb import zingyConn\nprint(len(zingyConn.apikey('stripe').secret1))"
    flagged = {"ZINGY_NB_FLOW": "cloud-flow"}
    assert secret_service.python(home, script, extra_env=flagged).stdout.strip() == str(len(STRIPE))
    # and once locked, nothing that runs as the user can open the store
    assert secret_service.cli(home, "lock").returncode == 0
    locked = secret_service.python(home, script, extra_env=flagged)
    assert locked.returncode == 1 and "StoreLockedError" in locked.stderr
    assert secret_service.usernames() == []
    assert STRIPE not in locked.stdout + locked.stderr


#: What a hostile notebook tries on the keyring: the Secret Service through keyring's
#: own backend, and ``secret-tool``; what it got, hex-encoded (no redactor hides it).
KEYRING_PROBE = """
import json, subprocess
from keyring.backends import SecretService
out = {{}}
try:
    got = SecretService.Keyring().get_password("zingy-nb", {user!r})
    out["keyring"] = (got or "").encode().hex() or "none"
except Exception as exc:
    out["keyring"] = "error: " + type(exc).__name__
done = subprocess.run(["secret-tool", "lookup", "service", "zingy-nb", "username", {user!r}],
                      capture_output=True, text=True)
out["secret-tool"] = done.stdout.encode().hex() or "none"
print(json.dumps(out))
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or confine.bwrap() is None,
    reason="confined kernels need Linux and bubblewrap (.ci/run installs it)",
)
def test_a_confined_kernel_cannot_reach_the_keyring_its_agent_reads(
    secret_service: SecretService, tmp_path: Path, own_agents: Path
) -> None:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    from tests.kernels import DEFINE_DIGESTS, digests
    from tests.test_launcher import Client
    from zingy_nb import kernels

    home = tmp_path / "zingy"
    save_profile(secret_service, home, "stripe", STRIPE)
    (user,) = secret_service.usernames()
    key = secret_service.lookup(user)
    assert key
    probe = KEYRING_PROBE.format(user=user)
    # Any process of the session outside a confined kernel reads the key with it
    outside = json.loads(secret_service.python(home, probe).stdout)
    assert bytes.fromhex(outside["keyring"]).decode() == key
    assert bytes.fromhex(outside["secret-tool"]).decode().strip() == key
    kernels.install(prefix=str(tmp_path / "prefix"))
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "prefix/share/jupyter/kernels")])
    km = KernelManager(kernel_name="zingy-cloud-flow", kernel_spec_manager=specs)
    km.start_kernel(env=secret_service.child_env(home), cwd=str(tmp_path))
    try:
        client = Client(km.client())
        # The kernel's agent, outside, read the key from the keyring: retrieval works
        client.ok(DEFINE_DIGESTS)
        assert json.loads(client.ok("_znb_digests('stripe')").stdout) == digests(STRIPE)
        # but from inside the kernel the keyring is out of reach
        inside = json.loads(client.ok(probe).stdout)
        assert inside["keyring"].startswith("error:"), inside
        assert inside["secret-tool"] == "none", inside
        assert key.encode().hex() not in json.dumps(inside)
    finally:
        km.shutdown_kernel(now=True)
