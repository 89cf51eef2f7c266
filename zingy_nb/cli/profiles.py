"""``zingy-nb profiles ...``: save, list and remove profiles, team grants, and which
notebooks may read a profile.

Secrets come from prompts, stdin, environment variables or files (``sources``), never
from argv. ``allow``/``disallow`` take a notebook path resolved like a kernel's
identity (``realpath``); they are how a notebook is allowed from outside it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import Any

from ..errors import InvalidProfileError
from ..rules import SLOTS
from ..sources import from_lines, gather, ordinal, prompt
from .common import print_meta, subcommands, valid_name


def _add_sources(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--stdin",
        action="store_true",
        help="read secret1..secret4 from stdin, one per line (only line endings are "
        "stripped; a missing or empty line gives no value for that slot)",
    )
    p.add_argument(
        "--from-env",
        nargs="+",
        metavar="VAR",
        help="read slots in order from these environment variables ('-' skips a slot)",
    )
    p.add_argument(
        "--from-file",
        action="append",
        metavar="SLOT=PATH",
        help="read one slot from a file, kept exactly (multi-line values); repeatable",
    )


def add_parser(top: argparse._SubParsersAction) -> None:
    prof = subcommands(top.add_parser("profiles", help="save, list and remove profiles"))
    p = prof.add_parser("set", help="create or replace a profile (all four slots)")
    p.add_argument("name")
    _add_sources(p)
    p = prof.add_parser("update", help="change some slots; the others stay")
    p.add_argument("name")
    _add_sources(p)
    p.add_argument(
        "--clear", action="append", metavar="SLOT", help="clear an optional slot; repeatable"
    )
    p = prof.add_parser("list", help="names, slots set and times (never values)")
    p.add_argument("--json", action="store_true", help="a JSON array of objects")
    p = prof.add_parser("show", help="one profile's metadata (never its values)")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="a JSON object")
    p = prof.add_parser("rename", help="rename a profile")
    p.add_argument("old")
    p.add_argument("new")
    p = prof.add_parser("delete", help="delete a profile")
    p.add_argument("name")
    p = prof.add_parser(
        "grant", help="team store: give a database role read, write or manage access"
    )
    p.add_argument("name")
    p.add_argument("role", help="the database role (or group role) to grant to")
    p.add_argument(
        "level",
        choices=["read", "write", "manage"],
        help="read: retrieve; write: also update and delete; manage: also grant",
    )
    p = prof.add_parser("revoke", help="team store: remove a role's grant")
    p.add_argument("name")
    p.add_argument("role")
    p = prof.add_parser(
        "access", help="the notebooks allowed to read a profile (and, on a team store, grants)"
    )
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help='a JSON object {"grants", "notebooks"}')
    p = prof.add_parser("allow", help="let a notebook read a profile without being asked")
    p.add_argument("name")
    p.add_argument("notebook", help="the notebook's path (resolved to its real path)")
    p = prof.add_parser("disallow", help="remove a notebook's allowance (it is asked again)")
    p.add_argument("name")
    p.add_argument("notebook", help="the notebook's path (resolved to its real path)")
    p.add_argument(
        "--role", metavar="ROLE", help="team store: another role's allowance (needs manage)"
    )


def _values(args: Any, *, updating: bool) -> dict[str, str]:
    if args.stdin:
        if args.from_env or args.from_file:
            raise InvalidProfileError("Use --stdin or --from-env/--from-file, not both.")
        return from_lines(sys.stdin.read())
    given = gather(args.from_env, args.from_file)
    if given is not None:
        return given
    if getattr(args, "clear", None):
        return {}
    if not sys.stdin.isatty():
        raise InvalidProfileError(
            "stdin is not a terminal, so there is no one to prompt: use --stdin, "
            "--from-env VAR or --from-file SLOT=PATH."
        )
    values: dict[str, str] = {}
    for slot in SLOTS:
        entered = getpass.getpass(prompt(slot, updating=updating))
        if entered:
            values[slot] = entered
    return values


def _update(profiles: Any, args: Any) -> None:
    for i, slot in enumerate(args.clear or [], start=1):
        if slot not in SLOTS:
            raise InvalidProfileError(
                f"The {ordinal(i)} --clear argument is not a slot: use secret2, secret3 or secret4."
            )
    profiles.show(args.name)
    changes: dict[str, str | None] = dict(_values(args, updating=True))
    for slot in args.clear or []:
        if slot in changes:
            raise InvalidProfileError(f"{slot} is both given a value and cleared.")
        changes[slot] = None
    meta = profiles.update(args.name, changes)
    print(f"Updated profile {meta.name!r} ({meta.describe_slots()} set).", file=sys.stderr)


def _access(profiles: Any, args: Any) -> None:
    from .. import access
    from ..store.base import Store

    store = profiles.store
    team = type(store).grants is not Store.grants
    grants = store.grants(args.name) if team else []
    notebooks = access.allowances(profiles, args.name)
    if not notebooks:
        profiles.show(args.name)  # an unknown profile is an error, not an empty list
    if args.json:
        print(
            json.dumps(
                {
                    "grants": [g.to_json() for g in grants],
                    "notebooks": [a.to_json() for a in notebooks],
                },
                indent=2,
            )
        )
        return
    for g in grants:
        print(f"{g.role}\t{g.level}" + ("" if g.level == "owner" else f"\tby {g.granted_by}"))
    for a in notebooks:
        role = f"\t{a.role}" if a.role else ""
        unsigned = "" if a.signed else "\tunsigned: ignored (allow it again)"
        print(f"notebook\t{a.notebook}\t{a.how}\t{a.created:%Y-%m-%d %H:%M:%S} UTC{role}{unsigned}")


def _allowance(profiles: Any, args: Any) -> None:
    from .. import access
    from .through_agent import agent

    client = agent()
    if args.action == "allow":
        if client is None:
            path, new = access.allow(profiles, args.name, args.notebook, "cli")
        else:
            with client:
                path, new = client.allow(args.name, access.notebook_path(args.notebook))
        if not os.path.isfile(path):
            print(f"Note: there is no file at {path} (yet).", file=sys.stderr)
        done = "Allowed" if new else "Already allowed:"
        print(f"{done} notebook {path} to read profile {args.name!r}.", file=sys.stderr)
    else:
        if client is None:
            path, removed = access.disallow(profiles, args.name, args.notebook, args.role)
        else:
            with client:
                path, removed = client.disallow(
                    args.name, access.notebook_path(args.notebook), args.role
                )
        if removed:
            print(f"Notebook {path} is no longer allowed {args.name!r}.", file=sys.stderr)
        else:
            print(f"Notebook {path} had no allowance on {args.name!r}.", file=sys.stderr)


def _grant(profiles: Any, args: Any) -> None:
    from .through_agent import agent

    if profiles.vault.kind != "member":
        profiles.store.grant(args.name, args.role, args.level)  # the single-user error
        return
    client = agent()
    if client is None:
        profiles.store.grant(args.name, args.role, args.level)
        return
    with client:
        client.grant(args.name, args.role, args.level)


def _revoke(profiles: Any, args: Any) -> tuple[bool, bool]:
    from .through_agent import agent

    client = agent() if profiles.vault.kind == "member" else None
    if client is None:
        return profiles.store.revoke(args.name, args.role), profiles.vault.kind == "member"
    with client:
        return client.revoke(args.name, args.role)


def run(args: Any) -> None:
    from ..profiles import get_profiles

    profiles = get_profiles()
    for role, attr in (("", "name"), ("current name", "old"), ("new name", "new")):
        if getattr(args, attr, None) is not None:
            valid_name(getattr(args, attr), role)
    if args.action == "set":
        values = _values(args, updating=False)
        meta = profiles.set(args.name, *(values.get(s) for s in SLOTS))
        print(f"Saved profile {meta.name!r} ({meta.describe_slots()} set).", file=sys.stderr)
    elif args.action == "update":
        _update(profiles, args)
    elif args.action == "list":
        metas = profiles.list()
        if args.json:
            print(json.dumps([m.to_json() for m in metas], indent=2))
        else:
            for meta in metas:
                print_meta(meta)
    elif args.action == "show":
        meta = profiles.show(args.name)
        print(json.dumps(meta.to_json(), indent=2)) if args.json else print_meta(meta)
    elif args.action == "rename":
        profiles.rename(args.old, args.new)
        print(f"Renamed profile {args.old!r} to {args.new!r}.", file=sys.stderr)
    elif args.action == "delete":
        profiles.delete(args.name)
        print(f"Deleted profile {args.name!r}.", file=sys.stderr)
    elif args.action == "grant":
        _grant(profiles, args)
        print(f"Granted {args.level} on {args.name!r} to {args.role}.", file=sys.stderr)
    elif args.action == "revoke":
        revoked, member_keys = _revoke(profiles, args)
        if revoked:
            print(f"Revoked {args.role}'s access to {args.name!r}.", file=sys.stderr)
            if member_keys:
                print(
                    "Its data key was rotated; they may have kept the values they read: "
                    "rotate the secret at its provider too.",
                    file=sys.stderr,
                )
        else:
            print(f"{args.role} had no grant on {args.name!r}; nothing changed.", file=sys.stderr)
    elif args.action == "access":
        _access(profiles, args)
    else:
        _allowance(profiles, args)
