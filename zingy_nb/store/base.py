"""The storage interface: rows of encrypted profiles, no cryptography, no policy.

A backend stores what ``Profiles`` hands it (names, metadata, sealed blobs, the key
id and verifier) and tells cheaply when another process has committed a change. The
embedded SQLite backend lives in ``sqlite_store``; a shared server backend is a new
module implementing the same two classes.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone

from ..errors import StoreError
from ..rules import ProfileMeta, SlotFlags

#: Access levels a team store grants on a profile; each includes the ones before it.
LEVELS = ("read", "write", "manage")


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

    def to_json(self) -> dict[str, object]:
        return {
            **{k: v for k, v in self.__dict__.items() if k not in ("first", "last")},
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
        }


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


class Store(ABC):
    """A profile store backend."""

    #: Where the store is, for people (a path or a URL without its password).
    location: str

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
