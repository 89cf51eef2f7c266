"""Where the embedded store lives."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "ZINGY_NB_HOME"
URL_ENV = "ZINGY_NB_STORE_URL"
KEY_ENV = "ZINGY_NB_MASTER_KEY"
MEMBER_KEY_ENV = "ZINGY_NB_MEMBER_KEY"
#: A kernel's capability, set by its launcher (``agent.launch``); or, when the launcher
#: could not get one, why (the kernel then refuses what needs the agent, saying so).
CAP_ENV = "ZINGY_NB_AGENT_CAP"
ERROR_ENV = "ZINGY_NB_AGENT_ERROR"
STORE_FILE = "profiles.db"
KEY_FILE = "master.key"


def store_home() -> Path:
    """``ZINGY_NB_HOME`` if set, else a ``zingy_nb`` folder in Jupyter's data dir."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser().absolute()
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "zingy_nb"
