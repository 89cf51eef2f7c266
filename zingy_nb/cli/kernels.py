"""``zingy-nb kernels install|uninstall|list``: the cloud-flow and page-flow kernelspecs."""

from __future__ import annotations

import argparse
import json
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
    listing = kern.add_parser(
        "list", help="the flow kernels Jupyter finds: name, flow, display name, folder"
    )
    listing.add_argument("--json", action="store_true", help="a JSON array of objects")


def run(args: Any) -> None:
    from ..kernels import install, installed, uninstall

    if args.action == "list":
        found = installed()
        if args.json:
            print(json.dumps([k.as_dict() for k in found], indent=1))
        elif not found:
            print("No zingy-nb kernels found: run `zingy-nb kernels install`.", file=sys.stderr)
        for k in [] if args.json else found:
            print(f"{k.name}\t{k.flow or '-'}\t{k.display_name}\t{k.resource_dir}")
    elif args.action == "install":
        for path in install(user=args.user, prefix=args.prefix):
            print(f"Installed kernelspec in {path}", file=sys.stderr)
    else:
        for path in uninstall(user=args.user, prefix=args.prefix):
            print(f"Removed kernelspec {path}", file=sys.stderr)
