"""``zingy-nb serve`` and ``zingy-nb run``: the Cloud Flow runners on the command line.

``register(subparsers)`` adds both to the ``zingy-nb`` parser; each sets ``runtime`` to
its handler, which returns the exit status itself: 0 success, 1 a failure while
running (a cell, a kernel), 2 a refusal or usage error, with one line on stderr that
names no argument (a secret pasted in the wrong place looks like a path).
Nothing heavy is imported until a handler runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CloudFlowOnlyError

if TYPE_CHECKING:
    from .notebook_flow import NotebookKernel

USAGE_ERROR = 2
DEFAULT_IP = "127.0.0.1"
DEFAULT_PORT = 8888


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError("must be a port number, 1 to 65535")
    return int(text)


def _workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError("must be a number of kernels, 1 to 64")
    return int(text)


def register(subparsers: Any) -> None:
    """Add ``serve`` and ``run`` to an argparse subparsers object (``zingy-nb``'s own)."""
    p = subparsers.add_parser(
        "serve",
        help="serve a cloud-flow notebook's endpoint cells over HTTP (Kernel Gateway)",
        description="Serve the notebook's annotated cells (`# POST /path`) as HTTP "
        "endpoints through Jupyter Kernel Gateway's notebook-http mode, until SIGTERM or "
        "Ctrl-C. Only cloud-flow notebooks are served.",
    )
    p.add_argument("notebook", help="the .ipynb file (its kernel must be cloud-flow)")
    p.add_argument("--ip", default=DEFAULT_IP, help=f"address to listen on (default {DEFAULT_IP})")
    p.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    p.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="kernels kept running; requests are spread over them (default 1)",
    )
    p.set_defaults(runtime=serve_command)

    p = subparsers.add_parser(
        "run",
        help="run a cloud-flow notebook once, unattended (papermill)",
        description="Run the notebook top to bottom with papermill (cron jobs, systemd "
        "timers). Exit status 1 when a cell fails, with the cell and the error on stderr. "
        "Only cloud-flow notebooks run.",
    )
    p.add_argument("notebook", help="the .ipynb file (its kernel must be cloud-flow)")
    p.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        dest="parameters",
        help="set a variable of the notebook's `parameters` cell (papermill typing: "
        "True/False/None, numbers, else text); repeatable. Never a secret: the notebook "
        "retrieves those itself",
    )
    p.add_argument(
        "--output", metavar="PATH", help="write the executed notebook there (default: none)"
    )
    p.set_defaults(runtime=run_command)


def _say(command: str, message: str) -> None:
    print(f"zingy-nb {command}: {message}", file=sys.stderr)


def _checked(command: str, notebook: str) -> NotebookKernel | int:
    """The notebook's kernel if it may run, else the exit status after saying why."""
    from .notebook_flow import check

    try:
        return check(notebook)
    except CloudFlowOnlyError as exc:
        _say(command, f"refused: {exc}")
    except OSError as exc:
        _say(command, f"cannot read the notebook: {exc.strerror or type(exc).__name__}.")
    except ValueError:
        _say(command, "the notebook is not a valid .ipynb file (JSON): check the path.")
    return USAGE_ERROR


def _unlocked(command: str) -> int | None:
    """None when the store's key can be had (not locked, ``ZINGY_NB_MASTER_KEY``, or an
    unlocked agent; on a terminal, after asking for the passphrase); else the exit
    status after saying what to do. Linux only: elsewhere a key is never locked."""
    from ..paths import KEY_ENV, MEMBER_KEY_ENV, store_home
    from ..store.url import store_url
    from ..vault import key_locked

    home = store_home()
    team = bool(store_url())
    env = MEMBER_KEY_ENV if team else KEY_ENV
    if not sys.platform.startswith("linux") or os.environ.get(env):
        return None
    if not key_locked(home, team):
        return None
    from ..agent.client import ensure_agent
    from ..cli.custody import read_passphrase
    from ..errors import ZingyError

    try:
        with ensure_agent() as client:
            if client.key_status(None, "store" if team else "key").get("problem") is None:
                return None  # an agent unlocked already
            if not sys.stdin.isatty():
                _say(
                    command,
                    "the store's key is locked with a passphrase: run `zingy-nb unlock` "
                    f"first, or set {env} for headless runs.",
                )
                return USAGE_ERROR
            client.unlock(read_passphrase(False, new=False))
    except ZingyError as exc:
        _say(command, str(exc))
        return USAGE_ERROR
    return None


def serve_command(args: Any) -> int:
    kernel = _checked("serve", args.notebook)
    if isinstance(kernel, int):
        return kernel
    locked = _unlocked("serve")
    if locked is not None:
        return locked
    if importlib.util.find_spec("kernel_gateway") is None:
        _say(
            "serve",
            "needs Jupyter Kernel Gateway: install the zingy-nb wheel with its serve extra (README, Install), or pip install jupyter_kernel_gateway.",
        )
        return 1
    from .serve import serve

    try:
        return serve(Path(args.notebook), kernel, ip=args.ip, port=args.port, workers=args.workers)
    except OSError as exc:  # the port is taken, the address is not local, ...
        _say("serve", f"cannot listen there: {exc.strerror or type(exc).__name__}.")
        return 1


def run_command(args: Any) -> int:
    for name, _ in args.parameters:
        if not name.isidentifier():
            _say("run", "a -p NAME is not a Python variable name (the value is not shown).")
            return USAGE_ERROR
    kernel = _checked("run", args.notebook)
    if isinstance(kernel, int):
        return kernel
    locked = _unlocked("run")
    if locked is not None:
        return locked
    if importlib.util.find_spec("papermill") is None:
        _say(
            "run",
            "needs papermill: install the zingy-nb wheel with its run extra (README, Install), or pip install papermill.",
        )
        return 1
    from .run import run

    output = Path(os.path.abspath(args.output)) if args.output else None
    return run(
        Path(os.path.abspath(args.notebook)),
        kernel,
        parameters=[tuple(p) for p in args.parameters],
        output=output,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m zingy_nb.runtime serve|run ...``: the same commands outside ``zingy-nb``."""
    parser = argparse.ArgumentParser(prog="zingy-nb")
    register(parser.add_subparsers(dest="area", required=True))
    args = parser.parse_args(argv)
    return int(args.runtime(args))
