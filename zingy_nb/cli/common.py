"""What every command group shares: the parser that never quotes what it did not
understand, argument checks that name a position instead of echoing a token, and the
run's typed arguments that error messages must hide."""

from __future__ import annotations

import argparse
import re
from typing import NoReturn

from .. import redact
from ..errors import InvalidProfileError, ProfileExistsError, ProfileNotFoundError, ZingyError
from ..rules import NAME_RULE, ProfileMeta, validate_name
from ..sources import hide

NOT_FOUND = "No profile with that name; `zingy-nb profiles list` shows them."
#: The arguments of this run, free-form ones only (set by ``main``): what errors hide.
typed: list[str] = []
#: argparse messages that quote what was typed, and what is kept of each.
_QUOTING = (
    (re.compile(r"^unrecognized arguments: .*", re.S), "unrecognized arguments"),
    (re.compile(r"invalid choice: .* (\(choose from [^()]*\))$", re.S), r"invalid choice \1"),
    (re.compile(r"^ambiguous option: .* (could match [^=]*)$", re.S), r"ambiguous option (\1)"),
    (re.compile(r"ignored explicit argument .*", re.S), "takes no value"),
)


class Parser(argparse.ArgumentParser):
    """Never quotes what it did not understand: it may be a secret typed on argv."""

    def error(self, message: str) -> NoReturn:
        for pattern, kept in _QUOTING:
            message = pattern.sub(kept, message)
        self.exit(
            2,
            f"{self.prog}: error: {hide(message, typed)} (secrets never go on the command "
            "line: use --stdin, --from-env VAR or --from-file SLOT=PATH; see --help)\n",
        )


def subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return parser.add_subparsers(dest="action", required=True, parser_class=Parser)


def vocabulary(parser: argparse.ArgumentParser) -> set[str]:
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


def valid_name(name: str, role: str = "") -> str:
    """``name`` if valid; the error names the argument's role, never its text."""
    try:
        return validate_name(name)
    except InvalidProfileError:
        which = f" (the {role})" if role else ""
        raise InvalidProfileError(f"Invalid profile name{which}: use {NAME_RULE}.") from None


def print_meta(meta: ProfileMeta) -> None:
    line = f"{meta.name}\t{meta.describe_slots()}\tupdated {meta.updated:%Y-%m-%d %H:%M:%S} UTC"
    note = redact.short_note(meta.unredacted_slots)
    print(f"{line}\t{note}" if note else line)


def explain(exc: ZingyError) -> str:
    """An error's message without any argument of this run in it."""
    if isinstance(exc, ProfileNotFoundError):
        return NOT_FOUND
    if isinstance(exc, ProfileExistsError):
        return "Another profile already has the new name: delete it first or choose another."
    return hide(str(exc), [t for t in typed if t not in exc.shown])
