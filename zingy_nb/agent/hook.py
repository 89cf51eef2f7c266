"""Which ``Profiles`` a process's ``get_profiles()`` builds.

None: today's in-process ``Profiles``. A kernel its launcher registered (and any process
that kernel starts) sets a factory of ``agent.remote.RemoteProfiles`` before it opens a
store; kept here, apart from both, so that setting it imports neither (kernel start
stays cheap) and ``profiles`` needs nothing of the agent.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..profiles import Profiles

factory: Callable[[Path, str], Profiles] | None = None
#: For an embedded store whose key is locked with a passphrase (only its agent holds
#: the key), in a process with no ``factory``: ``agent.person.PersonProfiles``, set by
#: ``agent.person.serve_locked_stores`` where a person's process opens stores.
locked_factory: Callable[[Path, str], Profiles] | None = None


def _tell_agent(home: Path, url: str) -> None:
    from .poke import tell  # only once a process writes: imports the client

    tell(home, url)


#: Called with a store's home and URL after this process wrote to the store itself
#: (``Profiles``, not through an agent): on Linux it tells the store's running agent, if
#: one runs, which pushes the change to its kernels before the write returns
#: (``agent.pushes``). None in the agent itself, and where no agent runs (not Linux).
after_write: Callable[[Path, str], None] | None = (
    _tell_agent if sys.platform.startswith("linux") else None
)
