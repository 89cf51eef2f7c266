# jupyterhub_config.py: a team of zingy-nb users on JupyterHub, sharing one PostgreSQL store.
#
# A complete demo that runs on one machine. Install as docs/teams.md, "Install on the
# hub", says (zingy-nb is on no package index yet: its wheel is built from a clone):
#
#   bash scripts/build-wheel.sh
#   python3 -m venv /opt/jupyterhub
#   /opt/jupyterhub/bin/pip install jupyterhub "$(ls dist/zingy_nb-*.whl)[postgres]"
#   npm install --prefix /opt/jupyterhub/chp configurable-http-proxy@5
#   /opt/jupyterhub/bin/zingy-nb kernels install --sys-prefix
#
# then start the hub from that environment:
#
#   . /opt/jupyterhub/bin/activate
#   ZINGY_HUB_SECRETS=/etc/jupyterhub/zingy-nb jupyterhub -f docs/jupyterhub_config.py
#
# and log in at http://127.0.0.1:8000 as alice or bob (the demo accepts any password).
# The test suite runs this very file (tests/hub/): it changes only where things are
# (ports, folders) and adds an admin API token for itself; tests/test_team_docs.py walks
# the team setup of docs/teams.md against it.
#
# What each member's server gets from the hub: their own database role (in
# ZINGY_NB_STORE_URL) and their own member key (ZINGY_NB_MEMBER_KEY). Both are per-user
# secrets: the hub reads them when it starts a user's server and puts them in that
# server's environment only. The hub's own environment holds none of them, and nothing
# here is shared between users except what the store itself shares. There is no team
# master key.
#
# Creating the database, its roles, the schema and these secrets, in the order that
# works: docs/teams.md, "Setting up a team, step by step".

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (defined by JupyterHub when it loads this file)

# --- Who may log in --------------------------------------------------------------------
# Demo: DummyAuthenticator lets a listed user in with any password. In production use
# your identity provider (oauthenticator's GenericOAuthenticator, LDAPAuthenticator, ...)
# and keep each hub user name equal to that member's database role, or map one to the
# other in zingy_nb_environment below.
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {"alice", "bob"}

# --- Where each user's server runs -----------------------------------------------------
# Demo: SimpleLocalProcessSpawner runs every server as the hub's own OS user, in
# /tmp/<user>: no isolation at all between users (one user's kernel can read another's
# files and process environment). In production use a spawner that isolates users
# (SystemdSpawner, DockerSpawner, KubeSpawner, or LocalProcessSpawner with one OS
# account per user): a member's database credentials and key must be visible to that
# member's processes only.
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "/tmp/zingy-hub/{username}"
c.Spawner.default_url = "/lab"
# A hub run as root starts the servers as root, which Jupyter refuses unless told:
# c.Spawner.args = ["--allow-root"]

# The proxy, installed beside JupyterHub's environment (see the header); elsewhere,
# configurable-http-proxy from PATH.
CHP = Path(sys.prefix, "chp", "node_modules", ".bin", "configurable-http-proxy")
if CHP.exists():
    c.ConfigurableHTTPProxy.command = [str(CHP)]

# The demo listens on the loopback interface only; put TLS in front of it otherwise.
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.hub_ip = "127.0.0.1"

# --- Per-user secrets: the database URL and the key -------------------------------------
# One folder per user, readable by the hub only (0700), one file per variable, named
# after it (a Kubernetes Secret mounted as a volume has exactly this shape):
#
#   $ZINGY_HUB_SECRETS/alice/ZINGY_NB_STORE_URL    postgresql://alice:...@db.internal/zingy?sslmode=verify-full
#   $ZINGY_HUB_SECRETS/alice/ZINGY_NB_MEMBER_KEY   alice's own member key
#   $ZINGY_HUB_SECRETS/bob/...
#
# - ZINGY_NB_STORE_URL: the member's own database role. `sslmode=verify-full` needs a
#   server with TLS (and its CA in ~/.postgresql/root.crt or PGSSLROOTCERT); a local
#   cluster without TLS needs `sslmode=disable`. A password in the URL is never shown by
#   zingy-nb; a password-less URL plus a .pgpass file (PGPASSFILE, the path of one that
#   user's server can read) or a client certificate (PGSSLCERT, PGSSLKEY) is better
#   still: those libpq variables are passed on from the folder too.
# - ZINGY_NB_MEMBER_KEY: each member's own private key (docs/teams.md, "Member keys"),
#   different per user and never shared. Make one per member, straight into their folder:
#     zingy-nb team new-key --output $ZINGY_HUB_SECRETS/alice/ZINGY_NB_MEMBER_KEY
#   then the member runs `zingy-nb team join` once from their server (a terminal, or
#   `!zingy-nb team join` in a notebook) to publish its public half. It opens only what
#   that member may read.
#
# In production the same function can ask a secret manager instead (Vault, AWS Secrets
# Manager, a Kubernetes Secret per user through KubeSpawner's environment); what matters
# is that it returns this user's values and nobody else's.
SECRETS_DIR = Path(os.environ.get("ZINGY_HUB_SECRETS", "/etc/jupyterhub/zingy-nb"))

#: The variables a user's folder may set; any other file in it is ignored (and logged).
SECRET_VARIABLES = (
    "ZINGY_NB_STORE_URL",
    "ZINGY_NB_MEMBER_KEY",
    # libpq's own: a password file, or a client certificate, instead of a password
    "PGPASSFILE",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGSSLROOTCERT",
)


def zingy_nb_environment(spawner):
    """The zingy-nb variables of ``spawner.user``: read from their secrets folder."""
    folder = SECRETS_DIR / spawner.user.name
    found = {}
    if not folder.is_dir():
        spawner.log.warning("zingy-nb: no secrets folder for %s", spawner.user.name)
        return found
    for path in sorted(folder.iterdir()):
        if path.name in SECRET_VARIABLES:
            found[path.name] = path.read_text().strip()
        else:
            spawner.log.warning("zingy-nb: ignoring %s (not one of %s)", path, SECRET_VARIABLES)
    return found


def pre_spawn_hook(spawner):
    # Read at every start, so a changed secret (a new member key, a new password) takes
    # effect at the user's next server start. Never logged.
    spawner.environment = {**spawner.environment, **zingy_nb_environment(spawner)}


c.Spawner.pre_spawn_hook = pre_spawn_hook

# Kernels inherit their server's environment, so a cloud-flow kernel's zingyConn and the
# zingy-nb CLI in a terminal use the member's role and key with no further setup.
