"""``zingy-nb store upgrade`` on a team store: its schema, then its profiles.

Run by the database's owner it creates (or migrates) the member-key schema; run by a
member of ``zingy_nb_admin`` who holds the old master key it converts every profile of a
store made before member keys to a data key wrapped for the readers who joined, and
lists the others as pending (a manager grants them again once they ran ``zingy-nb team
join``). One command does both when the owner is also such an admin.
"""

from __future__ import annotations

import sys
from typing import Any

from ..errors import KeyUnavailableError
from ..vault import MASTER_KEY_ENV as ENV_VAR


def upgrade_team_store(profiles: Any) -> None:
    store = profiles.store
    before, after = store.upgrade()
    if before is None:
        print(
            f"Created the zingy-nb schema (version {after}, member keys) in {store.location}. "
            "Each member runs `zingy-nb team join` once (docs/teams.md).",
            file=sys.stderr,
        )
    elif before != after:
        print(
            f"Upgraded the store at {store.location} from version {before} to {after} "
            "(member keys).",
            file=sys.stderr,
        )
    else:
        print(f"The store at {store.location} is already at version {after}.", file=sys.stderr)
    info = store.info()
    if info is None or not info.key_id:
        return  # nothing sealed under a shared master key
    if not store.legacy_count():
        return  # a master-key record with no profile under it (the upgrade removes one)
    if store.superuser():
        print(
            "The store's profiles are still sealed under the old master key. Converting "
            "them re-seals each one as its writer, which a superuser may not do (they "
            "bypass row-level security, so nothing could be wrapped for them): a dedicated "
            "role in zingy_nb_admin that holds that key runs `zingy-nb store upgrade` "
            "(until then nobody can read them).",
            file=sys.stderr,
        )
        return
    if not store.is_admin(store.role()):  # who may not see every profile cannot count them
        print(
            "The store's profiles are still sealed under the old master key: a member of "
            "zingy_nb_admin who holds that key runs `zingy-nb store upgrade` to convert "
            "them (until then nobody can read them).",
            file=sys.stderr,
        )
        return
    _convert(profiles, info, len(_legacy_names(store)))


def _legacy_names(store: Any) -> list[str]:
    with store.member_transaction() as txn:
        return list(txn.legacy_names())


def _convert(profiles: Any, info: Any, legacy: int) -> None:
    store, vault = profiles.store, profiles.vault
    try:
        master = vault.old_master_key(info)
    except KeyUnavailableError:
        raise KeyUnavailableError(
            f"Converting the store's {legacy} profile(s) to member keys needs its old "
            f"master key, and none that opens it was found. Set {ENV_VAR} to that key (the "
            "one every member's server had) and run `zingy-nb store upgrade` again. The "
            "schema is upgraded; the profiles stay sealed under the old key until then."
        ) from None
    published = {m.role: m.fingerprint for m in store.members()}.get(store.role())
    mine = vault.locator().load()
    if mine is None or published != mine.pair.fingerprint:
        kept, _ = vault.join()
        print(f"Joined as {vault.role}: fingerprint {kept.pair.fingerprint}.", file=sys.stderr)
    done = vault.convert(master)
    for item in done:
        line = f"{item.name}: wrapped for {', '.join(item.wrapped) or 'nobody'}"
        if item.pending:
            line += f"; pending (not joined yet): {', '.join(item.pending)}"
        print(line)
    print(
        f"Converted {len(done)} profile(s); the store's master key is no longer used: "
        f"remove {ENV_VAR} from every member's environment. Pending readers run `zingy-nb "
        "team join`, then a manager grants them again (or runs `zingy-nb team sync`).",
        file=sys.stderr,
    )
