"""The team store on a real JupyterHub: two members, each with their own database role.

The hub runs ``docs/jupyterhub_config.py`` (DummyAuthenticator, SimpleLocalProcessSpawner)
with configurable-http-proxy (``tests/hub``). alice and bob log in through the login
form; an admin token starts their servers through the hub's REST API; every request to
a server and every kernel goes through the proxy, as a browser's would.

Today a team store opens with one team master key, so ``team_secrets`` gives each member
their own database URL plus that key. It is the one place that decides what a member's
server gets: member keys replace the key there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests import postgres
from tests.hub import Hub, running_hub
from tests.hub.hub import Secrets
from tests.kernels import DEFINE_DIGESTS, digests
from tests.postgres import PgServer
from zingy_nb.crypto import encode_key, new_key
from zingy_nb.keys import ENV_VAR as KEY_ENV
from zingy_nb.paths import URL_ENV

pg_server = postgres.pg_server
pytestmark = pytest.mark.timeout(180)

USERS = ("alice", "bob")
VALUE = "sk_live_MADEUP_hub_value_0123456789"  # made up, long enough to be redacted
REFUSED = ("ProfileAccessError", "ProfileNotFoundError")


def team_secrets(server: PgServer, db: str, team_key: str) -> Secrets:
    """Each member's server: their own database role, and (today) the team's key."""

    def secrets(name: str) -> dict[str, str]:
        return {URL_ENV: server.url(name, db), KEY_ENV: team_key}

    return secrets


@pytest.fixture(scope="module")
def hub(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    db = pg_server.new_database()
    try:
        root = tmp_path_factory.mktemp("hub")
        with running_hub(
            root, users=USERS, secrets=team_secrets(pg_server, db, encode_key(new_key()))
        ) as hub:
            for name in USERS:
                hub.login(name)
            hub.start_servers(*USERS)
            yield hub
    finally:
        pg_server.drop_database(db)


def cli(*args: str) -> str:
    """A cell that runs ``zingy-nb ARGS`` in the kernel's environment and must succeed."""
    return (
        "import os, subprocess, sys\n"
        "_cli = os.path.join(sys.prefix, 'bin', 'zingy-nb')\n"
        f"_p = subprocess.run([_cli, *{list(args)!r}], capture_output=True, text=True)\n"
        "print(_p.returncode, _p.stderr)\n"
        "assert _p.returncode == 0, _p.stderr"
    )


def test_each_server_gets_its_own_role_and_the_hub_holds_no_secret(hub: Hub) -> None:
    for name in USERS:
        env = hub.server_environ(name)
        assert env[URL_ENV].startswith(f"postgresql://{name}:"), name
        assert KEY_ENV in env
        assert env["HOME"] == str(hub.user_dir(name))
        assert env["JUPYTER_DATA_DIR"].startswith(str(hub.user_dir(name)))
    # the hub and the proxy never hold a member's URL or the key: only servers (today)
    for var in (URL_ENV, KEY_ENV):
        holders = hub.processes_with(var)
        assert len(holders) == len(USERS), holders
        assert all("jupyterhub-singleuser" in h for h in holders), holders
    # the zingy-nb server extension answers in each user's server, on that user's store
    status = hub.clients["bob"].get("zingy-nb/api/status")
    assert status.status_code == 200, status.text
    assert "bob" in status.text and "made-up" not in status.text


def test_a_grant_reaches_bobs_cloud_flow_kernel_and_a_revoke_takes_it_back(hub: Hub) -> None:
    alice, bob = hub.clients["alice"], hub.clients["bob"]
    r = alice.put("zingy-nb/api/profiles/stripe", json={"secret1": VALUE})
    assert r.status_code in (200, 201), r.text

    with alice.kernel("zingy-page-flow") as alice_k, bob.kernel("zingy-cloud-flow") as bob_k:
        bob_k.ok(DEFINE_DIGESTS)
        before = bob_k.run("_znb_digests('stripe')")
        assert before.ename == "ProfileNotFoundError", before.describe()

        alice_k.ok(cli("profiles", "grant", "stripe", "bob", "read"))
        got = bob_k.ok("_znb_digests('stripe')")
        assert json.loads(got.stdout) == digests(VALUE)

        alice_k.ok(cli("profiles", "revoke", "stripe", "bob"))
        after = bob_k.run("_znb_digests('stripe')")
        assert after.ename in REFUSED, after.describe()

        for cell in (before, got, after):
            assert VALUE not in cell.everything()
