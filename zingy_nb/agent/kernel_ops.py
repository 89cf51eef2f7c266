"""What a registered kernel, or a person's process, asks the agent besides retrieval:
saving, and scrubbing.

Saving from a kernel is allowed in either flow (managing profiles is, today): the kernel
sends the values it was given, the agent seals them with the key only it holds. A write
that needs the old values (an update of some slots, a rename) happens here, so a kernel
that may not read a profile still never sees them. A profile a kernel creates may be
read by that kernel's notebook, as when the kernel held the key itself. ``spans``
answers the kernel's history scrub at exit and the Jupyter server's save-time scrub
with every stored value as matcher; what it returns is where the caller's own text must
be masked, never a value.

A process outside every registered kernel (the Jupyter server, a terminal) is a
person's: it may do these without a capability, as it may widen access (``widening``).
A kernel, or a process it started, must show its kernel's capability.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from .. import access, flow
from ..errors import CloudFlowOnlyError, FlowModeError, InvalidProfileError
from ..rules import SLOTS, validate_name
from .capabilities import UNDER_KERNEL, Kernel
from .protocol import MAX_TEXTS

if TYPE_CHECKING:
    from .ops import Agent

T = TypeVar("T")


def caller(agent: Agent, request: dict[str, Any], peer_pid: int) -> Kernel | None:
    """The kernel the request's capability was given to, or None for a person's process
    (outside every registered kernel) that sent none."""
    cap = request.get("cap")
    if cap is None and agent.kernels._enclosing(peer_pid) is None:
        return None
    if cap is None:
        raise CloudFlowOnlyError(UNDER_KERNEL)
    return agent.kernels.holder(cap, peer_pid)


@contextlib.contextmanager
def acting_for(kernel: Kernel | None) -> Iterator[None]:
    """While the agent writes for ``kernel``: a profile it creates is allowed to its
    notebook (``access.created``); a person's process names none. Callers hold
    ``Agent._lock``: this is process state."""
    state = access._state
    before = state.notebook
    state.notebook = kernel.notebook if kernel is not None else None
    try:
        yield
    finally:
        state.notebook = before


def _values(request: dict[str, Any]) -> list[str | None]:
    values = request.get("values")
    if not (
        isinstance(values, list)
        and len(values) == len(SLOTS)
        and all(v is None or isinstance(v, str) for v in values)
    ):
        raise InvalidProfileError("A profile is saved as its four slots, each text or null.")
    return values


def _name(request: dict[str, Any], field: str = "name") -> str:
    name = request.get(field)
    if not isinstance(name, str):
        raise InvalidProfileError("A profile name is a string.")
    return validate_name(name)


def _write(agent: Agent, kernel: Kernel | None, peer_pid: int, fn: Callable[[], T]) -> T:
    """``fn()`` under the agent's lock, acting for ``kernel``. A locked key makes a
    kernel, or the Jupyter server that shows the Unlock dialog, wait (with no lock held)
    for a person to unlock it, as a retrieval does; a terminal's command fails at once,
    naming `zingy-nb unlock`."""

    def work() -> T:
        with agent._lock, acting_for(kernel):
            return fn()

    if kernel is None and not agent.frontends.is_front_end(peer_pid):
        return work()
    return agent.frontends.when_unlocked(work)


def save(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    kernel = caller(agent, request, peer_pid)
    name, values = _name(request), _values(request)
    meta = _write(agent, kernel, peer_pid, lambda: agent.profiles.set(name, *values))
    return {"meta": meta.to_json()}


def update(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    kernel = caller(agent, request, peer_pid)
    changes = request.get("changes")
    if not (
        isinstance(changes, dict) and all(isinstance(v, str) or v is None for v in changes.values())
    ):
        raise InvalidProfileError("An update names slots, each set to text or null.")
    name = _name(request)
    meta = _write(agent, kernel, peer_pid, lambda: agent.profiles.update(name, changes))
    return {"meta": meta.to_json()}


def rename(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    kernel = caller(agent, request, peer_pid)
    old, new = _name(request, "old"), _name(request, "new")
    meta = _write(agent, kernel, peer_pid, lambda: agent.profiles.rename(old, new))
    return {"meta": meta.to_json()}


def delete(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    caller(agent, request, peer_pid)
    with agent._lock:
        agent.profiles.delete(_name(request))
    return {}


def key_status(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    """Where the store's key lives and whether it opens the store: never the key."""
    caller(agent, request, peer_pid)
    which = request.get("which")
    with agent._lock:
        profiles = agent.profiles
        status = profiles.store_status() if which == "store" else profiles.key_status()
    return {"status": status.to_json()}


def spans(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    """Where each text holds a run of a stored value: ``[[start, end], ...]`` per text."""
    caller(agent, request, peer_pid)
    texts = request.get("texts")
    if not (
        isinstance(texts, list)
        and len(texts) <= MAX_TEXTS
        and all(isinstance(t, str) for t in texts)
    ):
        raise InvalidProfileError(f"Texts to scrub are a list of at most {MAX_TEXTS} strings.")
    matcher = agent.matcher()
    return {"spans": [matcher.spans(t) for t in texts]}


def flag(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    """A kernel's flow, flagged in the kernel (``%zingy_apikey flow``): an unflagged
    kernel may be flagged once and any kernel may narrow to page-flow, as in-process;
    nothing widens what the agent recorded."""
    kernel = caller(agent, request, peer_pid)
    mode = request.get("flow")
    if kernel is None or not isinstance(mode, str) or mode not in flow.MODES:
        raise FlowModeError(
            f"A kernel flags itself {flow.CLOUD_FLOW} or {flow.PAGE_FLOW}, with its capability."
        )
    with agent._lock:
        if not flow.narrows(kernel.flow, mode):
            raise FlowModeError(
                f"This kernel was registered {kernel.flow} and a flow mode never widens: it "
                f"cannot become {mode}. Start the notebook on the Python 3 (Zingy Cloud "
                "Flow) kernel instead."
            )
        kernel.flow = mode
    return {"flow": mode}


#: At most this many profiles per ``counted`` request, and warm reads per profile.
MAX_COUNTED = 1_000
MAX_READS = 10**12


def counted(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    """A kernel's warm retrievals, counted in its memory and sent when it flushes: the
    agent records them as its own audit of that kernel (its notebook, flow and process,
    as registered), and only for profiles it handed that kernel."""
    kernel = caller(agent, request, peer_pid)
    items = request.get("counts")
    if kernel is None or not (isinstance(items, list) and len(items) <= MAX_COUNTED):
        raise InvalidProfileError(
            f"Warm retrievals are counted by a kernel, as a list of at most {MAX_COUNTED} "
            "[name, count, first, last]."
        )
    now = time.time()
    since = kernel.registered.timestamp() - 1
    valid = [
        item
        for item in items
        if isinstance(item, list)
        and len(item) == 4
        and isinstance(item[0], str)
        and isinstance(item[1], int)
        and 0 < item[1] <= MAX_READS
        and all(isinstance(t, (int, float)) and since <= t <= now + 1 for t in item[2:])
        and item[2] <= item[3]
    ]
    recorded = 0
    with agent._lock:
        for name, n, first, last in valid:
            if kernel.audit.has_retrieved(agent.profiles, name):
                kernel.audit.add(agent.profiles, name, kernel.flow, n, first, last)
                recorded += 1
    return {"recorded": recorded}


OPS = {
    "save": save,
    "update": update,
    "rename": rename,
    "delete": delete,
    "key_status": key_status,
    "spans": spans,
    "counted": counted,
    "flag": flag,
}
