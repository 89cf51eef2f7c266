"""The server's way to its store: through the agent on Linux, in-process elsewhere.

Through the agent (``agent.person.PersonProfiles``) the server holds no key: the agent,
which it starts on demand and which outlives no use, seals what the sidebar saves and
matches what the save-time scrub looks for. Where the agent does not run (macOS,
Windows) the server opens the store itself, as before.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Final

from ..paths import store_home
from ..profiles import Profiles, get_profiles
from ..store.url import store_url
from .config import ZingyNb

if TYPE_CHECKING:
    from ..agent.location import StoreLocation
    from ..agent.person import PersonProfiles

STORE_KEY: Final = "zingy_nb_store"


def location_of(config: ZingyNb) -> StoreLocation:
    """The store this server manages, as its agent is keyed."""
    from ..agent.location import StoreLocation

    return StoreLocation(config.home() or store_home(), store_url())


class ServerStore:
    """One server's ``Profiles``, made at first use and closed with the server."""

    def __init__(self, config: ZingyNb) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._made: PersonProfiles | None = None

    def profiles(self) -> Profiles:
        from ..agent.harden import supported

        if not supported():
            return get_profiles(self.config.home())
        with self._lock:
            if self._made is None:
                from ..agent.person import PersonProfiles

                location = location_of(self.config)
                self._made = PersonProfiles(location.home, location.url or "")
            return self._made

    def close(self) -> None:
        """Let the store's agent go idle once the server stops."""
        with self._lock:
            if self._made is not None:
                self._made.close()
