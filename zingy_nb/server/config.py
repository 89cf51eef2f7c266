"""The server extension's settings: ``c.ZingyNb.<trait>`` in any Jupyter server config."""

from __future__ import annotations

from pathlib import Path

from traitlets import Bool, Int, List, Unicode
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
            "(and the master key from ZINGY_NB_MASTER_KEY) found in a file it saves, in "
            "every save format (notebook, text, base64 and chunked uploads; binary files "
            "are left alone), by [REDACTED], drops what %zingy_apikey lines in code cells "
            "may not hold (inline secrets), and tells the user. Turn off only where "
            "notebooks never hold outputs."
        ),
    ).tag(config=True)

    scrub_max_bytes = Int(
        256 * 1024 * 1024,
        help=(
            "Save-time scrub: the largest file (in bytes) that is read back and scrubbed "
            "after a chunked upload, which the server otherwise never holds whole in "
            "memory. A larger upload is saved unscrubbed, with a warning. 0: no limit. "
            "Saves in one request are always scrubbed."
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
