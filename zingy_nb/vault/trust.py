"""Which member keys this member trusts: pinned on first sight, kept outside the database.

The database holds members' public keys, but whoever can write its rows (a DBA, the
schema owner) could substitute one. So each member keeps, in their own zingy-nb home,
the fingerprint they first saw for every role (``team-trust/STORE.ROLE.json``, 0600);
a key that differs later is refused until the member confirms it with
``zingy-nb team trust ROLE FINGERPRINT`` (fingerprints compared out of band). A key of
a ``zingy_nb_admin`` member seen for the first time is trusted on sight only while no
admin key is pinned yet; after that it needs an endorsement signed by a pinned admin.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import SignatureError, UntrustedKeyError
from .member_keys import MemberPublicKey, member_statement
from .private_file import write_private

if TYPE_CHECKING:
    from ..store.postgres_members import Endorsement, MemberRecord

_lock = threading.Lock()


@dataclass(frozen=True)
class Pin:
    fingerprint: str
    admin: bool


class Pins:
    """The fingerprints one member (``me``) pinned for one store."""

    def __init__(self, home: Path, store_id: str, me: str) -> None:
        safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in me)
        self.path = Path(home) / "team-trust" / f"{store_id}.{safe}.json"

    def load(self) -> dict[str, Pin]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            data = {}
        return {
            str(role): Pin(str(v["fingerprint"]), bool(v.get("admin")))
            for role, v in data.items()
            if isinstance(v, dict) and "fingerprint" in v
        }

    def pin(self, role: str, fingerprint: str, admin: bool) -> None:
        with _lock:
            pins = self.load()
            pins[role] = Pin(fingerprint, admin)
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            text = json.dumps({r: p.__dict__ for r, p in sorted(pins.items())}, indent=1)
            write_private(self.path, text + "\n")


def _changed(role: str, seen: str, pinned: str) -> UntrustedKeyError:
    return UntrustedKeyError(
        f"The member key of {role!r} changed: it is now {seen}, but you trusted {pinned}. "
        f"It is refused until you confirm it: ask {role} for their fingerprint (`zingy-nb "
        "team members` on their side) by another channel, and if it matches run "
        f"`zingy-nb team trust {role} {seen}`."
    )


class Trust:
    """Decides whether a member record from the database is a key this member trusts."""

    def __init__(self, pins: Pins, store_id: str) -> None:
        self.pins = pins
        self.store_id = store_id

    @staticmethod
    def well_formed(store_id: str, rec: MemberRecord) -> bool:
        """The stored fingerprint is the key's, and the key signed its own row."""
        if rec.public.fingerprint != rec.fingerprint:
            return False
        try:
            rec.public.verify(rec.self_signature, member_statement(store_id, rec.role, rec.public))
        except SignatureError:
            return False
        return True

    def key(
        self,
        rec: MemberRecord | None,
        role: str,
        members: dict[str, MemberRecord],
        endorsements: list[Endorsement],
    ) -> MemberPublicKey:
        """``rec``'s public key if trusted (pinning it on first sight); raises otherwise."""
        if rec is None or not self.well_formed(self.store_id, rec):
            raise UntrustedKeyError(
                f"{role!r} has no valid member key in this team store: they run "
                "`zingy-nb team join` (then a manager grants them again)."
            )
        pins = self.pins.load()
        pinned = pins.get(role)
        if pinned is not None:
            if pinned.fingerprint != rec.fingerprint:
                raise _changed(role, rec.fingerprint, pinned.fingerprint)
            return rec.public
        pinned_admins = {r: p for r, p in pins.items() if p.admin}
        if (
            rec.admin
            and pinned_admins
            and not self._endorsed(rec, pinned_admins, members, endorsements)
        ):
            raise UntrustedKeyError(
                f"{role!r} is a zingy_nb_admin member whose key ({rec.fingerprint}) no admin "
                "you trust has endorsed. An existing admin confirms it with `zingy-nb team "
                f"trust {role} {rec.fingerprint}`; or confirm it yourself the same way after "
                "comparing fingerprints out of band."
            )
        self.pins.pin(role, rec.fingerprint, rec.admin)
        return rec.public

    def _endorsed(
        self,
        rec: MemberRecord,
        admins: dict[str, Pin],
        members: dict[str, MemberRecord],
        endorsements: list[Endorsement],
    ) -> bool:
        statement = member_statement(self.store_id, rec.role, rec.public)
        for e in endorsements:
            if e.role != rec.role or e.fingerprint != rec.fingerprint:
                continue
            pin, by = admins.get(e.endorsed_by), members.get(e.endorsed_by)
            if pin is None or by is None or by.fingerprint != pin.fingerprint:
                continue
            try:
                by.public.verify(e.signature, statement)
            except SignatureError:
                continue
            return True
        return False
