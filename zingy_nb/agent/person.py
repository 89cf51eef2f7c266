"""``Profiles`` for a person's process whose key the agent holds: the Jupyter server,
and the CLI and scripts on a store whose key is locked with a passphrase.

On Linux the Jupyter server keeps no key: its sidebar saves, renames and deletes, its
key status and its save-time scrub's matching are the agent's, as a kernel's are, so
the agent is the one process that holds the key. Such a process is outside every
kernel, so the agent serves it without a capability, as it serves a terminal; it reads
metadata and the change token from the store itself. To read values (a script's
``zingyConn.apikey``) it registers as a *process* the first time, stating its flow and
notebook as a plain kernel does (``agent.stated``); the agent keeps them and never
widens them, and, the process being no kernel, its children stay a person's.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .. import access, flow
from ..errors import CloudFlowOnlyError
from . import hook
from .capabilities import UNDER_KERNEL
from .client import AgentClient, ensure_agent
from .remote import RemoteProfiles


def serve_locked_stores() -> None:
    """In this process, open a store whose key is locked as ``PersonProfiles``: the CLI,
    a script's ``zingyConn`` or ``zingy_nb.get_profiles`` (Linux: where the agent is)."""
    if sys.platform.startswith("linux"):
        hook.locked_factory = PersonProfiles


class PersonProfiles(RemoteProfiles):
    """``Profiles`` through the agent, for a process that is no kernel's. Thread-safe."""

    def __init__(self, home: Path, url: str = "") -> None:
        super().__init__(home, url=url)
        self._reading: str | None = None  # the capability values are read with
        if self._cap is not None:  # a kernel, or a process it started: the agent would
            raise CloudFlowOnlyError(UNDER_KERNEL)  # refuse it; start no agent for it

    def _agent(self) -> tuple[AgentClient, str | None]:  # type: ignore[override]
        """A connection to the store's agent, started (again) if it is not running."""
        with self._client_lock:
            if self._client is None or self._client.closed:
                self._client = ensure_agent(self._location)
            return self._client, None

    def _reader(self) -> tuple[AgentClient, str]:
        """A capability for this process, registered (as a process) when first needed."""
        client, _ = self._agent()
        with self._client_lock:
            if self._reading is None:
                stated = flow.wire(flow.current())
                cap = client.register(stated, access.notebook(), kind="process")
                self._reading, self._flow = cap, stated
            return client, self._reading

    def rotate_key(self, passphrase: str | None = None) -> str:
        """The agent rotates (it holds the key), and locks the new key with the
        passphrase, which it checks first."""
        client, _ = self._agent()
        with self._lock:
            key_id = client.rotate(passphrase)
            self._changed()
            return key_id

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
