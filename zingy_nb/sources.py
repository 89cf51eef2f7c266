"""Where secret values come from when a person enters them outside the panel.

Shared by the magic and the CLI: environment variables (by name), files (for
multi-line values) and stdin lines. Never the command line or the magic line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import InvalidProfileError
from .rules import SLOTS, validate_slot

SKIP = "-"
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def from_env(names: Sequence[str]) -> dict[str, str]:
    """Slots in order from these variables; ``-`` skips a slot, an empty one is unset."""
    if len(names) > len(SLOTS):
        raise InvalidProfileError("--from-env takes at most four variables, one per slot.")
    values: dict[str, str] = {}
    for slot, var in zip(SLOTS, names):
        if var == SKIP:
            continue
        if not _VAR_NAME.fullmatch(var):
            # It may be a secret typed in the wrong place: never echo it.
            raise InvalidProfileError(
                f"The --from-env argument for {slot} is not an environment variable name "
                "(letters, digits and '_', not starting with a digit). Give the variable's "
                "name, not its value."
            )
        if var not in os.environ:
            raise InvalidProfileError(
                f"Environment variable {var} (for {slot}) is not set. Set it, or give "
                f"'{SKIP}' to skip that slot."
            )
        if os.environ[var]:
            values[slot] = os.environ[var]
    return values


def from_files(specs: Iterable[str]) -> dict[str, str]:
    """``SLOT=PATH`` pairs; each file's text is kept exactly, line endings included."""
    values: dict[str, str] = {}
    for spec in specs:
        slot, sep, path = spec.partition("=")
        if not sep or not path:
            raise InvalidProfileError(
                "--from-file takes SLOT=PATH, for example secret2=~/.ssh/id_ed25519."
            )
        validate_slot(slot)
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
