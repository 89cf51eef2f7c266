"""The ``zingy-nb`` command: profiles, the master key and kernelspecs from a shell.

Secrets are read from prompts, stdin, environment variables or files, never from argv
(``ps`` and shell history show argv). Exit status 0 on success, 1 on an error, 2 on a
usage error, with a one-line message on stderr that never quotes an argument: a secret
pasted in the wrong place looks like a name, a variable or a path, so errors name the
position or the option instead.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from . import redact
from .errors import InvalidProfileError, ProfileExistsError, ProfileNotFoundError, ZingyError
from .rules import NAME_RULE, SLOTS, ProfileMeta, utc_minutes, validate_name
from .sources import from_lines, gather, hide, ordinal, typed_tokens

_LABEL = {"secret1": "Secret", "secret2": "Secret2", "secret3": "Secret3", "secret4": "Secret4"}
NOT_FOUND = "No profile with that name; `zingy-nb profiles list` shows them."
#: The arguments of this run, free-form ones only (set by ``main``): what errors hide.
_typed: list[str] = []
#: argparse messages that quote what was typed, and what is kept of each.
_QUOTING = (
    (re.compile(r"^unrecognized arguments: .*", re.S), "unrecognized arguments"),
    (re.compile(r"invalid choice: .* (\(choose from [^()]*\))$", re.S), r"invalid choice \1"),
    (re.compile(r"^ambiguous option: .* (could match [^=]*)$", re.S), r"ambiguous option (\1)"),
    (re.compile(r"ignored explicit argument .*", re.S), "takes no value"),
)


class _Parser(argparse.ArgumentParser):
    """Never quotes what it did not understand: it may be a secret typed on argv."""

    def error(self, message: str) -> NoReturn:
        for pattern, kept in _QUOTING:
            message = pattern.sub(kept, message)
        self.exit(
            2,
            f"{self.prog}: error: {hide(message, _typed)} (secrets never go on the command "
            "line: use --stdin, --from-env VAR or --from-file SLOT=PATH; see --help)\n",
        )


def _vocabulary(parser: argparse.ArgumentParser) -> set[str]:
    """Every word the parser itself knows: options, subcommands and choices."""
    words: set[str] = set()
    parsers = [parser]
    while parsers:
        for action in parsers.pop()._actions:
            words.update(action.option_strings)
            words.update(str(c) for c in action.choices or ())
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
    return words


def _valid_name(name: str, role: str = "") -> str:
    """``name`` if valid; the error names the argument's role, never its text."""
    try:
        return validate_name(name)
    except InvalidProfileError:
        which = f" (the {role})" if role else ""
        raise InvalidProfileError(f"Invalid profile name{which}: use {NAME_RULE}.") from None


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="zingy-nb", description="Zingy API Key profiles for Jupyter.")
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"zingy-nb {__version__}")
    top = parser.add_subparsers(dest="area", required=True, parser_class=_Parser)

    prof = top.add_parser("profiles", help="save, list and remove profiles").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
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
    p = prof.add_parser("access", help="team store: a profile's owner and grants")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="a JSON array of objects")

    key = top.add_parser("key", help="the store's master key").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    p = key.add_parser("status", help="where the key lives and whether it opens the store")
    p.add_argument("--json", action="store_true")
    key.add_parser("rotate", help="re-encrypt every profile under a new key")
    p = key.add_parser("export", help="print the key for a backup (keep it secret)")
    p.add_argument("--output", metavar="FILE", help="write it to FILE (mode 0600) instead")
    p = key.add_parser("import", help="install a key from `key export` for this store")
    p.add_argument("--input", metavar="FILE", help="read it from FILE instead of stdin")

    store = top.add_parser("store", help="the store's schema version").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    store.add_parser("version", help="the store's schema version and this code's")
    store.add_parser(
        "upgrade",
        help="create or migrate the schema (a team store: run it as the database's owner)",
    )

    p = top.add_parser("audit", help="retrievals and refusals recorded in the store")
    p.add_argument("--profile", metavar="NAME", help="only this profile")
    p.add_argument("--json", action="store_true", help="a JSON array of objects")

    kern = top.add_parser("kernels", help="the cloud-flow and page-flow kernelspecs")
    kern_actions = kern.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = kern_actions.add_parser("install", help="install both kernelspecs")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="into the user's Jupyter dir")
    where.add_argument("--sys-prefix", action="store_true", help="into sys.prefix (default)")
    where.add_argument("--prefix", metavar="DIR", help="into DIR/share/jupyter/kernels")
    p = kern_actions.add_parser("uninstall", help="remove both kernelspecs")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="from the user's Jupyter dir")
    where.add_argument("--sys-prefix", action="store_true", help="from sys.prefix (default)")
    where.add_argument("--prefix", metavar="DIR", help="from DIR/share/jupyter/kernels")
    return parser


def _print_meta(meta: ProfileMeta) -> None:
    line = f"{meta.name}\t{meta.describe_slots()}\tupdated {utc_minutes(meta.updated)}"
    note = redact.short_note(meta.unredacted_slots)
    print(f"{line}\t{note}" if note else line)


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
        hint = (
            "(Enter keeps it)"
            if updating
            else ("(required)" if slot == "secret1" else "(Enter leaves it unset)")
        )
        entered = getpass.getpass(f"{_LABEL[slot]} {hint}: ")
        if entered:
            values[slot] = entered
    return values


def _profiles_cmd(args: Any) -> None:
    from .profiles import get_profiles

    profiles = get_profiles()
    for role, attr in (("", "name"), ("current name", "old"), ("new name", "new")):
        if getattr(args, attr, None) is not None:
            _valid_name(getattr(args, attr), role)
    if args.action == "set":
        values = _values(args, updating=False)
        meta = profiles.set(args.name, *(values.get(s) for s in SLOTS))
        print(f"Saved profile {meta.name!r} ({meta.describe_slots()} set).", file=sys.stderr)
    elif args.action == "update":
        for i, slot in enumerate(args.clear or [], start=1):
            if slot not in SLOTS:
                raise InvalidProfileError(
                    f"The {ordinal(i)} --clear argument is not a slot: use secret2, secret3 "
                    "or secret4."
                )
        profiles.show(args.name)
        changes: dict[str, str | None] = dict(_values(args, updating=True))
        for slot in args.clear or []:
            if slot in changes:
                raise InvalidProfileError(f"{slot} is both given a value and cleared.")
            changes[slot] = None
        meta = profiles.update(args.name, changes)
        print(f"Updated profile {meta.name!r} ({meta.describe_slots()} set).", file=sys.stderr)
    elif args.action == "list":
        metas = profiles.list()
        if args.json:
            print(json.dumps([m.to_json() for m in metas], indent=2))
        else:
            for meta in metas:
                _print_meta(meta)
    elif args.action == "show":
        meta = profiles.show(args.name)
        print(json.dumps(meta.to_json(), indent=2)) if args.json else _print_meta(meta)
    elif args.action == "rename":
        profiles.rename(args.old, args.new)
        print(f"Renamed profile {args.old!r} to {args.new!r}.", file=sys.stderr)
    elif args.action == "delete":
        profiles.delete(args.name)
        print(f"Deleted profile {args.name!r}.", file=sys.stderr)
    elif args.action == "grant":
        profiles.store.grant(args.name, args.role, args.level)
        print(f"Granted {args.level} on {args.name!r} to {args.role}.", file=sys.stderr)
    elif args.action == "revoke":
        if profiles.store.revoke(args.name, args.role):
            print(f"Revoked {args.role}'s access to {args.name!r}.", file=sys.stderr)
        else:
            print(f"{args.role} had no grant on {args.name!r}; nothing changed.", file=sys.stderr)
    elif args.action == "access":
        grants = profiles.store.grants(args.name)
        if args.json:
            print(json.dumps([g.to_json() for g in grants], indent=2))
        else:
            for g in grants:
                print(
                    f"{g.role}\t{g.level}" + ("" if g.level == "owner" else f"\tby {g.granted_by}")
                )


def _key_cmd(args: Any) -> None:
    from .keys import write_private
    from .profiles import get_profiles

    profiles = get_profiles()
    if args.action == "status":
        status = profiles.key_status()
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
        key_id = profiles.rotate_key()
        print(f"Rotated: every profile is now encrypted under key {key_id}.", file=sys.stderr)
        print(
            "Export the new key again (`zingy-nb key export`): old backups no longer work.",
            file=sys.stderr,
        )
    elif args.action == "export":
        text = profiles.export_key()
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
        saved = profiles.import_key(text)
        print(f"Key imported into {saved.where}.", file=sys.stderr)


def _store_cmd(args: Any) -> None:
    from .profiles import get_profiles

    store = get_profiles().store
    if args.action == "version":
        found = store.schema_version()
        print(f"store:        {store.location}")
        print(f"schema:       {found if found is not None else '- (no store yet)'}")
        print(f"this zingy-nb: {_code_version(store)}")
    else:
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
    from .store import migrations
    from .store.sqlite import SQLiteStore

    steps = migrations.SQLITE if isinstance(store, SQLiteStore) else migrations.POSTGRES
    return migrations.latest(steps)


def _audit_cmd(args: Any) -> None:
    from .profiles import get_profiles

    if args.profile is not None:
        _valid_name(args.profile, "--profile name")
    entries = get_profiles().store.audit(args.profile)
    if args.json:
        print(json.dumps([e.to_json() for e in entries], indent=2))
        return
    for e in entries:
        where = e.notebook or (f"kernel {e.kernel_id}" if e.kernel_id else e.process)
        print(
            f"{utc_minutes(e.last)}\t{e.profile}\t{e.outcome}\t{e.flow}\tx{e.count}\t{where}"
        )


def _kernels_cmd(args: Any) -> None:
    from .kernels import install, uninstall

    if args.action == "install":
        for path in install(user=args.user, prefix=args.prefix):
            print(f"Installed kernelspec in {path}", file=sys.stderr)
    else:
        for path in uninstall(user=args.user, prefix=args.prefix):
            print(f"Removed kernelspec {path}", file=sys.stderr)


def _explain(exc: ZingyError) -> str:
    """An error's message without any argument of this run in it."""
    if isinstance(exc, ProfileNotFoundError):
        return NOT_FOUND
    if isinstance(exc, ProfileExistsError):
        return "Another profile already has the new name: delete it first or choose another."
    return hide(str(exc), _typed)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    _typed[:] = typed_tokens(given, _vocabulary(parser))
    args = parser.parse_args(given)
    try:
        commands = {
            "profiles": _profiles_cmd,
            "key": _key_cmd,
            "audit": _audit_cmd,
            "store": _store_cmd,
            "kernels": _kernels_cmd,
        }
        commands[args.area](args)
    except ZingyError as exc:
        print(f"zingy-nb: error: {_explain(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file or folder given with --output, --input or --prefix
        print(
            f"zingy-nb: error: {exc.strerror or type(exc).__name__}: check the file or folder "
            "given on the command line and its permissions (its path is not shown).",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("zingy-nb: cancelled; nothing was changed.", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, never a traceback that could quote an argument
        text = " ".join(f"{type(exc).__name__}: {exc}".split())
        print(f"zingy-nb: error: unexpected {hide(text, _typed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
