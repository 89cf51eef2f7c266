"""The agent's arguments, for ``zingy-nb agent`` (also ``python -m zingy_nb.agent``).

Nothing secret is ever taken from argv: the store and its key come from the
environment, as for every zingy-nb command.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

HELP = "run the agent that holds this store's keys for kernels (started on demand)"


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not 0 < value <= 7 * 24 * 3600:
        raise argparse.ArgumentTypeError("must be more than 0 and at most a week")
    return value


#: The idle timeout when ``--idle-timeout`` is not given (test suites shorten it).
IDLE_ENV = "ZINGY_NB_AGENT_IDLE_TIMEOUT"


def _default_idle() -> float:
    from .server import DEFAULT_IDLE_TIMEOUT

    try:
        return _seconds(os.environ.get(IDLE_ENV) or "")
    except argparse.ArgumentTypeError:
        return DEFAULT_IDLE_TIMEOUT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .server import DEFAULT_IDLE_TIMEOUT

    parser.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=_default_idle(),
        metavar="S",
        help="stop after S seconds with no client and no live kernel "
        f"(default {DEFAULT_IDLE_TIMEOUT:g}, or ${IDLE_ENV})",
    )
    parser.add_argument(
        "--detach",
        action="store_true",
        help="go to the background once listening (how kernels' launchers start it)",
    )


def run(args: Any) -> int:
    from .server import run as serve

    return serve(args.idle_timeout, args.detach)
