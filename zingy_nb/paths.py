"""Where things are, as a process's environment says: the store, and the notebook.

Imports only ``os``: the kernel launcher (``agent.launch``) reads these names before
every kernel start, and its whole budget is a few milliseconds.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows it)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

HOME_ENV = "ZINGY_NB_HOME"
URL_ENV = "ZINGY_NB_STORE_URL"
KEY_ENV = "ZINGY_NB_MASTER_KEY"
MEMBER_KEY_ENV = "ZINGY_NB_MEMBER_KEY"
#: A kernel's capability, set by its launcher (``agent.launch``); or, when the launcher
#: could not get one, why (the kernel then refuses what needs the agent, saying so).
CAP_ENV = "ZINGY_NB_AGENT_CAP"
ERROR_ENV = "ZINGY_NB_AGENT_ERROR"
#: The notebook a Jupyter server names for the kernel it starts (``access``), and the
#: runner that started a process (``audit``: ``serve``, ``run``, ``scheduler:JOBID``...).
SESSION_ENV = "JPY_SESSION_NAME"
VIA_ENV = "ZINGY_NB_VIA"
STORE_FILE = "profiles.db"
KEY_FILE = "master.key"


def store_home() -> Path:
    """``ZINGY_NB_HOME`` if set, else a ``zingy_nb`` folder in Jupyter's data dir."""
    from pathlib import Path

    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser().absolute()
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "zingy_nb"


def resolve(path: str, cwd: str | None = None) -> str:
    """A notebook path as identities are kept: absolute, symlinks resolved."""
    return os.path.realpath(os.path.join(cwd or os.getcwd(), os.path.expanduser(path)))


def identity_from_env(environ: Mapping[str, str], cwd: str | None = None) -> str | None:
    """The notebook a process started with ``environ`` runs for, or None (``access``)."""
    raw = environ.get(SESSION_ENV)
    if not raw or environ.get(VIA_ENV):
        return None
    if not os.path.isabs(raw):
        # A session created without a name: the server passed the root-relative path
        # and started the kernel in the notebook's folder.
        cwd = cwd or os.getcwd()
        folder = os.path.dirname(raw)
        if folder and cwd.endswith(os.sep + folder):
            cwd = cwd[: -len(folder) - 1]
    real = resolve(raw, cwd)
    return real if os.path.isfile(real) else None
