"""Where the embedded store's agent listens, from the environment's strings alone.

``location.StoreLocation`` is the reference, but it needs pathlib, dataclasses and
``jupyter_core.paths`` (about 40 ms of imports), more than the launcher's whole budget
(``agent.fastpath``). This module gives the same socket path with ``os`` alone, for
the usual case only: the embedded store, paths that pathlib would leave as they are,
and ``jupyter_core``'s Linux defaults (it repeats ``jupyter_data_dir`` and
``jupyter_runtime_dir`` of jupyter_core 5, without platformdirs). Anything else
answers None, and the caller uses ``StoreLocation``. tests/test_launch_fast.py checks
that both agree.
"""

from __future__ import annotations

import os
import sys

from ..paths import HOME_ENV, URL_ENV

try:  # CPython's own SHA-256 (3.12: ``_sha2``): ``hashlib`` loads OpenSSL, ~4 ms
    from _sha256 import sha256
except ImportError:  # pragma: no cover
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256

TYPE_CHECKING = False  # not typing's: importing typing costs the launcher ~10 ms
if TYPE_CHECKING:
    from collections.abc import Mapping

# As in ``location``.
SOCKET = "sock"
MAX_SOCKET_PATH = 107


def temp_agents(tmp: str) -> str:
    """The folder of agents whose socket path under the runtime dir would be too deep:
    ``location.StoreLocation.folder`` puts them there, confinement hides it."""
    return os.path.join(tmp, f"zingy-nb-{os.getuid()}")


def _plain(path: str) -> bool:
    """Whether ``str(pathlib.Path(path)) == path``: absolute, no empty or ``.`` part."""
    return path.startswith("/") and all(part not in ("", ".") for part in path[1:].split("/"))


def _data_dir(environ: Mapping[str, str]) -> str | None:
    """``jupyter_core.paths.jupyter_data_dir()`` where it takes no platformdirs."""
    if environ.get("JUPYTER_DATA_DIR"):
        return environ["JUPYTER_DATA_DIR"]
    if "JUPYTER_PLATFORM_DIRS" in environ or not sys.platform.startswith("linux"):
        return None
    home = os.path.expanduser("~")
    if home.startswith("~"):
        return None  # jupyter_core raises: "Could not determine home directory."
    xdg = environ.get("XDG_DATA_HOME") or os.path.join(os.path.realpath(home), ".local", "share")
    return os.path.join(xdg, "jupyter")


def _runtime_dir(environ: Mapping[str, str]) -> str | None:
    """``jupyter_core.paths.jupyter_runtime_dir()``, or None."""
    if environ.get("JUPYTER_RUNTIME_DIR"):
        return environ["JUPYTER_RUNTIME_DIR"]
    data = _data_dir(environ)
    return None if data is None else os.path.join(data, "runtime")


def _home(environ: Mapping[str, str]) -> str | None:
    """``str(paths.store_home())``, or None."""
    override = environ.get(HOME_ENV)
    if override:
        return override if _plain(override) else None
    data = _data_dir(environ)
    return None if data is None or not _plain(data) else data + "/zingy_nb"


def agent_socket(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``(StoreLocation.current().key, str(...socket_path()))`` for the embedded store
    named by ``environ`` (this process's), or None where this module cannot tell."""
    if environ.get(URL_ENV):
        return None  # a team store: its key hides the URL's password (``redact_url``)
    home, runtime = _home(environ), _runtime_dir(environ)
    if home is None or runtime is None or not _plain(runtime):
        return None
    digest = sha256(home.encode("utf-8")).hexdigest()[:12]
    path = f"{runtime}/zingy-nb/agent-{digest}/{SOCKET}"
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        return None  # the agent's folder is under the temp dir then
    return home, path
