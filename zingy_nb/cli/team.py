"""``zingy-nb team join|members|sync|trust|new-key``: member keys on a team store.

A member-key team store has no shared master key: each member publishes a public key
under their database role (``join``), compares fingerprints out of band and confirms a
changed key (``trust``); a manager re-wraps profiles after group membership changed in
plain SQL (``sync``). Only ``new-key`` prints a private key: a fresh one, for the
operator who puts it in a member's per-user secret (``ZINGY_NB_MEMBER_KEY``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..errors import StoreError
from .common import subcommands


def add_parser(top: argparse._SubParsersAction) -> None:
    team = subcommands(top.add_parser("team", help="member keys on a team store"))
    p = team.add_parser("join", help="make (if needed) and publish your member key")
    p.add_argument(
        "--new-key",
        action="store_true",
        help="replace your key (lost or exposed): managers must grant you again",
    )
    p = team.add_parser("members", help="members, key fingerprints, trust, what is out of sync")
    p.add_argument("--json", action="store_true")
    team.add_parser("sync", help="re-wrap profiles you manage for their current readers")
    p = team.add_parser("trust", help="confirm ROLE's key after comparing its fingerprint")
    p.add_argument("role", help="the member's database role")
    p.add_argument("fingerprint", help="SHA256:... as `team members` shows on their side")
    p = team.add_parser(
        "new-key",
        help="print a fresh member key for a spawner's per-user secret (ZINGY_NB_MEMBER_KEY)",
    )
    p.add_argument("--output", metavar="FILE", help="write it to FILE (mode 0600) instead")


def _vault(profiles: Any) -> Any:
    if profiles.vault.kind != "member":
        raise StoreError(
            f"The store at {profiles.store.location} has no member keys: `zingy-nb team` is "
            "for a team store (ZINGY_NB_STORE_URL=postgresql://...); the embedded store "
            "keeps its master key."
        )
    return profiles.vault


def run(args: Any) -> None:
    from ..profiles import get_profiles

    if args.action == "new-key":
        _new_key(args.output)
        return
    if args.action in ("join", "trust"):
        _from_a_person("Publishing a member key" if args.action == "join" else
                       "Trusting a member's key")  # fmt: skip
    vault = _vault(get_profiles())
    if args.action == "join":
        kept, replaced = vault.join(new_key=args.new_key)
        print(f"role:         {vault.role}")
        print(f"fingerprint:  {kept.pair.fingerprint}")
        print(f"private key:  {kept.where}")
        if replaced:
            print(
                f"Your key changed (it was {replaced}). Other members will refuse it until they "
                f"confirm it with `zingy-nb team trust {vault.role} {kept.pair.fingerprint}`; "
                "tell them this fingerprint by another channel, and ask a manager to grant you "
                "again.",
                file=sys.stderr,
            )
    elif args.action == "members":
        if vault.store.info() is None:  # no store record: nobody joined or saved yet
            if args.json:
                print(json.dumps({"members": [], "out_of_sync": []}, indent=2))
            print("Nobody has joined this team store yet: `zingy-nb team join`.", file=sys.stderr)
            return
        _members(vault, args.json)
    elif args.action == "sync":
        report = vault.sync()
        for done in report:
            _say_resealed(done)
        left = [done.name for done in report if done.refused]
        print(
            f"Left as they were (see above): {', '.join(left)}; every other profile you may "
            "write is wrapped for its current readers."
            if left
            else "Every profile you may write is wrapped for its current readers.",
            file=sys.stderr,
        )
    else:
        endorsed = vault.trust_member(args.role, args.fingerprint)
        print(
            f"You now trust {args.role}'s key {args.fingerprint.strip()}"
            + (" and endorsed it for the team (an admin key)." if endorsed else "."),
            file=sys.stderr,
        )


def _say_resealed(done: Any) -> None:
    if done.refused:
        print(f"{done.name}: left as it was. {done.refused}", file=sys.stderr)
        return
    line = f"{done.name}: wrapped for {', '.join(done.wrapped) or 'nobody'}"
    if done.pending:
        line += f"; pending (not joined): {', '.join(done.pending)}"
    if done.untrusted:
        line += f"; untrusted key (run `zingy-nb team trust`): {', '.join(done.untrusted)}"
    print(line, file=sys.stderr)


def _from_a_person(what: str) -> None:
    """Raise ``WideningRefusedError`` if a kernel (or a process it started) runs this:
    a member key it published or trusted would be read by whoever controls the kernel.
    The agent judges, from process ancestry; off Linux there is none to ask."""
    from .through_agent import agent

    client = agent()
    if client is not None:
        with client:
            client.call("person", what=what)


def _members(vault: Any, as_json: bool) -> None:
    from ..errors import UntrustedKeyError
    from ..vault import Trust

    trust = vault.trust()
    members = {m.role: m for m in vault.store.members()}
    endorsements = vault.store.endorsements()
    pinned = trust.pins.load()
    rows = []
    for role, rec in members.items():
        was = pinned.get(role)
        if not Trust.well_formed(trust.store_id, rec):
            state = "invalid"
        elif was is None:
            try:
                trust.key(rec, role, members, endorsements)
                state = "trusted (first seen now)"
            except UntrustedKeyError:
                state = "needs an admin's endorsement"
        else:
            state = "trusted" if was.fingerprint == rec.fingerprint else "CHANGED"
        rows.append(
            {
                "role": role,
                "admin": rec.admin,
                "fingerprint": rec.fingerprint,
                "joined": rec.joined.isoformat(),
                "trust": state,
            }
        )
    stale = vault.out_of_sync()
    if as_json:
        print(json.dumps({"members": rows, "out_of_sync": stale}, indent=2))
        return
    for r in rows:
        admin = " (admin)" if r["admin"] else ""
        print(f"{r['role']}{admin}\t{r['fingerprint']}\tjoined {r['joined']}\t{r['trust']}")
    if stale:
        print(
            f"Out of sync (run `zingy-nb team sync`): {', '.join(stale)}",
            file=sys.stderr,
        )


def _new_key(output: str | None) -> None:
    """A key made here, for someone else's environment: nothing is published or kept."""
    from ..errors import MemberKeyError
    from ..vault import MEMBER_KEY_ENV as ENV_VAR
    from ..vault import MemberKeyPair, write_private

    if not output and os.environ.get("JPY_PARENT_PID"):  # jupyter_client sets it in kernels
        raise MemberKeyError(
            "This runs inside a Jupyter kernel, where a printed key would stay in the "
            "notebook's output. Write it to a file instead: `zingy-nb team new-key "
            "--output FILE` (mode 0600)."
        )
    pair = MemberKeyPair.generate()
    text = pair.encode()
    if output:
        write_private(output, text + "\n")
        print(f"Member key written to {output} (mode 0600).", file=sys.stderr)
    else:
        print(text)
    print(
        f"fingerprint: {pair.fingerprint}. Put the key in that member's {ENV_VAR} only (a "
        "per-user secret of the spawner); they run `zingy-nb team join` once to publish it.",
        file=sys.stderr,
    )
