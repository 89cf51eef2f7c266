"""The zingy-nb agent: keys and policy in a process of their own, outside every kernel.

One agent per OS user and store (``location``) holds the store's ``Profiles`` and so its
key, undumpable (``harden``), behind a Unix socket in a private folder (``server``). A
launcher registers a kernel and gets a capability bound to its process, flow and
notebook (``capabilities``); retrieval with it is judged by the agent (``ops``). The
wire format is one JSON object per line (``protocol``); ``client`` connects, and starts
the agent on demand (``zingy-nb agent``, arguments in ``command``). Linux only: elsewhere importing works and ``connect`` says why it
cannot. See docs/agent.md for what is built and what follows.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs the launcher ~10 ms
if TYPE_CHECKING:
    from typing import Any

    from .client import AgentClient, connect, ensure_agent
    from .location import StoreLocation

__all__ = ["AgentClient", "StoreLocation", "connect", "ensure_agent"]


def __getattr__(name: str) -> Any:
    # Lazy: the launcher and a kernel's start import a submodule or two, not all of these.
    if name in ("AgentClient", "connect", "ensure_agent"):
        from . import client

        return getattr(client, name)
    if name == "StoreLocation":
        from .location import StoreLocation

        return StoreLocation
    raise AttributeError(f"module 'zingy_nb.agent' has no attribute {name!r}")
