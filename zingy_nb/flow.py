"""The process's flow mode: cloud-flow may retrieve secrets, nothing else may.

The mode is read once per process (from ``ZINGY_NB_FLOW`` when the extension loads in
a kernel, or on first use elsewhere) and can only narrow afterwards: an unflagged
process may be flagged once, a page-flow process never becomes cloud-flow, and an
invalid value fails closed. The state survives ``importlib.reload`` of this module and
``%reload_ext zingy_nb``, and later changes to ``os.environ`` are ignored.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Final

from .errors import CloudFlowOnlyError, FlowModeError

ENV_VAR: Final = "ZINGY_NB_FLOW"
CLOUD_FLOW: Final = "cloud-flow"
PAGE_FLOW: Final = "page-flow"
MODES: Final = (CLOUD_FLOW, PAGE_FLOW)
INVALID: Final = "invalid"

_CLOUD_KERNEL = '"Python 3 (Zingy Cloud Flow)" kernel (`zingy-nb kernels install` adds it)'


class _FlowState:
    """Mutable per-process state; one instance for the life of the process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.decided = False
        self.mode: str | None = None  # None: unflagged
        self.raw: str | None = None
        self.source = "unset"


# Re-executing this module (importlib.reload) keeps the existing state object.
_state: _FlowState = globals().get("_state") or _FlowState()


def _decide_locked() -> None:
    if _state.decided:
        return
    raw = os.environ.get(ENV_VAR)
    _state.raw = raw
    if raw is None or raw.strip() == "":
        _state.mode = None
    elif raw.strip() in MODES:
        _state.mode = raw.strip()
        _state.source = ENV_VAR
    else:
        _state.mode = INVALID
        _state.source = ENV_VAR
    _state.decided = True


def init_from_env() -> str | None:
    """Fix the mode from the environment if not fixed yet; returns the mode."""
    with _state.lock:
        _decide_locked()
        return _state.mode


def current() -> str | None:
    """``cloud-flow``, ``page-flow``, ``invalid`` or None (unflagged)."""
    if not _state.decided:
        return init_from_env()
    return _state.mode


def invalid_value() -> str | None:
    """The rejected ``ZINGY_NB_FLOW`` value when the mode is invalid."""
    return _state.raw if current() == INVALID else None


def describe() -> str:
    mode = current()
    if mode is None:
        return "unflagged (no flow mode): retrieval refused"
    if mode == INVALID:
        return f"invalid {ENV_VAR}={_state.raw!r}: retrieval refused"
    verb = "allowed" if mode == CLOUD_FLOW else "refused"
    return f"{mode} (from {_state.source}): retrieval {verb}"


def flag(mode: str) -> str:
    """Flag this process with ``mode``. Only narrowing is possible."""
    if mode not in MODES:
        raise FlowModeError(f"{mode!r} is not a flow mode: use {CLOUD_FLOW} or {PAGE_FLOW}.")
    with _state.lock:
        _decide_locked()
        now = _state.mode
        if now == mode:
            return mode
        if mode == PAGE_FLOW:  # narrowing is always safe
            _state.mode, _state.source = PAGE_FLOW, "flagged in this process"
            os.environ[ENV_VAR] = PAGE_FLOW  # child processes inherit page flow
            return mode
        if now is None:
            _state.mode, _state.source = CLOUD_FLOW, "flagged in this process"
            return mode
        what = "a page-flow" if now == PAGE_FLOW else f"an invalid-{ENV_VAR}"
        raise FlowModeError(
            f"This is {what} process and a flow mode never widens: it cannot become "
            f"cloud-flow. Start the notebook on the {_CLOUD_KERNEL} instead."
        )


@contextlib.contextmanager
def cloud_flow_while_testing() -> Iterator[None]:
    """For the pytest plugin: an unflagged test process retrieves as a cloud-flow kernel
    would, until the block ends, then is unflagged again. A page-flow or invalid process
    stays as it is: this never widens a decided mode."""
    with _state.lock:
        _decide_locked()
        before = (_state.mode, _state.source)
        if _state.mode is None:
            _state.mode, _state.source = CLOUD_FLOW, "the zingy-nb pytest plugin"
    try:
        yield
    finally:
        with _state.lock:
            if (_state.mode, _state.source) == (CLOUD_FLOW, "the zingy-nb pytest plugin"):
                _state.mode, _state.source = before


#: How a kernel's flow goes over the wire to the agent (``wire``): an unflagged kernel is
#: ``unflagged``; ``invalid`` stays ``invalid``.
UNFLAGGED: Final = "unflagged"
STATED: Final = (*MODES, UNFLAGGED, INVALID)


def wire(mode: str | None) -> str:
    """``mode`` (``current()``'s answer) as the agent records it."""
    return UNFLAGGED if mode is None else mode


def narrows(before: str, after: str) -> bool:
    """Whether a recorded flow (``wire``) may become ``after``: an unflagged kernel may
    be flagged once, anything may become page-flow, nothing else changes."""
    return after == before or after == PAGE_FLOW or (before == UNFLAGGED and after in MODES)


def refusal(action: str = "Retrieving secrets", mode: str | None = None) -> CloudFlowOnlyError:
    """The error for a retrieval outside cloud-flow, saying why and what to do; for
    ``mode`` (as ``wire`` writes it: the agent judging a kernel) or this process."""
    value = repr(_state.raw) if mode is None else "a value"  # the agent never saw it
    mode = current() if mode is None else (None if mode == UNFLAGGED else mode)
    if mode == PAGE_FLOW:
        why = (
            "this is a page-flow kernel, a prototype of code that runs in the end "
            "user's browser, where secrets must never go. Move this code into a cloud "
            f"flow: run it on the {_CLOUD_KERNEL}."
        )
    elif mode == INVALID:
        why = (
            f"{ENV_VAR} is set to {value}, which is not a flow mode "
            f"({CLOUD_FLOW} or {PAGE_FLOW}), so every retrieval is refused. Start the "
            f"kernel with {ENV_VAR}={CLOUD_FLOW}, or use the {_CLOUD_KERNEL}."
        )
    else:
        why = (
            "this kernel has no flow mode. Start the notebook on the "
            f"{_CLOUD_KERNEL}, or flag this kernel once with "
            f"`%zingy_apikey flow {CLOUD_FLOW}`."
        )
    return CloudFlowOnlyError(
        f"{action} is refused: the API Key service works only in cloud-flow kernels, and {why}"
    )


def require_cloud_flow(action: str = "Retrieving secrets") -> None:
    if current() != CLOUD_FLOW:
        raise refusal(action)
