"""What ``%load_ext zingy_nb`` (or ``--ext=zingy_nb`` in a kernelspec) does in a kernel.

It fixes the flow mode and the notebook identity (``access``) from the environment,
lets notebook access ask through the kernel's stdin, redacts what the kernel sends
(``outgoing``), writes to its own stdout/stderr (``fd_filter``) and logs
(``log_guard``), registers the magic and its completer, and puts ``zingyConn`` in the
user namespace. Nothing slow is imported here.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from .. import access, flow, redact
from ..notices import announce_once
from ..paths import KEY_ENV, MEMBER_KEY_ENV
from . import access_prompt, fd_filter, log_guard, outgoing, store_guard


def _kernel_context(ipython: Any) -> dict[str, str | None]:
    """The kernel id (from the connection file's name) and notebook, if known."""
    kernel_id = None
    kernel = getattr(ipython, "kernel", None)
    connection_file = getattr(getattr(kernel, "parent", None), "connection_file", "") or ""
    name = os.path.basename(connection_file)
    if name.startswith("kernel-") and name.endswith(".json"):
        kernel_id = name[len("kernel-") : -len(".json")]
    return {"kernel_id": kernel_id, "notebook": access.where()}


def _register_retrieved(info: Any) -> None:
    note = redact.short_note(slot for slot, value in info.items() if redact.too_short(value))
    if note:
        announce_once(f"short:{info.name}", f"profile {info.name!r}: {note}")


def load(ipython: Any) -> None:
    from ..audit import audit_log
    from .conn import use_agent_if_launched, use_agent_in_kernel, zingyConn
    from .history import install as scrub_history_at_exit
    from .magic import ZingyMagics, complete_names

    mode = flow.init_from_env()
    use_agent_if_launched()  # a launched kernel: every store it opens asks the agent
    if mode == flow.INVALID:
        warnings.warn(
            f"{flow.ENV_VAR}={flow.invalid_value()!r} is not a flow mode (cloud-flow or "
            "page-flow): every retrieval in this kernel will be refused.",
            stacklevel=2,
        )
    # The key plus a copy of the store opens everything: never show it, even in page flow.
    redact.register_value(os.environ.get(KEY_ENV))
    redact.register_value(os.environ.get(MEMBER_KEY_ENV))  # a member's key opens what they read
    session = getattr(getattr(ipython, "kernel", None), "session", None)
    if session is not None:
        use_agent_in_kernel()  # a kernel no launcher started registers itself when it asks
        outgoing.install(session)  # once: a reload finds it wrapped already
        fd_filter.install()  # the process's own stdout/stderr (the server's log): once
        access.init_from_env()  # once per process: a reload keeps the first identity
        access_prompt.install(ipython)
        audit_log.context.update(_kernel_context(ipython))
    if not any(getattr(h, "__name__", "") == "_register_retrieved" for h in zingyConn.hooks):
        zingyConn.hooks.append(_register_retrieved)
    ipython.register_magics(ZingyMagics)
    store_guard.install(ipython)  # %store never pickles a secret in clear
    scrub_history_at_exit(ipython)  # a stored value typed into a cell leaves history
    log_guard.install(ipython)  # %logstart -o writes its log redacted
    ipython.set_hook("complete_command", complete_names, str_key="%zingy_apikey")
    ipython.push({"zingyConn": zingyConn}, interactive=False)


def unload(ipython: Any) -> None:
    if ipython.user_ns.get("zingyConn") is not None:
        ipython.drop_by_id({"zingyConn": ipython.user_ns["zingyConn"]})
