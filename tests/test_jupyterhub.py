"""The team store on a real JupyterHub: two members, each with their own database role.

The hub runs ``docs/jupyterhub_config.py`` (DummyAuthenticator, SimpleLocalProcessSpawner)
with configurable-http-proxy (``tests/hub``). alice and bob log in through the login
form; an admin token starts their servers through the hub's REST API; every request to
a server and every kernel goes through the proxy, as a browser's would.

``team_secrets`` is the one place that decides what a member's server gets: their own
database URL and their own member key (``ZINGY_NB_MEMBER_KEY``, made by ``zingy-nb team
new-key`` as an operator would); no master key exists anywhere. alice's URL holds her
password; bob's holds none: his password is in a ``.pgpass`` file named by ``PGPASSFILE``
in his secrets folder, as docs/teams.md recommends (the documented config passes it on).

The documented setup itself, step by step, is walked by ``tests/test_team_docs.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests import postgres
from tests.hub import Hub, running_hub
from tests.hub.hub import Secrets, describe
from tests.kernels import DEFINE_DIGESTS, digests
from tests.postgres import PgServer
from zingy_nb.agent.location import is_agent
from zingy_nb.paths import MEMBER_KEY_ENV, URL_ENV
from zingy_nb.vault.custody import ENV_VAR as KEY_ENV

pg_server = postgres.pg_server
pytestmark = pytest.mark.timeout(180)

USERS = ("alice", "bob")
VALUE = "sk_live_MADEUP_hub_value_0123456789"  # made up, long enough to be redacted
REFUSED = ("ProfileAccessError", "ProfileNotFoundError", "NoWrapError")
#: How soon after a revoke returned bob must be refused. The goal is 100 ms (measured
#: and printed); the assertion is generous because this machine is shared and loaded.
REFUSAL_BOUND_S = 2.0


PASSWORDLESS = "bob"  # connects with a password file instead of a password in the URL


def team_secrets(
    server: PgServer, db: str, member_keys: Mapping[str, str], pgpass: Path
) -> Secrets:
    """Each member's server: their own database role and their own member key; bob's
    password in the ``.pgpass`` file ``pgpass`` (``PGPASSFILE``), not in his URL."""
    pgpass.write_text(f"*:*:*:{PASSWORDLESS}:{postgres.PASSWORDS[PASSWORDLESS]}\n")
    pgpass.chmod(0o600)

    def secrets(name: str) -> dict[str, str]:
        if name == PASSWORDLESS:
            url = f"postgresql://{name}@/{db}?host={server.socket_dir}&port={server.port}"
            return {URL_ENV: url, MEMBER_KEY_ENV: member_keys[name], "PGPASSFILE": str(pgpass)}
        return {URL_ENV: server.url(name, db), MEMBER_KEY_ENV: member_keys[name]}

    return secrets


def new_member_key() -> str:
    """What an operator runs once per member to fill that member's spawner secret."""
    cli_path = Path(sys.executable).parent / "zingy-nb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZINGY_NB_")}
    done = subprocess.run(
        [str(cli_path), "team", "new-key"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "fingerprint: SHA256:" in done.stderr and "team join" in done.stderr
    key = done.stdout.strip()
    assert key and key not in done.stderr
    return key


@pytest.fixture(scope="module")
def team_hub(
    pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Hub, dict[str, str]]]:
    """A hub on a team store (created by its owner): each member's server gets their own
    database URL and member key; nobody has joined yet."""
    db = pg_server.new_database()
    try:
        root = tmp_path_factory.mktemp("hub")
        keys = {name: new_member_key() for name in USERS}
        assert len(set(keys.values())) == len(USERS)
        secrets = team_secrets(pg_server, db, keys, root / "bob.pgpass")
        with running_hub(root, users=USERS, secrets=secrets) as hub:
            for name in USERS:
                hub.login(name)
            hub.start_servers(*USERS)
            yield hub, keys
    finally:
        pg_server.drop_database(db)


def outside(hub: Hub, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``zingy-nb ARGS`` as ``name`` runs it in a terminal of their server: with the
    server's environment (their store URL and member key), in a process that is no
    kernel's (kernels hold no key, and widening is never accepted from one)."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("zingy-nb")), *args],
        env=hub.server_environ(name), cwd=hub.user_dir(name),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def timed_outside(hub: Hub, name: str, *args: str) -> dict[str, float]:
    """``outside``, run as the CLI's ``main`` in a fresh Python, with three wall-clock
    times, comparable between processes of this machine: when it started, when ``main``
    returned (the change is committed; the process has not exited yet) and when the
    process had exited."""
    program = (
        "import sys, time\n"
        "from zingy_nb.cli import main\n"
        f"rc = main({list(args)!r})\n"
        "print(repr(time.time()))\n"
        "sys.exit(rc)"
    )
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", program], env=hub.server_environ(name),
        cwd=hub.user_dir(name), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    exited = time.time()
    assert done.returncode == 0, done.stderr
    return {"started": started, "returned": float(done.stdout.split()[-1]), "exited": exited}


def read_until_refused(name: str, expected: str, marker: Path, limit_s: float) -> str:
    """A cell that retrieves ``name`` in a loop (checking slot 1's sha256 against
    ``expected``, never printing a value), touches ``marker`` after its first read, and
    stops at the first refusal: prints when it happened, what refused, how many reads."""
    return f"""
import hashlib, json, pathlib, time
_deadline = time.time() + {limit_s!r}
_reads, _refusal, _refused_at = 0, None, None
while _refusal is None:
    try:
        _info = zingyConn.apikey({name!r})
    except Exception as _exc:
        _refused_at, _refusal = time.time(), type(_exc).__name__
        break
    assert hashlib.sha256(_info['secret1'].encode()).hexdigest() == {expected!r}
    _reads += 1
    if _reads == 1:
        pathlib.Path({str(marker)!r}).write_text('reading')
    if time.time() > _deadline:
        raise TimeoutError('still allowed {limit_s!r} s after the loop started')
    time.sleep(0.001)
print(json.dumps({{'refused_at': _refused_at, 'refusal': _refusal, 'reads': _reads}}))
"""


def test_each_server_gets_its_own_role_and_key_and_the_hub_holds_no_secret(
    team_hub: tuple[Hub, dict[str, str]],
) -> None:
    hub, keys = team_hub
    for name in USERS:
        env = hub.server_environ(name)
        if name == PASSWORDLESS:  # a password file, passed on by the documented config
            assert env[URL_ENV].startswith(f"postgresql://{name}@/"), name
            assert Path(env["PGPASSFILE"]).read_text().startswith("*:*:*:bob:"), name
        else:
            assert env[URL_ENV].startswith(f"postgresql://{name}:"), name
            assert "PGPASSFILE" not in env, name
        assert env[MEMBER_KEY_ENV] == keys[name], name
        assert KEY_ENV not in env, name
        assert env["HOME"] == str(hub.user_dir(name))
        assert env["JUPYTER_DATA_DIR"].startswith(str(hub.user_dir(name)))
    # the hub and the proxy never hold a member's URL or key: only their own servers
    # (and the agent each server starts, which holds the key by design: one caught
    # under its server while it detaches is not counted)
    for var in (URL_ENV, MEMBER_KEY_ENV):
        holders = [h for h in hub.processes_with(var) if not is_agent(int(h.split()[0]))]
        assert len(holders) == len(USERS), holders
        assert all("jupyterhub-singleuser" in h for h in holders), holders
    assert hub.processes_with(KEY_ENV) == []
    # the zingy-nb server extension answers in each user's server, on that user's store
    status = hub.clients["bob"].get("zingy-nb/api/status")
    assert status.status_code == 200, status.text
    assert "bob" in status.text and "made-up" not in status.text
    got = status.json()  # bob's own key, from his spawner, not published yet
    assert (got["key_kind"], got["key_source"]) == ("member", "env"), got
    assert got["key_location"] == MEMBER_KEY_ENV and "zingy-nb team join" in got["problem"]
    assert keys["bob"] not in status.text
    # each server's log names its team store, the URL without a password
    log = hub.log_path.read_text(errors="replace")
    for name in USERS:
        assert f"profile store: team store postgresql://{name}@/team" in log, hub.log_tail()
    assert "profile store: default" not in log and "profile store: embedded" not in log
    assert all(postgres.PASSWORDS[name] not in log for name in USERS)


def test_a_grant_reaches_bobs_kernel_and_a_revoke_refuses_him_at_once(
    team_hub: tuple[Hub, dict[str, str]],
) -> None:
    hub, keys = team_hub
    alice, bob = hub.clients["alice"], hub.clients["bob"]
    for name in USERS:
        env = hub.server_environ(name)
        assert env[MEMBER_KEY_ENV] == keys[name], name
        assert KEY_ENV not in env, name
    expected = digests(VALUE)["secret1"]
    marker = hub.user_dir("bob") / "revoke-loop.started"

    with alice.kernel("zingy-page-flow") as alice_k, bob.kernel("zingy-cloud-flow") as bob_k:
        joined = [outside(hub, name, "team", "join") for name in USERS]
        assert all(done.returncode == 0 for done in joined), [d.stderr for d in joined]
        status = bob.get("zingy-nb/api/status").json()
        assert status["problem"] is None and status["key_id"].startswith("SHA256:"), status
        r = alice.put("zingy-nb/api/profiles/stripe", json={"secret1": VALUE})
        assert r.status_code in (200, 201), r.text

        bob_k.ok(DEFINE_DIGESTS)
        before = bob_k.run("_znb_digests('stripe')")
        assert before.ename in REFUSED, before.describe()

        granted = outside(hub, "alice", "profiles", "grant", "stripe", "bob", "read")
        assert granted.returncode == 0, granted.stderr
        got = bob_k.ok("_znb_digests('stripe')")
        assert json.loads(got.stdout) == digests(VALUE)

        # No process under the hub holds a master key: not the hub, the proxy, the
        # servers or any kernel. A member key is held by that member's server (the
        # spawner's gift) and the agent it hands it to (not under the hub), never by a
        # kernel.
        assert hub.processes_with(KEY_ENV) == []
        holders = hub.processes_with(MEMBER_KEY_ENV)
        assert hub.proc is not None
        hub_itself = describe(hub.processes()[0])
        assert hub_itself not in holders and not any("http-proxy" in h for h in holders)
        assert not any("ipykernel" in h for h in holders), holders
        assert len(holders) >= len(USERS), holders  # the servers
        for kernel in (alice_k, bob_k):  # as the kernel itself sees it, too
            cell = kernel.ok(
                "import os; print(sorted(k for k in os.environ if k.endswith('_KEY')), "
                "open('/proc/self/environ', 'rb').read().count(b'ZINGY_NB_MEMBER_KEY'))"
            )
            assert cell.stdout.split() == ["[]", "0"], cell.describe()

        # bob reads in a loop; alice revokes meanwhile; the loop stops at the refusal
        with ThreadPoolExecutor(max_workers=1) as pool:
            loop = pool.submit(
                bob_k.run, read_until_refused("stripe", expected, marker, 90.0), timeout=120
            )
            deadline = time.monotonic() + 60
            while not marker.exists():
                assert not loop.done(), loop.result().describe()
                assert time.monotonic() < deadline, "bob's loop never read"
                time.sleep(0.05)
            times = timed_outside(hub, "alice", "profiles", "revoke", "stripe", "bob")
            looped = loop.result()
        assert looped.status == "ok", looped.describe()
        seen = json.loads(looped.stdout)
        assert seen["refusal"] in REFUSED, seen
        assert seen["reads"] >= 1, seen
        assert seen["refused_at"] >= times["started"], (seen, times)  # not before the revoke
        after_return = seen["refused_at"] - times["returned"]
        after_exit = seen["refused_at"] - times["exited"]
        print(
            f"\nrevoke to refusal in bob's kernel: {after_return * 1000:.1f} ms after the "
            f"revoke returned (committed), {after_exit * 1000:.1f} ms after the command "
            f"exited, {(seen['refused_at'] - times['started']) * 1000:.1f} ms after it "
            f"started; {seen['reads']} reads allowed before"
        )
        assert after_return <= REFUSAL_BOUND_S, (after_return, seen, times)

        after = bob_k.run("_znb_digests('stripe')")
        assert after.ename in REFUSED, after.describe()
        assert hub.processes_with(KEY_ENV) == []

        shown = [d.stdout + d.stderr for d in (*joined, granted)]
        for text in shown + [c.everything() for c in (before, got, looped, after)]:
            assert VALUE not in text
            assert all(key not in text for key in keys.values())
