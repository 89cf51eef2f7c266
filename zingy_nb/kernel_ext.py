"""What ``%load_ext zingy_nb`` (or ``--ext=zingy_nb`` in a kernelspec) does in a kernel.

It fixes the flow mode from the environment, registers the magic and its completer,
and puts ``zingyConn`` in the user namespace. Nothing slow is imported here.
"""

from __future__ import annotations

import warnings
from typing import Any

from . import flow


def load(ipython: Any) -> None:
    from .conn import zingyConn
    from .magic import ZingyMagics, complete_names

    mode = flow.init_from_env()
    if mode == flow.INVALID:
        warnings.warn(
            f"{flow.ENV_VAR}={flow.invalid_value()!r} is not a flow mode (cloud-flow or "
            "page-flow): every retrieval in this kernel will be refused.",
            stacklevel=2,
        )
    ipython.register_magics(ZingyMagics)
    ipython.set_hook("complete_command", complete_names, str_key="%zingy_apikey")
    ipython.push({"zingyConn": zingyConn}, interactive=False)


def unload(ipython: Any) -> None:
    if ipython.user_ns.get("zingyConn") is not None:
        ipython.drop_by_id({"zingyConn": ipython.user_ns["zingyConn"]})
