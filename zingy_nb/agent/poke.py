"""A person's process that wrote to a store itself tells the store's running agent.

Kernels cache the values they received until their agent pushes a change
(``pushes``). The agent sees its own writes at once and other writers' on its next tick;
a script or the CLI that writes in-process (an unlocked store) asks it to look now
(op ``look``), so the change reaches every kernel before the write returns. No agent
running: no kernel of it holds a value, and nothing is started.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from ..errors import ZingyError
from .client import connect
from .location import StoreLocation


def tell(home: Path, url: str) -> None:
    """Have the agent of the store at ``home`` (or ``url``) look for changes now, if it
    runs; returns once its kernels took the push (or it found nothing to push)."""
    try:
        client = connect(StoreLocation(home, url or None))
    except (ZingyError, OSError):
        return
    with client, contextlib.suppress(ZingyError):
        client.call("look")
