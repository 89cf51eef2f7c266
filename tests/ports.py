"""Ports for the servers tests start.

A port the OS hands out for ``bind(0)`` comes from the ephemeral range, the same range
every kernel's ZeroMQ sockets are bound in. Between closing the probe and the server's
own bind, a kernel of another xdist worker can take the port, and the test then talks
HTTP to a ZeroMQ socket (CI printed ``BadStatusLine: \\xff...``, ZMTP's greeting).
Ports below the ephemeral range are never handed out that way, so only another test's
pick can race, and the probe makes that a fresh random draw.
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

_LOW, _HIGH = 20000, 32000  # below Linux's default ip_local_port_range (32768-60999)


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port on 127.0.0.1 that nothing holds now and the OS will not hand out."""
    high = min(_HIGH, _ephemeral_low())
    for _ in range(200):
        port = _LOW + secrets.randbelow(high - _LOW)  # not `random`: hypothesis seeds it
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_LOW}-{high} after 200 tries")
