"""Redact what a kernel writes to its own process stdout and stderr (fds 1 and 2).

What a kernel writes below ``sys.stdout`` (a subprocess, ``os.write(1, ...)``,
``print(..., file=sys.__stderr__)``, ``subprocess.run(..., stdout=sys.stdout)``, the
kernel's own log) reaches the process that started it: the Jupyter server's log, the
``zingy-nb serve`` gateway's, ``zingy-nb run``'s stderr, nbconvert's. ipykernel 7
captures fds 1 and 2 for the cell (it ``dup2``'s a pipe over each) and echoes what it
reads to a saved copy of the original descriptor, which its ``OutStream.fileno()`` also
hands to subprocesses and its log handler writes to. That copy (or fd 1 and 2
themselves, when ipykernel does not capture them) is what ``install`` replaces with a
pipe of its own: one daemon thread reads both pipes, redacts with the process
redactor and writes to the original descriptors, which nothing else in the process
holds any more (their copies are not inherited by child processes).

Stream-safe as the message filter is (``outgoing.continue_masked``): each read is
matched with the last characters already written, and a tail that could begin a
match is held back until the next read completes it, at most ``outgoing.DELAY``. For
a log, a short unfinished line is held whole the same way (one check of the tail at a
newline is cheaper than at any character).
Bytes are decoded as UTF-8 with ``surrogateescape``, so whatever is not a match goes
out byte for byte, in order. With nothing registered the bytes go through untouched.
``flush`` (at exit, so at kernel shutdown) writes out whatever is pending.
"""

from __future__ import annotations

import atexit
import codecs
import logging
import os
import selectors
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Final

from .. import redact
from .outgoing import DELAY, continue_masked

READ_BYTES: Final = 1 << 20
PIPE_BYTES: Final = 1 << 20  # room for a busy writer while a read is redacted
LINE_HOLD: Final = 4096  # an unfinished line up to this long is held whole
GATHER: Final = 0.001  # after a short read, while values are registered
GRACE: Final = 0.05  # at exit, how long to wait for output still on its way

log = logging.getLogger(__name__)


def _decoder() -> Any:
    return codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")


@dataclass
class _Channel:
    """One replaced descriptor: our pipe in front of it, and the stream state."""

    target: int  # the descriptor writers use; now our pipe's write end
    real: int  # where ``target`` wrote before: only this module writes there now
    pipe: int  # our pipe's read end (non-blocking)
    decoder: Any = field(default_factory=_decoder)
    context: str = ""  # the last characters already written
    held: str = ""  # characters not yet written (could begin a match)
    deadline: float = 0.0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except InterruptedError:
            continue
        except OSError:  # the reader went away: nothing more can be delivered
            log.debug("could not write to the original descriptor", exc_info=True)
            return


class FdFilter:
    """The pipes in front of the kernel's original stdout and stderr, and their reader."""

    def __init__(self, channels: list[_Channel]) -> None:
        self.channels = channels
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        for channel in channels:
            self._selector.register(channel.pipe, selectors.EVENT_READ, channel)
        self._thread = threading.Thread(target=self._run, name="zingy-nb-fd-redact", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Pass output on until the process ends; an error never stops it (a full pipe
        nobody reads would block every writer in the kernel)."""
        while True:
            try:
                self._step()
            except Exception:
                log.debug("fd filter step failed", exc_info=True)
                time.sleep(GATHER)

    def _step(self) -> None:
        held = [c.deadline for c in self.channels if c.held]
        wait = max(min(held) - time.monotonic(), 0.0) if held else None
        ready = self._selector.select(wait)
        with self._lock:
            got = [self._read(key.data) for key, _ in ready]
            now = time.monotonic()
            for channel in self.channels:
                if channel.held and channel.deadline <= now:
                    self._release(channel)
        if 0 < max(got, default=0) < READ_BYTES and len(redact.redactor):
            time.sleep(GATHER)  # let a busy writer fill the pipe: fewer, larger scans

    def _read(self, channel: _Channel) -> int:
        """Pass on what the pipe holds now; how many bytes that was."""
        try:
            data = os.read(channel.pipe, READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return 0
        if not data:
            return 0
        if not len(redact.redactor) and not channel.held:
            _write_all(channel.real, data)  # nothing to redact: exactly as without zingy-nb
            return len(data)
        was_held = len(channel.held)
        full = channel.held + channel.decoder.decode(data)
        line = full.rfind("\n") + 1  # a short unfinished line waits for its end
        end = line if 0 < line and len(full) - line <= LINE_HOLD else len(full)
        text, cut, channel.context = continue_masked(channel.context, full[:end], hold=True)
        channel.held = full[cut:]
        if channel.held and (not was_held or cut >= was_held):
            channel.deadline = time.monotonic() + DELAY  # else the oldest held char's
        _write_all(channel.real, text.encode("utf-8", "surrogateescape"))
        return len(data)

    def _release(self, channel: _Channel, *, final: bool = False) -> None:
        rest = channel.held + (channel.decoder.decode(b"", final=True) if final else "")
        channel.held = ""
        if rest:
            text, _, channel.context = continue_masked(channel.context, rest, hold=False)
            _write_all(channel.real, text.encode("utf-8", "surrogateescape"))

    def flush(self) -> None:
        """Write out everything pending, after a short wait for output on its way (in
        the process that installed the filter; a forked child leaves it alone)."""
        if os.getpid() != self._pid:
            return
        with self._lock:
            deadline = time.monotonic() + GRACE
            while time.monotonic() < deadline:
                got = [self._read(c) for c in self.channels]
                if not any(got):
                    time.sleep(0.005)
            for channel in self.channels:
                self._release(channel, final=True)


def _replace(target: int) -> _Channel | None:
    """Put a pipe in front of ``target`` (None if it is not an open descriptor)."""
    try:
        inheritable = os.get_inheritable(target)
        real = os.dup(target)  # not inheritable: no child process gets it
    except OSError:
        return None
    read, write = os.pipe()
    os.set_blocking(read, False)
    import fcntl  # POSIX only, as ``install`` is

    try:
        fcntl.fcntl(read, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except OSError:  # above the system's limit: the default size works, more slowly
        pass
    os.dup2(write, target, inheritable=inheritable)
    os.close(write)
    return _Channel(target, real, read)


def _targets() -> list[int]:
    """Where output leaves the process: ipykernel's saved copy of fd 1 and 2 when it
    captures them (``OutStream`` with ``watchfd``), else the descriptors themselves."""
    found = []
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = getattr(sys, name, None)
        copy = getattr(stream, "_original_stdstream_copy", None)
        watched = getattr(stream, "_should_watch", False)
        found.append(copy if watched and isinstance(copy, int) else fd)
    return found


installed: FdFilter | None = globals().get("installed")  # a reload keeps the running one


def install() -> bool:
    """Filter the kernel's original stdout and stderr (once per process: False when
    already done, e.g. on ``%reload_ext``)."""
    global installed
    if installed is not None or os.name != "posix":  # Windows: no select() on pipes
        return False
    channels = [c for c in map(_replace, _targets()) if c is not None]
    if not channels:
        return False
    installed = FdFilter(channels)
    atexit.register(installed.flush)
    return True
