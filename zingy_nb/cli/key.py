"""``zingy-nb key status|rotate|export|import``: the store's master key (on a team
store, ``status`` and ``protect`` are about the member's own key).

Export and import widen access (a key opens every profile): on Linux the agent does
them, and refuses a kernel or a process it started (``through_agent``)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from . import custody
from .common import subcommands

#: A master-key store: opened here, or (locked) through the agent, which holds its key.
MASTER = ("master", "agent")


def add_parser(top: argparse._SubParsersAction) -> None:
    key = subcommands(top.add_parser("key", help="the store's master key"))
    p = key.add_parser("status", help="where the key lives and whether it opens the store")
    p.add_argument("--json", action="store_true")
    p = key.add_parser("rotate", help="re-encrypt every profile under a new key")
    p.add_argument(
        "--stdin", action="store_true",
        help="a locked key: read its passphrase (which locks the new key) from stdin",
    )  # fmt: skip
    p = key.add_parser("export", help="print the key for a backup (keep it secret)")
    p.add_argument("--output", metavar="FILE", help="write it to FILE (mode 0600) instead")
    p = key.add_parser("import", help="install a key from `key export` for this store")
    p.add_argument("--input", metavar="FILE", help="read it from FILE instead of stdin")
    custody.add_protect(key)


def run(args: Any) -> None:
    from ..profiles import get_profiles
    from ..vault import write_private

    if args.action == "protect":
        custody.run_protect(args)
        return
    profiles = get_profiles()
    if args.action == "status":
        status = _status(profiles)
        if args.json:
            print(json.dumps(status.to_json(), indent=2))
        else:
            print(
                f"store:        {status.store}"
                + ("" if status.store_exists else " (not created yet)")
            )
            print(f"profiles:     {status.profiles}")
            print(f"key source:   {status.key_source}")
            print(f"key location: {status.key_location}")
            print(f"key id:       {status.key_id or '-'}")
            print(f"state:        {status.problem or 'ok'}")
        if status.problem:
            raise SystemExit(1)
    elif args.action == "rotate":
        key_id = profiles.rotate_key(_rotation_passphrase(profiles, args.stdin))
        print(f"Rotated: every profile is now encrypted under key {key_id}.", file=sys.stderr)
        print(
            "Export the new key again (`zingy-nb key export`): old backups no longer work.",
            file=sys.stderr,
        )
    elif args.action == "export":
        text = _export(profiles)
        print(
            "Warning: this key decrypts every profile in the store. Keep it somewhere "
            "as safe as the secrets themselves.",
            file=sys.stderr,
        )
        if args.output:
            write_private(args.output, text + "\n")
            print(f"Key written to {args.output} (mode 0600).", file=sys.stderr)
        else:
            print(text)
    elif args.action == "import":
        if args.input:
            with open(args.input, encoding="ascii") as fh:
                text = fh.read()
        elif sys.stdin.isatty():
            text = getpass.getpass("Master key (from `zingy-nb key export`): ")
        else:
            text = sys.stdin.read()
        print(f"Key imported into {_import(profiles, text)}.", file=sys.stderr)


def _rotation_passphrase(profiles: Any, stdin: bool) -> str | None:
    """A locked key's passphrase (the new key is locked with it), or None: not locked."""
    from ..vault import is_locked

    if profiles.vault.kind not in MASTER or not is_locked(profiles.home):
        return None
    return custody.read_passphrase(stdin, new=False)


def _status(profiles: Any) -> Any:
    """In-process, or the agent's where it holds the key (locked custody). On a team
    store with member keys: the member's own key (its custody and fingerprint)."""
    from ..vault import KeyStatus, is_locked

    if getattr(profiles.store, "member_keys", False):
        return profiles.store_status()
    if profiles.vault.kind not in MASTER or not is_locked(profiles.home):
        return profiles.key_status()
    from .through_agent import agent

    client = agent()
    if client is None:
        return profiles.key_status()
    with client:
        return KeyStatus(**client.key_status(None))


def _export(profiles: Any) -> str:
    from .through_agent import agent

    if profiles.vault.kind not in MASTER:
        return str(profiles.export_key())  # the team store's "no master key" error
    client = agent()
    if client is None:
        return str(profiles.export_key())
    with client:
        return client.export_key()


def _import(profiles: Any, text: str) -> str:
    from .through_agent import agent

    client = agent() if profiles.vault.kind in MASTER else None
    if client is None:
        return str(profiles.import_key(text).where)
    with client:
        return client.import_key(text)
