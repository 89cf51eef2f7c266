"""The launcher's one request to an agent that already runs, on built-in modules only.

A launched kernel starts after a whole second interpreter (``agent.launch``), and the
goal for that is +25 ms, about twice what ``python -c pass`` costs. ``AgentClient``
costs more than that in imports alone (``socket``, ``json`` and ``typing`` pull ``re``,
``enum``, ``selectors``; ``location`` pulls pathlib, dataclasses and ``jupyter_core``).
So ``register`` speaks the same protocol over ``_socket``, with ``_json``'s encoder and
scanner (what ``json`` itself uses), and answers None wherever it cannot be sure to do
exactly what ``ensure_agent().register()`` would: no agent listening (it must be
started), another platform, a team store, an unusual path. Once the request is sent,
every failure is the error ``AgentClient`` raises, from the same classes.
"""

from __future__ import annotations

import os
import struct
import sys

from .where import agent_socket

try:  # CPython's accelerators of json; without them, the full client
    import _socket
    from _json import encode_basestring_ascii, make_scanner
except ImportError:  # pragma: no cover
    _socket = None  # type: ignore[assignment]

#: How long a reply may take (a team store on a slow network, a loaded machine); the
#: full client's too.
REPLY_TIMEOUT = 120.0
MAX_LINE = 16 << 20  # as ``protocol.MAX_LINE``


_CONSTANTS = {"-Infinity": -float("inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Decoder:
    """What ``_json.make_scanner`` reads of a ``json.JSONDecoder``: its defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


def _encode(fields: dict[str, str | int | None]) -> bytes:
    """``protocol.encode(fields)`` for a flat object of strings, ints and None."""

    def value(v: str | int | None) -> str:
        if v is None:
            return "null"
        return int.__repr__(v) if isinstance(v, int) else encode_basestring_ascii(v)

    inner = ",".join(f"{encode_basestring_ascii(k)}:{value(v)}" for k, v in fields.items())
    return ("{" + inner + "}\n").encode("utf-8")


def _decode(line: bytes) -> dict[str, object]:
    """``protocol.decode(line)``: the scanner ``json.loads`` runs, for the plain case
    (an ASCII object, then only the newline); anything else through ``json`` itself."""
    try:
        text = line.decode("ascii")
        if text.startswith("{"):
            scan = make_scanner(_Decoder())  # type: ignore[arg-type]  # (typeshed: a scanner)
            obj, end = scan(text, 0)
            if isinstance(obj, dict) and not text[end:].strip(" \t\n\r"):
                return obj
    except Exception:
        pass  # the reference decoder below says what was wrong
    from .protocol import decode

    return decode(line)


def _readline(sock: _socket.socket) -> bytes:
    """One line, as ``makefile("rb").readline(MAX_LINE + 1)`` reads it."""
    data = b""
    while b"\n" not in data and len(data) <= MAX_LINE:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    end = data.find(b"\n") + 1 or MAX_LINE + 1
    return data[: min(end, MAX_LINE + 1)]


def _reply(sock: _socket.socket) -> dict[str, object] | None:
    """The reply to request 1, as ``AgentClient._reply`` reads it (None: closed)."""
    while True:
        line = _readline(sock)
        if not line:
            return None
        reply = _decode(line)
        earlier = reply.get("id")
        if not (isinstance(earlier, int) and earlier < 1):
            return reply


def _unavailable(key: str, why: str) -> Exception:
    from ..errors import AgentUnavailableError

    return AgentUnavailableError.for_store(key, why)


def register(
    mode: str,
    notebook: str | None,
    via: str | None,
    named: str | None,
    kernel_id: str | None = None,
) -> str | None:
    """``ensure_agent().register(mode, notebook, via, named, kernel_id)`` if the agent runs; None
    where it does not or this module cannot tell (then the caller does just that)."""
    so_peercred = getattr(_socket, "SO_PEERCRED", None)
    where = agent_socket(os.environ)
    if so_peercred is None or not sys.platform.startswith("linux") or where is None:
        return None
    key, path = where
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(REPLY_TIMEOUT)
        try:
            sock.connect(path)
            pid, uid, _gid = struct.unpack(
                "3i", sock.getsockopt(_socket.SOL_SOCKET, so_peercred, struct.calcsize("3i"))
            )
        except OSError:
            return None  # not running: the caller starts it
        if pid > 0 and uid != os.getuid():
            return None  # another user's socket: the caller says so, as ever
        fields: dict[str, str | int | None] = {"id": 1, "op": "register", "flow": mode}
        fields.update(notebook=notebook, pid=os.getpid(), via=via, named=named, kernel_id=kernel_id)
        try:
            sock.sendall(_encode(fields))
            reply = _reply(sock)
        except OSError:  # a timeout too
            raise _unavailable(key, "the connection to it broke (it stopped?)") from None
        if reply is None:
            raise _unavailable(key, "it closed the connection (it stopped?)")
        if reply.get("ok") is not True:
            from .protocol import raise_failure

            raise_failure(reply)
        if reply.get("id") != 1:
            raise _unavailable(key, "it answered out of turn (not a zingy-nb agent?)")
        return str(reply["cap"])
    finally:
        try:
            sock.shutdown(_socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
