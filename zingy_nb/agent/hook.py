"""Which ``Profiles`` a process's ``get_profiles()`` builds.

None: today's in-process ``Profiles``. A kernel its launcher registered (and any process
that kernel starts) sets a factory of ``agent.remote.RemoteProfiles`` before it opens a
store; kept here, apart from both, so that setting it imports neither (kernel start
stays cheap) and ``profiles`` needs nothing of the agent.
"""

from __future__ import annotations

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
