"""``zingy-nb store version|upgrade|config``: the store's schema and its settings.

Settings live in the store, so the CLI, the server and every kernel on it see the same
value (a kernel notices a change at its next retrieval, through the change token).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..store.base import ACCESS_SETTINGS
from .common import subcommands


def add_parser(top: argparse._SubParsersAction) -> None:
    store = subcommands(top.add_parser("store", help="the store's schema version and settings"))
    store.add_parser("version", help="the store's schema version and this code's")
    store.add_parser(
        "upgrade",
        help="create or migrate the schema (a team store: run it as the database's owner; "
        "one still on the shared master key is then converted by an admin holding that key)",
    )
    p = store.add_parser("config", help="show or change a store setting")
    settings = p.add_subparsers(dest="setting", required=True)
    s = settings.add_parser(
        "notebook-access",
        help="ask before a notebook first reads a profile it was not allowed (ask, the "
        "default), or never check (off); a team store: admins only",
    )
    s.add_argument("value", nargs="?", choices=ACCESS_SETTINGS, help="the new value")


def run(args: Any) -> None:
    from ..profiles import get_profiles

    profiles = get_profiles()
    store = profiles.store
    if args.action == "version":
        found = store.schema_version()
        print(f"store:        {store.location}")
        print(f"schema:       {found if found is not None else '- (no store yet)'}")
        print(f"this zingy-nb: {_code_version(store)}")
    elif args.action == "config":
        from .. import access
        from .through_agent import agent

        if args.value is None:
            print(access.setting(profiles))
            return
        client = agent()
        if client is None:
            access.set_setting(profiles, args.value)
        else:
            with client:
                client.set_setting(args.value)
        print(f"notebook-access is now {args.value}.", file=sys.stderr)
    else:
        if profiles.vault.kind == "member":
            from .store_members import upgrade_team_store

            upgrade_team_store(profiles)
            return
        before, after = store.upgrade()
        if before is None and after and store.schema_version() is None:
            print(
                f"No store at {store.location} yet: it is created at schema version "
                f"{after} on its first write.",
                file=sys.stderr,
            )
        elif before == after:
            print(f"The store at {store.location} is already at version {after}.", file=sys.stderr)
        else:
            print(
                f"Upgraded the store at {store.location} from version {before or 0} to {after}.",
                file=sys.stderr,
            )


def _code_version(store: Any) -> int:
    from ..store import migrations
    from ..store.sqlite import SQLiteStore

    steps = migrations.SQLITE if isinstance(store, SQLiteStore) else type(store).MIGRATIONS
    return migrations.latest(steps)
