"""The audit trail: which profile was retrieved or refused, where, when, how often.

Entries are aggregated per process, profile, flow mode and outcome, and never hold a
value. Each names the notebook (a kernel's identity, see ``access``) and the runner
that started the process (``ZINGY_NB_VIA``: ``serve``, ``run``, ``scheduler:JOBID``...),
when there is one. Notebook access adds the outcomes ``asked``, ``allowed``,
``denied``, ``unanswered`` and ``not-allowed``, each committed at once. The first retrieval of a profile in a process and every refusal are committed
before the call returns; later warm retrievals only bump an in-memory count, flushed
every ``FLUSH_SECONDS`` and at exit, so the warm path never writes. A retrieval that
fails for a missing or wrong key is not audited: the store stays untouched. A refused
name is recorded only if it names a profile the process can see (``recorded_name``):
a value pasted as a name must not become readable in the log. Retention
is bounded by the store (see ``sqlite_store.AUDIT_MAX_AGE_DAYS`` / ``AUDIT_MAX_ENTRIES``).
"""

from __future__ import annotations

import atexit
import os
import socket
import threading
import time
import weakref
from datetime import datetime, timezone
from typing import Any, Final

from .errors import ZingyError
from .notices import announce_once
from .paths import VIA_ENV
from .rules import is_valid_name
from .store.base import AuditEntry

FLUSH_SECONDS: Final = 30.0
RETRIEVED: Final = "retrieved"
REFUSED: Final = "refused"
# Events of a locked key (``KEY_EVENT``).
PROTECTED: Final = "protected"
UNLOCKED: Final = "unlocked"
UNLOCK_REFUSED: Final = "wrong-passphrase"
LOCKED: Final = "locked"
IDLE_LOCKED: Final = "locked-when-idle"
#: What the log records instead of a name that fails validation, or that names no
#: profile this process can see: either may be a secret pasted where a name belongs.
INVALID_NAME: Final = "<invalid-name>"
UNKNOWN_NAME: Final = "<unknown-name>"
#: The "profile" of an event of the store's key (locked custody: protected, unlocked,
#: a wrong passphrase, locked); its flow column names no flow.
KEY_EVENT: Final = "<key>"
NO_FLOW: Final = "-"


def recorded_name(profiles: Any, name: object) -> str:
    """``name`` as far as it is safe to record: itself only if it is a valid name of a
    profile that exists (and that this process may see), else a placeholder."""
    if not isinstance(name, str) or not is_valid_name(name):
        return INVALID_NAME
    try:
        found = profiles.store.get(name) is not None
    except ZingyError:
        found = False
    return name if found else UNKNOWN_NAME


def _when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


class AuditLog:
    """This process's recorder. ``context`` is filled in by the kernel extension."""

    def __init__(self) -> None:
        self.context: dict[str, str | None] = {"kernel_id": None, "notebook": None}
        self.process = f"{socket.gethostname()}:{os.getpid()}:{int(time.time())}"
        self._lock = threading.Lock()
        # Profiles object -> names retrieved once already (weak: an id() could be reused)
        self._seen: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
        # (profiles object, name, flow) -> [count, first, last]
        self._pending: dict[tuple[Any, str, str], list[float]] = {}
        self._flusher: threading.Thread | None = None

    def _entry(
        self, name: str, flow: str, outcome: str, n: int, first: float, last: float
    ) -> AuditEntry:
        return AuditEntry(
            name, flow, outcome, self.process,
            self.context.get("kernel_id"), self.context.get("notebook"),
            _when(first), _when(last), n, via=os.environ.get(VIA_ENV) or None,
        )  # fmt: skip

    def _write(self, profiles: Any, entries: list[AuditEntry]) -> None:
        try:
            profiles._audit_add(entries)
        except ZingyError as exc:  # auditing must never hide the caller's own result
            announce_once("audit-failed", f"could not write the audit log: {exc}")

    def refused(self, profiles: Any, name: object, flow: str) -> None:
        """A refusal, committed now, under ``recorded_name``: a refused name may be a
        secret pasted by mistake, and ``zingy-nb audit`` shows what is recorded."""
        now = time.time()
        shown = recorded_name(profiles, name)
        self._write(profiles, [self._entry(shown, flow, REFUSED, 1, now, now)])

    def noted(self, profiles: Any, name: str, outcome: str, flow: str = "cloud-flow") -> None:
        """A notebook-access event (asked, allowed...): committed now."""
        now = time.time()
        shown = recorded_name(profiles, name)
        self._write(profiles, [self._entry(shown, flow, outcome, 1, now, now)])

    def key_event(self, profiles: Any, outcome: str) -> None:
        """An event of the store's key: committed now; repeats add to its count."""
        now = time.time()
        self._write(profiles, [self._entry(KEY_EVENT, NO_FLOW, outcome, 1, now, now)])

    def retrieved(self, profiles: Any, name: str, flow: str) -> None:
        """A cold retrieval: committed now if it is this process's first of ``name``."""
        seen = self._seen.setdefault(profiles, set())
        if name in seen:
            self.bump(profiles, name, flow)
            return
        now = time.time()
        self._write(profiles, [self._entry(name, flow, RETRIEVED, 1, now, now)])
        seen.add(name)

    def has_retrieved(self, profiles: Any, name: str) -> bool:
        """Whether this recorder committed a retrieval of ``name`` from ``profiles``."""
        return name in self._seen.get(profiles, ())

    def bump(self, profiles: Any, name: str, flow: str) -> None:
        """A warm retrieval: count it in memory only."""
        now = time.time()
        with self._lock:
            slot = self._pending.get((profiles, name, flow))
            if slot is None:
                self._pending[(profiles, name, flow)] = [1, now, now]
                if self._flusher is None:
                    self._start_flusher()
            else:
                slot[0] += 1
                slot[2] = now

    def add(self, profiles: Any, name: str, flow: str, n: int, first: float, last: float) -> None:
        """``n`` warm retrievals between ``first`` and ``last`` counted elsewhere (a
        kernel's, sent to its agent): counted in memory as ``bump`` counts."""
        with self._lock:
            slot = self._pending.setdefault((profiles, name, flow), [0, first, last])
            slot[0] += n
            slot[1], slot[2] = min(slot[1], first), max(slot[2], last)
            if self._flusher is None:
                self._start_flusher()

    def _start_flusher(self) -> None:
        def loop() -> None:
            while True:
                time.sleep(FLUSH_SECONDS)
                self.flush()

        self._flusher = threading.Thread(target=loop, name="zingy-nb-audit", daemon=True)
        self._flusher.start()
        atexit.register(self.flush)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        by_store: dict[int, tuple[Any, list[AuditEntry]]] = {}
        for (profiles, name, flow), (n, first, last) in pending.items():
            entry = self._entry(name, flow, RETRIEVED, int(n), first, last)
            by_store.setdefault(id(profiles), (profiles, []))[1].append(entry)
        for profiles, entries in by_store.values():
            self._write(profiles, entries)


# Re-executing this module keeps the process's recorder and its pending counts.
audit_log: AuditLog = globals().get("audit_log") or AuditLog()
