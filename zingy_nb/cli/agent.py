"""``zingy-nb agent``: run the agent that holds the store's keys for kernels."""

from __future__ import annotations

import argparse


def add_parser(top: argparse._SubParsersAction) -> None:
    from ..agent.command import HELP, add_arguments, run

    parser = top.add_parser("agent", help=HELP, description=HELP)
    add_arguments(parser)
    parser.set_defaults(runtime=run)  # it returns its own exit status
