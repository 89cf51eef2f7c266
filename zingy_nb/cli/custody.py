"""``zingy-nb key protect``, ``zingy-nb unlock``, ``zingy-nb lock``: locked custody.

The passphrase is read on the terminal (twice when it is new), or as one line of
standard input with ``--stdin``; never from argv or the environment. The store's agent
does the work (``vault.locked``): it wraps the key, or unwraps it and keeps it in its
memory only, and it is started if it is not running. Linux only, as the agent is.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from ..errors import AgentUnavailableError, PassphraseError

STDIN_HELP = "read the passphrase as one line of standard input instead of the terminal"


def add_parser(top: argparse._SubParsersAction) -> None:
    p = top.add_parser("unlock", help="give the store's agent the passphrase of a locked key")
    p.add_argument("--stdin", action="store_true", help=STDIN_HELP)
    p.set_defaults(runtime=run_unlock)
    p = top.add_parser("lock", help="make the store's agent forget a locked key")
    p.set_defaults(runtime=run_lock)


def add_protect(key: argparse._SubParsersAction) -> None:
    p = key.add_parser(
        "protect", help="lock the key with a passphrase, removing every unwrapped copy"
    )
    p.add_argument("--stdin", action="store_true", help=STDIN_HELP)
    p.add_argument(
        "--lock-after",
        type=float,
        metavar="SECONDS",
        help="the agent forgets the key after this long without a request that needs it "
        "(default: only `zingy-nb lock` does)",
    )


def read_passphrase(stdin: bool, *, new: bool) -> str:
    """The passphrase from standard input (``--stdin``) or the terminal."""
    if stdin:
        line = sys.stdin.readline()
        text = line[:-1] if line.endswith("\n") else line
        if not text:
            raise PassphraseError("No passphrase on standard input; nothing was changed.")
        return text
    if not sys.stdin.isatty():
        raise PassphraseError(
            "There is no terminal to ask the passphrase on: pass it as one line of "
            "standard input with --stdin. Nothing was changed."
        )
    text = getpass.getpass("New passphrase: " if new else "Passphrase: ")
    if new and getpass.getpass("The same passphrase again: ") != text:
        raise PassphraseError("The two passphrases differ; nothing was changed.")
    return text


def _agent() -> Any:
    from .through_agent import agent

    client = agent()
    if client is None:
        raise AgentUnavailableError(
            "A key locked with a passphrase lives in the zingy-nb agent, which runs on "
            "Linux only; here keep the key in the OS keyring. Nothing was changed."
        )
    return client


def run_protect(args: Any) -> None:
    from ..vault import check_lock_after, check_passphrase

    after = check_lock_after(args.lock_after)  # before asking or starting anything
    passphrase = read_passphrase(args.stdin, new=True)
    check_passphrase(passphrase)
    with _agent() as client:
        where = client.protect(passphrase, after)
    lost = (
        "you cannot open your profiles: `zingy-nb team join --new-key` makes a new key, "
        "which a manager then grants again."
        if os.path.basename(where).startswith("member")
        else "(or a `zingy-nb key export` backup) the profiles cannot be opened."
    )
    print(
        f"Protected: the key is kept only in {where}, wrapped with your passphrase, and in "
        f"the memory of the store's agent until `zingy-nb lock`. Without the passphrase {lost}",
        file=sys.stderr,
    )


def run_unlock(args: Any) -> int:
    passphrase = read_passphrase(args.stdin, new=False)
    with _agent() as client:
        key_id = client.unlock(passphrase)
    print(f"Unlocked: the store's agent holds key {key_id} until `zingy-nb lock`.", file=sys.stderr)
    return 0


def run_lock(args: Any) -> int:
    from ..agent.client import connect

    try:
        client = connect()
    except AgentUnavailableError:
        print("Locked: no agent runs for this store, so none holds its key.", file=sys.stderr)
        return 0
    with client:
        was = client.lock()
    print(
        "Locked: the store's agent forgot the key." if was else "Locked (it was not unlocked).",
        file=sys.stderr,
    )
    return 0
