"""``zingy-nb kernels install|uninstall``: the cloud-flow and page-flow kernelspecs."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import subcommands


def add_parser(top: argparse._SubParsersAction) -> None:
    kern = subcommands(top.add_parser("kernels", help="the cloud-flow and page-flow kernelspecs"))
    for action, verb, into in (
        ("install", "install both kernelspecs", "into"),
        ("uninstall", "remove both kernelspecs", "from"),
    ):
        p = kern.add_parser(action, help=verb)
        where = p.add_mutually_exclusive_group()
        where.add_argument("--user", action="store_true", help=f"{into} the user's Jupyter dir")
        where.add_argument("--sys-prefix", action="store_true", help=f"{into} sys.prefix (default)")
        where.add_argument("--prefix", metavar="DIR", help=f"{into} DIR/share/jupyter/kernels")


def run(args: Any) -> None:
    from ..kernels import install, uninstall

    if args.action == "install":
        for path in install(user=args.user, prefix=args.prefix):
            print(f"Installed kernelspec in {path}", file=sys.stderr)
    else:
        for path in uninstall(user=args.user, prefix=args.prefix):
            print(f"Removed kernelspec {path}", file=sys.stderr)
