"""Which agent serves a store, and where its private folder is.

One agent per OS user and store location: the embedded store's folder, or a team
store's URL without its password (``redact_url``), so the password never reaches a path,
a log line or argv. Its folder is ``<Jupyter runtime dir>/zingy-nb/agent-<hash>/``, kept
0700 and owned by this user; a folder that is not private is refused, never repaired.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ..errors import AgentUnavailableError
from ..paths import HOME_ENV, URL_ENV, store_home
from . import where

SOCKET: Final = "sock"
LOG: Final = "agent.log"
PID_FILE: Final = "agent.pid"
START_LOCK: Final = "start.lock"  # held by whoever starts an agent
RUN_LOCK: Final = "run.lock"  # held by the agent for its whole life
#: sun_path holds 108 bytes on Linux, including the final NUL.
MAX_SOCKET_PATH: Final = 107


@dataclass(frozen=True)
class StoreLocation:
    """A store as an agent is keyed: the embedded store's home, or a team store's URL."""

    home: Path
    url: str | None = field(default=None, repr=False)

    @classmethod
    def current(cls) -> StoreLocation:
        """This process's store (``ZINGY_NB_STORE_URL``, else ``ZINGY_NB_HOME``)."""
        from ..store.url import store_url  # the store package is imported only now

        return cls(store_home(), store_url())

    @property
    def key(self) -> str:
        """What names the store to people and keys its agent: never a password."""
        if not self.url:
            return str(self.home)
        from ..store.url_password import redact_url

        return redact_url(self.url)

    def folder(self) -> Path:
        """``<runtime dir>/zingy-nb/agent-<hash>``; where that is too deep for a socket
        (a Unix socket's path holds 107 bytes), ``<temp dir>/zingy-nb-<uid>/agent-<hash
        of that path>``, as ssh-agent keeps its socket in /tmp."""
        from jupyter_core.paths import jupyter_runtime_dir

        digest = hashlib.sha256(self.key.encode("utf-8")).hexdigest()[:12]
        preferred = Path(jupyter_runtime_dir()) / "zingy-nb" / f"agent-{digest}"
        if len(os.fsencode(preferred / SOCKET)) <= MAX_SOCKET_PATH:
            return preferred
        import tempfile

        short = hashlib.sha256(os.fsencode(preferred)).hexdigest()[:12]
        return Path(where.temp_agents(tempfile.gettempdir())) / f"agent-{short}"

    def socket_path(self) -> Path:
        path = self.folder() / SOCKET
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            raise AgentUnavailableError.for_store(
                self.key,
                f"its socket path ({path}) is longer than a Unix socket allows; set "
                "JUPYTER_RUNTIME_DIR or TMPDIR to a shorter folder",
            )
        return path

    def environ(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` pointed at this store, for the agent process it starts."""
        env = dict(base)
        env[HOME_ENV] = str(self.home)
        if self.url:
            env[URL_ENV] = self.url
        else:
            env.pop(URL_ENV, None)
        return env


def _private(path: Path, where: str) -> None:
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise AgentUnavailableError.for_store(
            where,
            f"its folder {path} is not a private folder of this user (it must be a folder, "
            "owned by you, mode 0700); nothing was started there. Remove it, then try again",
        )


def prepare_folder(location: StoreLocation) -> Path:
    """The agent's folder, created 0700 if missing; refused if it is not private."""
    folder = location.folder()
    folder.parent.parent.mkdir(parents=True, exist_ok=True)
    for path in (folder.parent, folder):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            pass
        _private(path, location.key)
    return folder


def is_agent(pid: int) -> bool:
    """Whether ``pid`` is live and runs an agent (Linux ``/proc``): its command line is
    ``python -m zingy_nb.agent ...`` or ``zingy-nb agent ...``, not merely one that names
    the package (a launcher's ``-c`` does). A pid file can outlive its agent and the pid
    be reused, so check before signalling. An exited, unreaped process has none."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            argv = cmdline.read().split(b"\0")
    except OSError:
        return False
    return any(
        (a == b"-m" and b == b"zingy_nb.agent")
        or (os.path.basename(a) == b"zingy-nb" and b == b"agent")
        for a, b in itertools.pairwise(argv)
    )


def agent_pid(folder: Path) -> int | None:
    """The pid of the live agent whose pid file is in ``folder``, else None (no file, an
    unreadable one, or a pid that is no agent now): for stopping agents by their folder."""
    try:
        pid = int((folder / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if is_agent(pid) else None
