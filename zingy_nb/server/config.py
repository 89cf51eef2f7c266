"""The server extension's settings: ``c.ZingyNb.<trait>`` in any Jupyter server config."""

from __future__ import annotations

from pathlib import Path

from traitlets import Bool, List, Unicode
from traitlets.config import Configurable

#: Key of the ``ZingyNb`` instance in ``web_app.settings``, where handlers read it.
SETTINGS_KEY = "zingy_nb_config"


class ZingyNb(Configurable):
    """Settings of the zingy-nb server extension."""

    store_home = Unicode(
        "",
        help=(
            "Folder of the profile store (profiles.db and, without a keyring, the key "
            "file) that the server's REST API manages. Empty: the ZINGY_NB_HOME "
            "environment variable if set, else a zingy_nb folder in Jupyter's data dir, "
            "the same store the kernels and the zingy-nb CLI use by default."
        ),
    ).tag(config=True)

    scrub_enabled = Bool(
        True,
        help=(
            "Save-time scrub: when True, the server replaces any stored secret value "
            "found in a file it saves (notebooks above all) by [REDACTED] before writing "
            "it, and tells the user. Turn off only where notebooks never hold outputs."
        ),
    ).tag(config=True)

    scrub_paths = List(
        Unicode(),
        default_value=["*"],
        help=(
            "Save-time scrub: glob patterns, relative to the server's root dir, of the "
            "files the scrub checks when they are saved. Default: every file."
        ),
    ).tag(config=True)

    def home(self) -> Path | None:
        """The store folder to use, or ``None`` for zingy-nb's default lookup."""
        return Path(self.store_home).expanduser().absolute() if self.store_home else None
