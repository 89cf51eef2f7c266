"""A kernel's end of the agent's change pushes (``pushes``): a daemon thread that
counts them and acknowledges each, so a warm read only compares two integers."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable

from ..errors import ZingyError
from .client import AgentClient
from .protocol import decode, encode

#: Called in every ``Watch``'s thread with whether pushes still come: after each push,
#: before it is acknowledged (so whatever a listener invalidates is invalid before the
#: writer's call returns), and once, with False, when they end. The JavaScript kernels'
#: proxy keeps its prelude's cache in step this way (``js.bridge``).
listeners: list[Callable[[bool], None]] = []


class Watch:
    """The pushes one process receives. ``generation`` moves with every push and once
    more when the connection ends (the agent stopped, or dropped this process for
    answering late); from then on ``live`` is False and the process revalidates with
    the store's change token."""

    def __init__(self, client: AgentClient, cap: str) -> None:
        self._sock, self._reader = client.watch(cap)
        self.generation = 0
        #: Whether the agent dropped this process for taking a push too late (it may
        #: have missed a change); not when the agent stopped.
        self.dropped = False
        self._ended = False
        self._pid = os.getpid()
        threading.Thread(target=self._run, name="zingy-nb-pushes", daemon=True).start()

    @property
    def live(self) -> bool:
        """Whether pushes still reach this process (a forked child gets none)."""
        return not self._ended and self._pid == os.getpid()

    def _run(self) -> None:
        try:
            while line := self._reader.readline(256):
                said = decode(line)
                sent = said.get("push")
                if not isinstance(sent, int):
                    self.dropped = "dropped" in said
                    break
                self.generation += 1  # before the ack: the agent answers after it
                _tell(True)
                with contextlib.suppress(OSError):  # too late: "dropped" may follow
                    self._sock.sendall(encode({"ack": sent}))
        except (OSError, ZingyError):
            pass
        finally:
            self.generation += 1
            self._ended = True
            _tell(False)
            self.close()

    def close(self) -> None:
        for part in (self._reader, self._sock):
            with contextlib.suppress(OSError):
                part.close()


def _tell(live: bool) -> None:
    for listener in list(listeners):
        with contextlib.suppress(Exception):  # a listener never stops the pushes
            listener(live)
