"""``zingy-nb audit``: retrievals, refusals and notebook-access events in the store."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .common import valid_name

#: The header of the text listing (tab-separated, one entry a line, newest first).
COLUMNS = ("LAST", "PROFILE", "OUTCOME", "FLOW", "COUNT", "WHERE", "VIA")


def add_parser(top: argparse._SubParsersAction) -> None:
    p = top.add_parser("audit", help="retrievals, refusals and notebook access in the store")
    p.add_argument("--profile", metavar="NAME", help="only this profile")
    p.add_argument("--json", action="store_true", help="a JSON array of objects")


def run(args: Any) -> None:
    from ..profiles import get_profiles

    if args.profile is not None:
        valid_name(args.profile, "--profile name")
    entries = get_profiles().store.audit(args.profile)
    if args.json:
        print(json.dumps([e.to_json() for e in entries], indent=2))
        return
    if not entries:
        print("No retrievals, refusals or notebook-access events recorded yet.")
        return
    print("\t".join(COLUMNS))
    for e in entries:
        where = e.notebook or (f"kernel {e.kernel_id}" if e.kernel_id else e.process)
        print(
            f"{e.last:%Y-%m-%d %H:%M:%S}\t{e.profile}\t{e.outcome}\t{e.flow}\tx{e.count}\t"
            f"{where}\t{f'via {e.via}' if e.via else '-'}"
        )
