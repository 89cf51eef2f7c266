"""Per-kernel capabilities: a random token bound to a process, a flow and a notebook.

The agent records what the launcher's process is (its pid and start time, from
``SO_PEERCRED``), the flow and the notebook the launcher named; the kernel can change
none of them. A token is honoured only from that process or its descendants, so a token
copied to another process gets nothing. Tokens are kept by their SHA-256, so a lookup
takes the same time whatever a forged token looks like. An entry goes when its process
has. Each kernel has its own audit recorder, naming its notebook and its process.
"""

from __future__ import annotations

import hashlib
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime

from ..audit import AuditLog
from ..errors import CloudFlowOnlyError
from ..store.base import AuditEntry, utcnow
from .procs import Proc, alive, identify, lineage


class KernelAudit(AuditLog):
    """The audit of one kernel the agent serves; the agent flushes it (no thread)."""

    def __init__(
        self,
        proc: Proc,
        notebook: str | None,
        via: str | None = None,
        kernel_id: str | None = None,
    ) -> None:
        super().__init__()
        self.context = {"kernel_id": kernel_id, "notebook": notebook}
        self.process = f"{socket.gethostname()}:{proc.pid}:{int(time.time())}"
        self.via = via

    def _entry(
        self, name: str, flow: str, outcome: str, n: int, first: float, last: float
    ) -> AuditEntry:
        """As recorded for the kernel: the runner it named, not the agent's own."""
        return replace(super()._entry(name, flow, outcome, n, first, last), via=self.via)

    def _start_flusher(self) -> None:
        """Warm counts are flushed by the agent's housekeeping, not a thread per kernel."""


@dataclass
class Kernel:
    """A registered kernel: the process a capability is bound to, and its policy."""

    proc: Proc
    flow: str
    notebook: str | None
    audit: KernelAudit = field(repr=False)
    registered: datetime = field(default_factory=utcnow)
    #: False for a process that is no kernel (a script reading a locked store): its
    #: flow and notebook are kept as for a kernel, but its children are a person's.
    kernel: bool = True


FORGED = (
    "This capability is not one this zingy-nb agent holds: it was made up, or the "
    "kernel or the agent it was given by has stopped. Restart the kernel to get a new one."
)
STOLEN = (
    "This capability belongs to another process: a capability works only in the kernel "
    "it was given to and the processes that kernel starts. Retrieve from that kernel."
)
NESTED = (
    "A registered kernel, or a process it started, cannot register a kernel of its own: "
    "it gets its kernel's capability or nothing. Start kernels from a terminal or the "
    "Jupyter server."
)

UNDER_KERNEL = (
    "This process runs under a kernel, so it acts for that kernel: it needs the "
    "kernel's capability, which it was not given. Run it from a terminal outside Jupyter."
)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "replace")).digest()


class Capabilities:
    """The registered kernels of one agent. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kernels: dict[bytes, Kernel] = {}

    def _enclosing(self, pid: int) -> Kernel | None:
        """The live registered kernel that is ``pid`` or one of its ancestors."""
        chain = set(lineage(pid))
        with self._lock:
            found = (k for k in self._kernels.values() if k.kernel and k.proc in chain)
            return next(found, None)

    def refuse_nested(self, pid: int) -> None:
        """Refuse ``pid`` if it is a registered kernel or one of its descendants."""
        if self._enclosing(pid) is not None:
            raise CloudFlowOnlyError(NESTED)

    def register(
        self,
        pid: int,
        flow: str,
        notebook: str | None,
        via: str | None = None,
        named: str | None = None,
        kernel_id: str | None = None,
        kernel: bool = True,
    ) -> str:
        """A new capability for the process ``pid`` (the caller, by ``SO_PEERCRED``)."""
        self.refuse_nested(pid)
        proc = identify(pid)
        if proc is None:
            raise CloudFlowOnlyError("The registering process is gone; nothing was registered.")
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._kernels[_digest(token)] = Kernel(
                proc,
                flow,
                notebook,
                KernelAudit(proc, notebook or named, via, kernel_id),
                kernel=kernel,
            )
        return token

    def holder(self, token: object, pid: int) -> Kernel:
        """The kernel ``token`` was given to, if ``pid`` is it or its descendant."""
        with self._lock:
            kernel = self._kernels.get(_digest(token)) if isinstance(token, str) else None
        if kernel is None or not alive(kernel.proc):
            raise CloudFlowOnlyError(FORGED)
        if kernel.proc not in lineage(pid):
            raise CloudFlowOnlyError(STOLEN)
        return kernel

    def prune(self) -> list[Kernel]:
        """Forget the kernels whose process is gone; returns them (to flush their audit)."""
        with self._lock:
            gone = {d: k for d, k in self._kernels.items() if not alive(k.proc)}
            for digest in gone:
                del self._kernels[digest]
        return list(gone.values())

    def live(self) -> list[Kernel]:
        with self._lock:
            return list(self._kernels.values())
