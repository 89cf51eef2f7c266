"""``%zingy_apikey``: manage API Key profiles from a notebook.

Secrets never travel on the magic line (IPython records it in history before the magic
runs): they come from getpass prompts, environment variables or files. A line that
fails, for whatever reason, is removed from history (it may hold a secret typed in the
wrong place), and no error quotes what was typed on it: a pasted ``sk_live_...`` looks
like a variable name or a profile name, so errors name positions instead.
"""

from __future__ import annotations

import getpass
import textwrap
from typing import TYPE_CHECKING, Any

from IPython.core.error import StdinNotImplementedError, UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.utils.process import arg_split

from .. import flow, redact
from ..errors import InvalidProfileError, ProfileExistsError, ProfileNotFoundError, ZingyError
from ..rules import NAME_RULE, SLOTS, ProfileMeta, utc_minutes, validate_name
from ..sources import gather, hide, ordinal, prompt, typed_tokens
from .conn import KeyInfo, zingyConn
from .history import forget_input

if TYPE_CHECKING:
    from ..profiles import Profiles

COMMANDS = ("set", "update", "list", "show", "rename", "delete", "flow", "retrieve", "panel")
_ARITY = {
    "set": 1, "update": 1, "list": 0, "show": 1, "rename": 2,
    "delete": 1, "flow": (0, 1), "retrieve": 1, "panel": 0,
}  # fmt: skip
#: What each name argument is called in an error (never its value).
_NAME_ROLES = {
    "set": ("",), "update": ("",), "show": ("",), "delete": ("",), "retrieve": ("",),
    "rename": (" (the current name)", " (the new name)"),
}  # fmt: skip
_OPTIONS = ("--from-env", "--from-file", "--clear")
NOT_FOUND = "No profile with that name; %zingy_apikey list shows them."
_SECRETS_ADVICE = (
    "Secrets never go on the magic line: leave them out to be prompted, or use "
    "--from-env VAR or --from-file SLOT=PATH. See %zingy_apikey? for help."
)


class _Refused(UsageError):
    """A line that may hold a secret typed in the wrong place (never leaves the magic)."""


def get_profiles() -> Profiles:
    """The process's store, imported on first use so loading the magic stays cheap."""
    from ..profiles import get_profiles as shared

    return shared()


def _remember(values: dict[str, str | None]) -> None:
    """Say so when a saved value is too short to be redacted (``Profiles`` registered
    the values it wrote)."""
    note = redact.short_note(s for s, v in values.items() if redact.too_short(v))
    if note:
        print(f"Note: {note}")


def help_text(doc: str) -> str:
    """The magic's help as plain text: ``magic_arguments`` starts the docstring with a
    reST ``::`` literal-block marker, which means nothing when printed."""
    head, sep, rest = doc.partition("::\n\n")
    if head.strip() or not sep:
        return doc
    usage, _, body = rest.partition("\n\n")
    return f"{textwrap.dedent(usage)}\n\n{body}"


def _format_meta(meta: ProfileMeta) -> str:
    text = (
        f"{meta.name}: {meta.describe_slots()} set; "
        f"created {utc_minutes(meta.created)}, updated {utc_minutes(meta.updated)}"
    )
    note = redact.short_note(meta.unredacted_slots)
    return f"{text}. {note}" if note else text


def _tokens(line: str) -> list[str]:
    """Every free-form token of ``line``, however it was quoted."""
    words = line.split()
    for strict in (True, False):
        try:
            words += arg_split(line, strict=strict)
        except ValueError:
            pass
    words += [w.strip("'\"") for w in words]
    return typed_tokens(words, (*COMMANDS, *_OPTIONS, *flow.MODES))


def _explain(exc: BaseException, line: str) -> str:
    """The message for a failed line: never a token typed on it."""
    if isinstance(exc, UsageError):
        text = str(exc)  # written here, from no token of the line
    elif isinstance(exc, ProfileNotFoundError):
        text = NOT_FOUND
    elif isinstance(exc, ProfileExistsError):
        text = "Another profile already has the new name: delete it first or choose another."
    elif isinstance(exc, KeyboardInterrupt):
        text = "Cancelled; nothing was saved."
    elif isinstance(exc, ZingyError):
        text = hide(str(exc), _tokens(line))
    else:
        text = hide(f"%zingy_apikey stopped on an unexpected {type(exc).__name__}: {exc}",
                    _tokens(line))  # fmt: skip
    if isinstance(exc, _Refused):
        why = f"This line was removed from history, since it may hold a secret. {_SECRETS_ADVICE}"
    else:
        why = "This line was removed from history, as every failing %zingy_apikey line is."
    return f"{text} {why}"


@magics_class
class ZingyMagics(Magics):
    """The ``%zingy_apikey`` line magic."""

    @magic_arguments()
    @argument(
        "command",
        nargs="?",
        help=f"one of: {', '.join(COMMANDS)}",
    )
    @argument("names", nargs="*", help="profile name(s); a flow mode for `flow`")
    @argument(
        "--from-env",
        nargs="+",
        metavar="VAR",
        help="set/update: read secret1, secret2, ... in order from these environment "
        "variables ('-' skips a slot)",
    )
    @argument(
        "--from-file",
        action="append",
        metavar="SLOT=PATH",
        help="set/update: read one slot from a file, kept exactly (multi-line values such "
        "as SSH keys); repeatable",
    )
    @argument(
        "--clear",
        action="append",
        metavar="SLOT",
        help="update: clear an optional slot (secret2..secret4); repeatable",
    )
    @line_magic
    def zingy_apikey(self, line: str = "") -> Any:
        """Manage Zingy API Key profiles (secret1 required, secret2..secret4 optional).

        Commands:
          %zingy_apikey set NAME        save a profile, prompting for each slot
                                        (Enter skips an optional slot)
          %zingy_apikey update NAME     change some slots; the others stay
          %zingy_apikey list            names and which slots are set
          %zingy_apikey show NAME       one profile's metadata (never its values)
          %zingy_apikey rename OLD NEW
          %zingy_apikey delete NAME
          %zingy_apikey flow [MODE]     show this kernel's flow mode, or flag an
                                        unflagged kernel once (cloud-flow|page-flow)
          %zingy_apikey retrieve NAME   the profile's KeyInfo (cloud-flow kernels only)
          %zingy_apikey panel           a panel to enter, list and delete profiles
                                        (values are never shown)

        Secrets never go on the magic line (IPython keeps every line in its history):
        use the prompts, --from-env VAR [VAR ...] or --from-file SLOT=PATH. A line that
        fails is removed from history, and no error quotes what was typed on it.

        In code, use ``zingyConn.apikey(NAME)`` as in a Zingy Cloud Flow. Its errors
        show your own code's frames and the message; to see zingy-nb's frames as well,
        run %env ZINGY_NB_TRACEBACK=full (and %env ZINGY_NB_TRACEBACK= to hide them).
        """
        try:
            return self._run(line)
        except (Exception, KeyboardInterrupt) as exc:
            # Whatever failed, the line may hold a secret typed in the wrong place.
            forget_input(self.shell)
            raise UsageError(_explain(exc, line)) from None

    def _run(self, line: str) -> Any:
        try:
            args = parse_argstring(self.zingy_apikey, line)
        except (UsageError, ValueError):  # ValueError: shlex, e.g. an unclosed quote
            # argparse's message may quote the offending text: never show it.
            raise _Refused("%zingy_apikey did not understand this line.") from None
        if not args.command:
            print(help_text(self.zingy_apikey.__doc__ or ""))
            return None
        if args.command not in COMMANDS:
            raise _Refused(
                f"%zingy_apikey has no such command (the commands are {', '.join(COMMANDS)})."
            )
        arity = _ARITY[args.command]
        lo, hi = arity if isinstance(arity, tuple) else (arity, arity)
        if len(args.names) > hi:
            spaces = " (a profile name cannot hold spaces)" if hi else ""
            raise _Refused(f"'%zingy_apikey {args.command}' got extra arguments{spaces}.")
        if len(args.names) < lo:
            raise UsageError(
                f"'%zingy_apikey {args.command}' needs {lo} name(s). See %zingy_apikey?"
            )
        writes = args.command in ("set", "update")
        if not writes and (args.from_env or args.from_file):
            raise _Refused("--from-env and --from-file go with set and update only.")
        if args.clear and args.command != "update":
            raise _Refused("--clear goes with update only.")
        for role, name in zip(_NAME_ROLES.get(args.command, ()), args.names):
            try:
                validate_name(name)
            except InvalidProfileError:
                raise _Refused(f"Invalid profile name{role}: use {NAME_RULE}.") from None
        for i, slot in enumerate(args.clear or [], start=1):
            if slot not in SLOTS:
                raise _Refused(
                    f"The {ordinal(i)} --clear argument is not a slot: use secret2, secret3 "
                    "or secret4."
                )
        if args.command == "flow" and args.names and args.names[0] not in flow.MODES:
            raise _Refused(f"That is not a flow mode: use {' or '.join(flow.MODES)}.")
        return getattr(self, f"_do_{args.command}")(args)

    # -- commands ---------------------------------------------------------------------
    def _gather(self, args: Any, *, updating: bool) -> dict[str, str | None]:
        """Slot values from --from-env / --from-file, else from getpass prompts.

        Each value is registered with the redactor at once, so no later message (even
        an unexpected error's) can carry it out.
        """
        try:
            given = gather(args.from_env, args.from_file)
        except ZingyError as exc:
            # A value typed where a variable name or path belongs is on this line.
            raise _Refused(str(exc)) from None
        if given is not None:
            redact.redactor.register_all(given.values())
            return dict(given)
        values: dict[str, str | None] = {}
        for slot in SLOTS:
            required = slot == "secret1" and not updating
            asked = prompt(slot, updating=updating)
            try:
                entered = getpass.getpass(asked)
            except StdinNotImplementedError:
                raise UsageError(
                    "This kernel cannot prompt (no stdin, as under nbval or nbclient). "
                    "Use --from-env VAR or --from-file SLOT=PATH instead."
                ) from None
            entered = entered.rstrip("\r\n")
            if entered:
                redact.redactor.register(entered)
                values[slot] = entered
            elif required:
                raise UsageError("Secret (secret1) is required; nothing was saved.")
        return values

    def _do_set(self, args: Any) -> None:
        name = validate_name(args.names[0])
        values = self._gather(args, updating=False)
        meta = get_profiles().set(name, *(values.get(s) for s in SLOTS))
        print(f"Saved profile {name!r} ({meta.describe_slots()} set).")
        _remember(values)

    def _do_update(self, args: Any) -> None:
        name = get_profiles().show(args.names[0]).name  # fail before any prompt
        changes: dict[str, str | None] = {}
        for slot in args.clear or []:
            changes[slot] = None
        if not (args.clear and not (args.from_env or args.from_file)):
            changes.update(self._gather(args, updating=True))
        if not changes:
            raise UsageError(
                "Nothing to update: give a new value for at least one slot, or --clear SLOT."
            )
        meta = get_profiles().update(name, changes)
        print(f"Updated profile {name!r} ({meta.describe_slots()} set).")
        _remember(changes)

    def _do_list(self, args: Any) -> None:
        metas = get_profiles().list()
        if not metas:
            print("No API Key profiles yet. Add one with %zingy_apikey set NAME.")
            return
        for meta in metas:
            print(_format_meta(meta))

    def _do_show(self, args: Any) -> None:
        print(_format_meta(get_profiles().show(args.names[0])))

    def _do_rename(self, args: Any) -> None:
        old, new = args.names
        get_profiles().rename(old, new)
        print(f"Renamed profile {old!r} to {new!r}.")

    def _do_delete(self, args: Any) -> None:
        (name,) = args.names
        get_profiles().delete(name)
        print(f"Deleted profile {name!r}.")

    def _do_flow(self, args: Any) -> None:
        if args.names:
            flow.flag(args.names[0])
        print(f"Flow mode: {flow.describe()}")

    def _do_panel(self, args: Any) -> Any:
        from .panel import show_panel  # ipywidgets loads only here

        return show_panel()

    def _do_retrieve(self, args: Any) -> KeyInfo:
        return zingyConn.apikey(args.names[0])


def complete_names(shell: Any, event: Any) -> list[str]:
    """Tab completion: commands first, then profile names."""
    words = event.line.split()
    if len(words) <= 1 or (len(words) == 2 and not event.line.endswith(" ")):
        return list(COMMANDS)
    if words[1] == "flow":
        return list(flow.MODES)
    try:
        return [m.name for m in get_profiles().list()]
    except ZingyError:
        return []
