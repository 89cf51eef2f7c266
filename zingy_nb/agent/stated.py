"""A kernel that no zingy launcher started states its own flow and notebook.

A plain ``python3`` kernel with ``%load_ext zingy_nb`` (testbook starts one, so may a
person) has no capability. On Linux it does not open the store itself either: the first
time it needs the key it registers with the store's agent (starting it, with this
process's ``ZINGY_NB_MASTER_KEY`` / ``ZINGY_NB_MEMBER_KEY`` if it has them), stating its
flow (``flow.current()``) and notebook (``access.notebook()``) as they are then. The
agent keeps what was stated and never widens it (``flag`` only narrows, or flags an
unflagged kernel once, as ``flow.flag`` does in-process). Afterwards the kernel acts as
a launched one: the capability goes into its environment, so the processes it starts
act for it (``!zingy-nb profiles allow`` is then refused), and the key variables leave
it.

Weaker than a launched kernel, and the README's threat table says so: the statement is
the kernel's own (hostile code can state cloud-flow and no notebook before it first
asks), the key variables were in the environment it started with, and before it first
asks, its children are a person's processes to the agent.
"""

from __future__ import annotations

import os

from .. import access, flow
from ..audit import audit_log
from ..paths import CAP_ENV, KEY_ENV, MEMBER_KEY_ENV, SESSION_ENV, VIA_ENV
from .client import ensure_agent
from .location import StoreLocation


def register_self(location: StoreLocation) -> tuple[str, str]:
    """A capability for this process from ``location``'s agent, and the flow stated."""
    stated = flow.wire(flow.current())
    with ensure_agent(location) as client:
        cap = client.register(
            stated,
            access.notebook(),
            via=os.environ.get(VIA_ENV) or None,
            named=os.environ.get(SESSION_ENV) or None,
            kernel_id=audit_log.context.get("kernel_id"),
        )
    if location == StoreLocation.current():
        os.environ[CAP_ENV] = cap  # what this kernel starts acts for it
    for name in (KEY_ENV, MEMBER_KEY_ENV):
        os.environ.pop(name, None)  # the agent has them now
    return cap, stated
