"""What the operating system tells and guarantees about processes (Linux).

``set_not_dumpable`` is what ssh-agent does: with ``PR_SET_DUMPABLE`` 0 other processes
of the same user can neither ptrace this one nor read its ``/proc/PID/mem`` or
``environ`` (they become root's). ``peer_credentials`` is ``SO_PEERCRED``: the pid and
uid of the process at the other end of a Unix socket, as the kernel saw it connect,
never what that process says. Elsewhere both answer None and the agent does not run.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import sys
from typing import Final

PR_GET_DUMPABLE: Final = 3
PR_SET_DUMPABLE: Final = 4
_SO_PEERCRED: Final = getattr(socket, "SO_PEERCRED", None)


def supported() -> bool:
    """Whether this platform gives what the agent relies on."""
    return sys.platform.startswith("linux") and _SO_PEERCRED is not None


def _prctl(option: int, arg: int = 0) -> int | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0)
    return None if result < 0 else int(result)


def set_not_dumpable() -> bool:
    """Forbid ptrace and /proc memory reads by other processes of this user."""
    return _prctl(PR_SET_DUMPABLE, 0) == 0


def dumpable() -> int | None:
    """This process's ``PR_GET_DUMPABLE`` (0: not dumpable), or None off Linux."""
    return _prctl(PR_GET_DUMPABLE)


def peer_credentials(sock: socket.socket) -> tuple[int, int] | None:
    """``(pid, uid)`` of the peer of a connected Unix socket, or None if unknown."""
    if _SO_PEERCRED is None:
        return None
    size = struct.calcsize("3i")
    pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, _SO_PEERCRED, size))
    return (pid, uid) if pid > 0 else None
