"""``Profiles`` for a person's process whose key the agent holds: the Jupyter server.

On Linux the Jupyter server keeps no key: its sidebar saves, renames and deletes, its
key status and its save-time scrub's matching are the agent's, as a kernel's are, so
the agent is the one process that holds the key (issue #23 locks it there). The server
is outside every kernel, so the agent serves it without a capability, as it serves a
terminal; it reads metadata and the change token from the store itself.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CloudFlowOnlyError, KeyUnavailableError
from ..rules import Secrets
from .capabilities import UNDER_KERNEL
from .client import AgentClient, ensure_agent
from .remote import RemoteProfiles

NO_VALUES = (
    "The Jupyter server reads no profile's values: a cloud-flow kernel retrieves them "
    "from the zingy-nb agent (`zingyConn.apikey(name)`)."
)


class PersonProfiles(RemoteProfiles):
    """``Profiles`` through the agent, for a process that is no kernel's. Thread-safe."""

    def __init__(self, home: Path, url: str = "") -> None:
        super().__init__(home, url=url)
        if self._cap is not None:  # a kernel, or a process it started: the agent would
            raise CloudFlowOnlyError(UNDER_KERNEL)  # refuse it; start no agent for it

    def _agent(self) -> tuple[AgentClient, str | None]:  # type: ignore[override]
        """A connection to the store's agent, started (again) if it is not running."""
        with self._client_lock:
            if self._client is None or self._client.closed:
                self._client = ensure_agent(self._location)
            return self._client, None

    def secrets(self, name: str, *, caller: str = "Profiles.secrets()") -> Secrets:
        raise KeyUnavailableError(NO_VALUES)

    def move_notebooks(self, old: str, new: str) -> int:
        """The agent moves and re-signs the allowances (it holds the signing key)."""
        return self._follow(old, new)

    def forget_notebooks(self, path: str) -> int:
        return self._follow(path, None)

    def _follow(self, old: str, new: str | None) -> int:
        client, _ = self._agent()
        with self._lock:
            count = client.follow(old, new)
            self._changed()
            return count

    def close(self) -> None:
        """Let the agent go idle: drop the connection (a later call opens a new one)."""
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None
