"""Where the CLI does what widens access: through the agent, on Linux.

The agent holds the key and judges who asks from process ancestry, so a command a
kernel runs (``!zingy-nb profiles allow ...``) is refused there, whatever its
environment says. ``ensure_agent`` starts the agent if none runs, handing it this
process's store and ``ZINGY_NB_MASTER_KEY``/``ZINGY_NB_MEMBER_KEY`` through the
environment. Elsewhere (macOS, Windows) there is no agent and the CLI keeps doing it
in-process, as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..agent.client import AgentClient


def agent() -> AgentClient | None:
    """The agent of this process's store (started if needed), or None off Linux."""
    from ..agent.harden import supported

    if not supported():
        return None
    from ..agent.client import ensure_agent

    return ensure_agent()
