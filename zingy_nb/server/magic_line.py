"""The grammar of the ``%zingy_apikey`` line, and a rewrite that keeps only what it accepts.

Secrets never belong on the magic line, yet a person may type one there
(``%zingy_apikey set stripe sk_live_...``). The magic refuses such a line, but the cell
source still holds it, and a saved notebook would keep it. ``clean_source`` rewrites a
``%zingy_apikey`` line that holds a token the grammar refuses *and* that could be a
secret: the line then keeps only its command, the number of valid names that command
takes, and well-formed options; every other token is dropped, whatever it is. It needs
no stored value, so the server applies it even without a usable key.

A line the grammar fully accepts stays byte-identical, and so does a line whose refused
tokens cannot be secrets (plain words, the magic's own keywords, punctuation): a typo
such as ``show "my service"`` is the user's to fix, not the save's to rewrite. A
name-shaped token in a name position is kept: the grammar cannot tell a name from a
secret that looks like one (the value scrub catches stored values there).

Recognised forms, as IPython runs them: ``%zingy_apikey ARGS`` at any indentation,
``target = %zingy_apikey ARGS``, backslash-continued lines (joined as IPython joins
them) and the automagic form ``zingy_apikey COMMAND ...``. Core module: no IPython.
"""

from __future__ import annotations

import re
import shlex
from typing import Final

from ..flow import MODES
from ..rules import SLOTS, is_valid_name

MAGIC: Final = "zingy_apikey"
COMMANDS: Final = ("set", "update", "list", "show", "rename", "delete", "flow", "retrieve", "panel")
#: How many names (lowest, highest) each command takes; ``flow`` takes a mode.
ARITY: Final[dict[str, tuple[int, int]]] = {
    "set": (1, 1), "update": (1, 1), "list": (0, 0), "show": (1, 1), "rename": (2, 2),
    "delete": (1, 1), "flow": (0, 1), "retrieve": (1, 1), "panel": (0, 0),
}  # fmt: skip
FROM_ENV: Final = "--from-env"
FROM_FILE: Final = "--from-file"
CLEAR: Final = "--clear"
OPTIONS: Final = (FROM_ENV, FROM_FILE, CLEAR)
#: ``--from-env`` takes at most one variable per slot.
MAX_FROM_ENV: Final = len(SLOTS)
#: The slots ``--clear`` may clear (``secret1`` never is).
CLEARABLE: Final = SLOTS[1:]
#: ``--from-env`` skips a slot with this.
SKIP: Final = "-"
VAR_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)

_ESCAPED: Final = re.compile(
    r"(?P<head>[ \t]*(?:[^\s=%#'\"][^=%#'\"]*?[ \t]*=[ \t]*)?%" + MAGIC + r")"
    r"(?P<rest>[ \t].*)?",
    re.DOTALL,
)
#: Words no secret is made of: a plain word (lower case, capitalised or upper case
#: letters; lower-case words joined by "-", upper-case ones by "_"; an option name),
#: or punctuation alone (a ``#`` comment).
_PLAIN_WORD: Final = re.compile(
    r"-{0,2}[a-z]{1,20}(?:-[a-z]{1,20}){0,3}|[A-Z][a-z]{1,19}"
    r"|[A-Z]{1,20}(?:_[A-Z]{1,20}){0,3}|[^\w\s]{1,3}",
    re.ASCII,
)
_KEYWORDS: Final = frozenset((*COMMANDS, *OPTIONS, *SLOTS, *MODES, SKIP))
_AUTOMAGIC: Final = re.compile(
    r"(?P<head>[ \t]*" + MAGIC + r")(?P<rest>[ \t]+(?P<command>\S+).*)", re.DOTALL
)


def is_var(token: str) -> bool:
    """A ``--from-env`` argument: an environment variable name, or ``-``."""
    return token == SKIP or VAR_NAME.fullmatch(token) is not None


def is_file_spec(token: str) -> bool:
    """A ``--from-file`` argument: ``SLOT=PATH`` with a slot name and a path."""
    slot, sep, path = token.partition("=")
    return slot in SLOTS and bool(sep) and bool(path)


def is_clearable(token: str) -> bool:
    """A ``--clear`` argument: ``secret2`` .. ``secret4``."""
    return token in CLEARABLE


def is_name(command: str, token: str) -> bool:
    """A token the command accepts in a name position (a mode for ``flow``)."""
    if command == "flow":
        return token in MODES
    return is_valid_name(token)


def _option_like(token: str) -> bool:
    return token.startswith("-") and token != SKIP


def clean_arguments(tokens: list[str]) -> list[str]:
    """The tokens the grammar accepts, in their order; every other one is dropped.

    The first positional token is the command (dropped, with every name after it, when
    it is not one); then at most the command's number of valid names. Options need a
    valid argument each, or are dropped with it.
    """
    kept: list[str] = []
    command: str | None = None
    names = 0
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if _option_like(token):
            option, eq, value = token.partition("=")
            if option == FROM_ENV and not eq:
                given: list[str] = []
                while i < len(tokens) and not _option_like(tokens[i]):
                    given.append(tokens[i])
                    i += 1
                good = [v for v in given if is_var(v)][:MAX_FROM_ENV]
                if good:
                    kept += [option, *good]
                continue
            check = {FROM_ENV: is_var, FROM_FILE: is_file_spec, CLEAR: is_clearable}.get(option)
            if check is None:
                continue  # unknown option
            if eq:
                if check(value):
                    kept.append(token)
            elif i < len(tokens) and not _option_like(tokens[i]):
                value = tokens[i]
                i += 1
                if check(value):
                    kept += [option, value]
            continue
        if command is None:
            command = token if token in COMMANDS else ""
            if command:
                kept.append(token)
            continue
        if command and names < ARITY[command][1] and is_name(command, token):
            kept.append(token)
            names += 1
    return kept


def may_be_secret(token: str) -> bool:
    """Whether a refused token could hold a secret: any part of it (split at spaces and
    ``=``) that is neither one of the magic's keywords nor a plain word."""
    parts = (p for word in token.split() for p in word.split("="))
    return any(p and p not in _KEYWORDS and not _PLAIN_WORD.fullmatch(p) for p in parts)


def _dropped(tokens: list[str], kept: list[str]) -> list[str]:
    """The tokens of ``tokens`` missing from ``kept`` (which is a subsequence of it)."""
    rest = iter(kept)
    dropped: list[str] = []
    want = next(rest, None)
    for token in tokens:
        if token == want:
            want = next(rest, None)
        else:
            dropped.append(token)
    return dropped


def clean_line(line: str) -> str:
    """One logical line (no line ending) with its ``%zingy_apikey`` arguments cleaned.

    Any other line, a magic line the grammar fully accepts, and one whose refused
    tokens cannot be secrets (``may_be_secret``) is returned as is.
    """
    match = _ESCAPED.fullmatch(line)
    if match is None:
        match = _AUTOMAGIC.fullmatch(line)
        if match is None or match.group("command") not in COMMANDS:
            return line
    head, rest = match.group("head"), match.group("rest") or ""
    try:
        tokens = shlex.split(rest)
    except ValueError:  # e.g. an unclosed quote: nothing but a valid command is kept
        words = [w.strip("'\"") for w in rest.split()]
        if not any(may_be_secret(w) for w in words):
            return line
        return " ".join([head, *[w for w in rest.split(None, 1)[:1] if w in COMMANDS]])
    kept = clean_arguments(tokens)
    if kept == tokens or not any(may_be_secret(t) for t in _dropped(tokens, kept)):
        return line
    return " ".join([head, *(shlex.quote(t) for t in kept)])


def _logical_lines(source: str) -> list[list[str]]:
    """Physical lines (with endings) grouped as IPython continues them (``\\`` + LF)."""
    groups: list[list[str]] = []
    current: list[str] = []
    for physical in source.splitlines(keepends=True):
        current.append(physical)
        if not physical.endswith("\\\n"):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def _joined(parts: list[str]) -> tuple[str, str]:
    """The logical line IPython sees for continued ``parts``, and the last line ending."""
    last = parts[-1]
    tail = last.splitlines()[0] if last else ""
    ending = last[len(tail) :]
    if len(parts) == 1:
        return tail, ending
    return " ".join([*(p.rstrip()[:-1] for p in parts[:-1]), tail.rstrip()]), ending


def clean_source(source: str) -> tuple[str, int]:
    """``source`` with every ``%zingy_apikey`` line cleaned, and how many lines changed.

    Lines the grammar accepts, and every other line, stay byte-identical; a changed
    backslash-continued line becomes one line.
    """
    if MAGIC not in source:
        return source, 0
    out: list[str] = []
    changed = 0
    for parts in _logical_lines(source):
        line, ending = _joined(parts)
        if MAGIC not in line:
            out += parts
            continue
        cleaned = clean_line(line)
        if cleaned == line:
            out += parts
        else:
            out.append(cleaned + ending)
            changed += 1
    return "".join(out), changed
