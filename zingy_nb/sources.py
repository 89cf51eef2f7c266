"""Where secret values come from when a person enters them outside the panel, and how
errors about them are worded.

Shared by the magic and the CLI: environment variables (by name), files (for
multi-line values) and stdin lines. Never the command line or the magic line. A token
typed where a variable name or a path belongs may be a pasted secret (``sk_live_...``,
``ghp_...`` look like variable names), so no error here quotes one: it names the
position instead ("the 1st --from-env variable"). ``hide`` is the last line of that
defence for messages written elsewhere.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import InvalidProfileError
from .rules import LABELS, SLOTS

SKIP = "-"
HIDDEN = "<hidden>"
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ... ``11th``, ``21st``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def from_env(names: Sequence[str]) -> dict[str, str]:
    """Slots in order from these variables; ``-`` skips a slot, an empty one is unset."""
    if len(names) > len(SLOTS):
        raise InvalidProfileError("--from-env takes at most four variables, one per slot.")
    values: dict[str, str] = {}
    for i, (slot, var) in enumerate(zip(SLOTS, names), start=1):
        if var == SKIP:
            continue
        where = f"The {ordinal(i)} --from-env variable (for {slot})"
        if not _VAR_NAME.fullmatch(var):
            raise InvalidProfileError(
                f"{where} is not an environment variable name (letters, digits and '_', "
                "not starting with a digit). Give the variable's name, not its value."
            )
        if var not in os.environ:
            raise InvalidProfileError(
                f"{where} is not set. Set it, or give '{SKIP}' to skip that slot. "
                "(Its name is not shown: a pasted secret can look like one.)"
            )
        if os.environ[var]:
            values[slot] = os.environ[var]
    return values


def from_files(specs: Iterable[str]) -> dict[str, str]:
    """``SLOT=PATH`` pairs; each file's text is kept exactly, line endings included."""
    values: dict[str, str] = {}
    for i, spec in enumerate(specs, start=1):
        slot, sep, path = spec.partition("=")
        where = f"the {ordinal(i)} --from-file argument"
        if not sep or not path:
            raise InvalidProfileError(
                f"--from-file takes SLOT=PATH ({where} is not that), for example "
                "secret2=~/.ssh/id_ed25519."
            )
        if slot not in SLOTS:
            raise InvalidProfileError(
                f"Unknown slot in {where}: use SLOT=PATH with SLOT one of {', '.join(SLOTS)}."
            )
        try:
            # Bytes first: text mode would turn CRLF into LF.
            values[slot] = Path(path).expanduser().read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            # The path is not echoed: it may be a secret typed in the wrong place.
            raise InvalidProfileError(
                f"Cannot read {slot} from the file given with --from-file "
                f"({type(exc).__name__}). Check the path and that the file is UTF-8 text."
            ) from None
    return values


def from_lines(text: str) -> dict[str, str]:
    """secret1..secret4 one per line; only each line ending is stripped.

    A missing or empty line gives no value for that slot.
    """
    # Only "\n" separates lines (splitlines would also split on \x0b, \u2028, ...).
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if len(lines) > len(SLOTS):
        raise InvalidProfileError(
            f"stdin has {len(lines)} lines; give at most four (secret1..secret4, one per "
            "line). Use --from-file SLOT=PATH for multi-line values."
        )
    return {slot: line for slot, line in zip(SLOTS, lines) if line}


def gather(env: Sequence[str] | None, files: Iterable[str] | None) -> dict[str, str] | None:
    """Values from --from-env and --from-file, or None when neither was given."""
    if not env and not files:
        return None
    values = from_env(env or [])
    values.update(from_files(files or []))
    return values


def typed_tokens(argv: Iterable[str], vocabulary: Iterable[str] = ()) -> list[str]:
    """The free-form parts of an argument list: what ``hide`` must keep out of errors.

    Words of the tool's own ``vocabulary`` (commands, options, slots) are left out; an
    ``--option=value`` or ``SLOT=PATH`` token also contributes its value part.
    """
    known = set(vocabulary) | set(SLOTS) | {SKIP}
    found: set[str] = set()
    for token in argv:
        parts = [token]
        head, sep, tail = token.partition("=")
        if sep:
            parts += [head, tail]
        found.update(p for p in parts if p and p not in known)
    return sorted(found, key=len, reverse=True)


def hide(message: str, tokens: Iterable[str]) -> str:
    """``message`` with every typed token in it replaced by ``<hidden>``.

    Long tokens (8+ characters) are hidden wherever they occur; shorter ones only as
    whole words, so hiding ``name`` does not mangle ordinary text. Tokens below 3
    characters cannot carry a secret worth the name and are left alone.
    """
    for token in tokens:
        if len(token) < 3:
            continue
        for form in (repr(token), token):
            if form not in message:
                continue
            if len(token) >= 8:
                message = message.replace(form, HIDDEN)
            else:
                pattern = rf"(?<![\w.-]){re.escape(form)}(?![\w.-])"
                message = re.sub(pattern, HIDDEN, message)
    return message


def prompt(slot: str, *, updating: bool) -> str:
    """The getpass prompt for one slot, worded alike for every slot, magic and CLI."""
    if updating:
        hint = "Enter keeps it"
    else:
        hint = "required" if slot == "secret1" else "optional, Enter leaves it unset"
    return f"{LABELS[slot]} ({hint}): "
