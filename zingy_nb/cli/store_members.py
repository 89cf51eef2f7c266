"""``zingy-nb store upgrade`` on a team store moving to member keys (``team_vault``).

Run by the database's owner it creates the member-key schema; run by a member of
``zingy_nb_admin`` who holds the old master key it converts every profile to a data key
wrapped for the readers who joined, and lists the others as pending (a manager grants
them again once they ran ``zingy-nb team join``). One command does both when the owner
is also such an admin.
"""

from __future__ import annotations

import sys
from typing import Any

from ..errors import StoreError


def upgrade_to_member_keys(profiles: Any) -> None:
    from ..profiles import Profiles
    from ..store.postgres import PostgresStore
    from ..store.postgres_members import MemberKeyStore

    store = profiles.store
    if not isinstance(store, PostgresStore):
        raise StoreError(
            "Member keys are for a team store (postgresql://); the embedded store keeps "
            "its master key."
        )
    if not isinstance(store, MemberKeyStore):
        store.close()
        store = MemberKeyStore(store._url)
        profiles = Profiles(profiles.home, store=store)
    before, after = store.upgrade()
    if before != after:
        print(
            f"Upgraded the store at {store.location} from version {before or 0} to {after} "
            "(member keys).",
            file=sys.stderr,
        )
    info = store.info()
    if info is None or not info.key_id:
        print(f"The store at {store.location} has no master key to convert from.", file=sys.stderr)
        return
    vault = profiles.vault
    if not store.is_admin(store.role()):
        print(
            "Its profiles are still sealed under the old master key: a member of "
            "zingy_nb_admin who holds that key runs `zingy-nb store upgrade` to convert "
            "them (until then they cannot be read).",
            file=sys.stderr,
        )
        return
    _, master = profiles._find_key(info)
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
        f"Converted {len(done)} profile(s); the store's master key is no longer used. "
        "Pending readers run `zingy-nb team join`, then a manager grants them again (or "
        "runs `zingy-nb team sync`).",
        file=sys.stderr,
    )
