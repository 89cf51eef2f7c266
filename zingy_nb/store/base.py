"""The storage interface: rows of encrypted profiles, no cryptography, no policy.

A backend stores what ``Profiles`` and its vault hand it (names, metadata, sealed
blobs, the key id and verifier) and tells cheaply when another process has committed a
change. The embedded SQLite backend lives in ``sqlite``, the PostgreSQL team store in
``postgres`` (with member keys: ``postgres_members``).
"""

from __future__ import annotations

import builtins
import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar, Final, Protocol

from ..errors import StoreError, ZingyError
from ..rules import ProfileMeta, SlotFlags

#: Access levels a team store grants on a profile; each includes the ones before it.
LEVELS = ("read", "write", "manage")

#: The store setting ``notebook-access``: ask before a notebook's first read, or never.
ACCESS_ASK: Final = "ask"
ACCESS_OFF: Final = "off"
ACCESS_SETTINGS: Final = (ACCESS_ASK, ACCESS_OFF)


class AccessSigner(Protocol):
    """What signs and checks allowances and the setting: the store's vault, which holds
    the key (``vault.base.Vault``). A store never counts a row this does not verify."""

    def access_mac(self, fields: Sequence[str]) -> bytes: ...

    def access_verifies(self, fields: Sequence[str], mac: bytes | None) -> bool: ...

    def setting_tag(self, fields: Sequence[str]) -> bytes: ...

    def setting_verifies(self, fields: Sequence[str], tag: bytes | None) -> bool: ...


#: Re-signs one row's fields (``Transaction.resign_access``).
Mac = Callable[[Sequence[str]], bytes]


def when_text(when: datetime | str | None) -> str:
    """A time as a signed field: UTC ISO text with microseconds ('' for none)."""
    if when is None:
        return ""
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    return when.astimezone(timezone.utc).isoformat(timespec="microseconds")


def allowance_fields(
    profile: str, notebook: str, moved_from: str | None, moved: datetime | str | None
) -> tuple[str, ...]:
    """What an allowance's MAC covers: the profile (its name; a team store's row id),
    the notebook, and where and when it moved from, so no field can be edited by hand."""
    return ("allowance", profile, notebook, moved_from or "", when_text(moved))


def setting_fields(value: str) -> tuple[str, ...]:
    return ("setting", "notebook-access", value)


@dataclass(frozen=True)
class Grant:
    """One role's access to one profile in a team store."""

    profile: str
    role: str
    level: str  # one of LEVELS
    granted_by: str

    def to_json(self) -> dict[str, str]:
        return dict(self.__dict__)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def slots_mask(slots_set: tuple[bool, ...], unredacted: tuple[bool, ...]) -> int:
    """The ``slots`` column: bit i says slot i is set, bit 4+i that its value is too
    short to be redacted from output (older zingy-nb writes and reads the low bits only)."""
    return sum(1 << i for i, on in enumerate(slots_set) if on) | sum(
        1 << (4 + i) for i, on in enumerate(unredacted) if on
    )


@functools.lru_cache(maxsize=256)  # 8 bits: every mask there is; listings call it per row
def slots_from_mask(mask: int) -> tuple[SlotFlags, SlotFlags]:
    """(set, unredacted) flags of the four slots, from the ``slots`` column."""
    return (
        tuple(bool(mask & (1 << i)) for i in range(4)),  # type: ignore[return-value]
        tuple(bool(mask & (1 << (4 + i))) for i in range(4)),
    )


@dataclass(frozen=True)
class Row:
    """One stored profile: metadata in clear, values as one sealed blob."""

    name: str
    slots_set: SlotFlags
    unredacted: SlotFlags
    created: datetime
    updated: datetime
    key_id: str
    blob: bytes

    @property
    def slots_mask(self) -> int:
        return slots_mask(self.slots_set, self.unredacted)

    @property
    def meta(self) -> ProfileMeta:
        return ProfileMeta(self.name, self.slots_set, self.created, self.updated, self.unredacted)

    @classmethod
    def from_record(cls, rec: Sequence[Any], when: Callable[[Any], datetime]) -> Row:
        """A row from the backends' common (name, slots, created, updated, key_id, blob)
        SELECT; ``when`` reads a stored time in that backend's dialect."""
        name, mask, created, updated, key_id, blob = rec
        slots_set, unredacted = slots_from_mask(mask)
        return cls(name, slots_set, unredacted, when(created), when(updated), key_id, bytes(blob))


def meta_from_record(
    name: str, mask: int, created: Any, updated: Any, when: Callable[[Any], datetime]
) -> ProfileMeta:
    """A listing's row as metadata, without building a whole ``Row`` (no blob)."""
    slots_set, unredacted = slots_from_mask(mask)
    return ProfileMeta(name, slots_set, when(created), when(updated), unredacted)


@dataclass(frozen=True)
class StoreInfo:
    """Store-wide metadata: which key the store is encrypted under."""

    store_id: str
    key_id: str
    verifier: bytes


@dataclass(frozen=True)
class AuditEntry:
    """Who retrieved (or was refused) what, aggregated per process; never a value."""

    profile: str
    flow: str
    outcome: str  # "retrieved" or "refused"
    process: str
    kernel_id: str | None
    notebook: str | None
    first: datetime
    last: datetime
    count: int
    role: str | None = None  # the database role (team store) or OS user that retrieved
    via: str | None = None  # the runner that started the process (``ZINGY_NB_VIA``)

    @classmethod
    def from_record(cls, rec: Sequence[Any], when: Callable[[Any], datetime]) -> AuditEntry:
        """An entry from a row of the backends' common audit SELECT; ``when`` reads a
        stored time in that backend's dialect."""
        profile, flow, outcome, process, kernel_id, notebook = rec[:6]
        first, last, count, role, via = when(rec[6]), when(rec[7]), int(rec[8]), rec[9], rec[10]
        return cls(
            profile, flow, outcome, process, kernel_id, notebook, first, last, count, role, via
        )

    def to_json(self) -> dict[str, object]:
        return {
            **{k: v for k, v in self.__dict__.items() if k not in ("first", "last")},
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
        }


@dataclass(frozen=True)
class Allowance:
    """A notebook (its real path) allowed to read a profile; on a team store, for one
    database role."""

    profile: str
    notebook: str
    how: str  # "prompt", "created", "cli", "rest" or "upgrade"
    created: datetime
    role: str | None = None
    #: Its MAC verifies; an unsigned row (from before signing, or written by hand) is
    #: listed but never counts.
    signed: bool = True

    def to_json(self) -> dict[str, object]:
        return {**self.__dict__, "created": self.created.isoformat()}


@dataclass(frozen=True)
class NotebookCheck:
    """What a kernel's cold check needs, read in one round trip."""

    setting: str  # one of ACCESS_SETTINGS
    exists: bool  # the profile exists (on a team store: is visible to the caller)
    allowed: bool


class Transaction(ABC):
    """A write transaction: everything in it commits together or not at all."""

    @abstractmethod
    def get(self, name: str) -> Row | None: ...

    @abstractmethod
    def rows(self) -> Iterator[Row]: ...

    @abstractmethod
    def put(self, row: Row) -> None:
        """Insert or replace the row with ``row.name``."""

    @abstractmethod
    def delete(self, name: str) -> bool:
        """Delete a row; False if there was none."""

    @abstractmethod
    def key_id(self) -> str:
        """The store's key id as of this transaction (a rotation may have changed it)."""

    @abstractmethod
    def set_key(self, key_id: str, verifier: bytes) -> None: ...

    def rename(self, old_name: str, row: Row) -> None:
        """Replace row ``old_name`` by ``row`` (a new name); a team store keeps its
        owner and grants."""
        self.put(row)
        self.delete(old_name)

    def allow_notebook(self, name: str, notebook: str, how: str) -> None:  # noqa: B027
        """Allow ``notebook`` to read profile ``name`` (a store that keeps no allowances
        ignores it)."""

    def resign_access(self, old: Mac, new: Mac) -> None:  # noqa: B027
        """The key changed: every allowance (and the setting) whose MAC ``old`` verifies
        is signed with ``new``; the others stay ignored."""


class Store(ABC):
    """A profile store backend."""

    #: Where the store is, for people (a path or a URL without its password).
    location: str
    #: Whose keys seal its profiles: each member's own (a team store at the member-key
    #: schema), or one master key; ``vault.open_vault`` chooses the vault by it.
    member_keys: ClassVar[bool] = False
    #: Signs and checks allowances and the setting; ``vault.open_vault`` sets it. Without
    #: one, what this store writes is unsigned and nothing it reads counts.
    signer: AccessSigner | None = None

    def _mac(self, fields: Sequence[str]) -> bytes | None:
        return None if self.signer is None else self.signer.access_mac(fields)

    def _signed(self, fields: Sequence[str], mac: Any) -> bool:
        """Whether ``mac`` is the vault's over ``fields``; without a key to check it
        with, nothing counts (writing one then says which key is missing)."""
        if mac is None or self.signer is None:
            return False
        try:
            return self.signer.access_verifies(fields, bytes(mac))
        except ZingyError:
            return False

    def _setting_counts(self, value: str, tag: Any) -> str:
        """``value`` if its signature verifies; an unsigned ``off`` is read as ``ask``."""
        if value != ACCESS_OFF:
            return value
        if tag is None or self.signer is None:
            return ACCESS_ASK
        return (
            value if self.signer.setting_verifies(setting_fields(value), bytes(tag)) else ACCESS_ASK
        )

    @abstractmethod
    def info(self) -> StoreInfo | None:
        """The store's metadata, or None when the store does not exist yet."""

    @abstractmethod
    def create(self, info: StoreInfo) -> None:
        """Create an empty store; only commands that write a profile call this."""

    @abstractmethod
    def list(self) -> builtins.list[ProfileMeta]: ...

    @abstractmethod
    def get(self, name: str) -> Row | None: ...

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def change_token(self) -> object:
        """A cheap value that differs once another connection has committed."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Transaction]: ...

    @abstractmethod
    def audit_add(self, entries: builtins.list[AuditEntry]) -> None:
        """Merge entries (same profile, flow, outcome, process: add counts), then prune
        to the retention limits. Does nothing when the store does not exist."""

    @abstractmethod
    def audit(self, profile: str | None = None) -> builtins.list[AuditEntry]:
        """Entries, newest first, optionally for one profile."""

    @abstractmethod
    def close(self) -> None: ...

    # -- schema versions (``zingy-nb store upgrade``) -----------------------------------
    def schema_version(self) -> int | None:
        """The stored schema version, or None when there is no store yet."""
        raise StoreError(f"The store at {self.location} has no versioned schema.")

    def upgrade(self) -> tuple[int | None, int]:
        """Bring the schema to this code's version; returns (before, after)."""
        raise StoreError(f"The store at {self.location} cannot be upgraded.")

    # -- access control (team stores only) ----------------------------------------------
    def _no_grants(self) -> StoreError:
        return StoreError(
            f"The store at {self.location} is a single-user store: grants need a team "
            "store on PostgreSQL (set ZINGY_NB_STORE_URL; see docs/teams.md)."
        )

    def grant(self, name: str, role: str, level: str) -> None:
        """Give ``role`` ``level`` access to profile ``name`` (replacing its grant)."""
        raise self._no_grants()

    def revoke(self, name: str, role: str) -> bool:
        """Remove ``role``'s grant on ``name``; False if it had none."""
        raise self._no_grants()

    def grants(self, name: str) -> builtins.list[Grant]:
        """The grants on ``name`` the caller may see."""
        raise self._no_grants()

    # -- notebook access (see ``zingy_nb.access``) ----------------------------------------
    # A store that cannot keep allowances (an older schema, another backend) checks
    # nothing: it answers "off", so nobody is locked out.
    def _no_allowances(self) -> StoreError:
        return StoreError(
            f"The store at {self.location} keeps no notebook allowances: bring it to this "
            "zingy-nb's schema with `zingy-nb store upgrade`."
        )

    def notebook_check(self, name: str, notebook: str, started: datetime) -> NotebookCheck:
        """The setting, whether ``name`` exists, and whether ``notebook`` may read it: it
        is allowed, or was allowed under this path and moved (renamed through Jupyter)
        after ``started``, the time the asking process fixed its notebook identity."""
        return NotebookCheck(ACCESS_OFF, True, True)

    def access_setting(self) -> str:
        """``ask`` or ``off``: the store-wide ``notebook-access`` setting."""
        return ACCESS_OFF

    def set_access_setting(self, value: str) -> None:
        raise self._no_allowances()

    def allowances(self, name: str | None = None) -> builtins.list[Allowance]:
        """The allowances the caller may see (a team store: its own; a manager's: all)."""
        return []

    def allow(self, name: str, notebook: str, how: str) -> bool:
        """Allow ``notebook`` to read profile ``name``; False if it was already."""
        raise self._no_allowances()

    def disallow(self, name: str, notebook: str, role: str | None = None) -> bool:
        """Remove an allowance (a team store: ``role``'s, default the caller's)."""
        raise self._no_allowances()

    def move_notebooks(self, old: str, new: str) -> int:
        """A file or folder moved from ``old`` to ``new``: its allowances follow."""
        return 0

    def forget_notebooks(self, path: str) -> int:
        """A file or folder was deleted: the allowances of what was in it go too."""
        return 0
