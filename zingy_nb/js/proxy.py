"""The JavaScript flow kernels' process: Deno's Jupyter kernel behind a message proxy.

The kernelspec's launcher execs this (``python -m zingy_nb.js.proxy --deno PATH
CONNECTION_FILE``) with the kernel's capability. It binds the client's five channels
itself, starts ``deno jupyter --kernel`` on a connection file of its own (same key and
signature scheme, other ports) with no capability in its environment, and relays:

- client to Deno: as they come (shell, control and stdin requests, unchanged bytes);
- Deno to client: through the outgoing filter of the Python kernels
  (``kernel.outgoing``: content, metadata and buffers redacted, stream text across
  messages), re-signed; Deno's own stdout and stderr through ``continue_masked``.

Before it relays anything it sends Deno the prelude (``prelude.js``) silently, which
defines ``zingyConn``; its calls come back over two FIFOs (``bridge``) and are answered
with Python's ``zingyConn``, whose values the redactor then knows.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from time import monotonic
from typing import Any, Final, cast

from ..paths import CAP_ENV, ERROR_ENV
from . import bridge

#: How many requests' client identities are remembered for routing replies back.
ROUTES: Final = 4096
#: Variables Deno must not inherit: the capability is the proxy's to use.
_PRIVATE: Final = (CAP_ENV, ERROR_ENV, "ZINGY_NB_MASTER_KEY", "ZINGY_NB_MEMBER_KEY")
_READY_TIMEOUT: Final = 60.0
#: How many Deno kernels are started before giving up, when each exits before it
#: answers: the ports picked for it may be taken before it binds them (another
#: kernel's, started meanwhile), and Deno then exits at once.
START_TRIES: Final = 3
#: How long a cell's output must be quiet, after its reply, before its idle status goes.
SETTLE: Final = 0.02


class _Locked:
    """A socket that several threads send on (the filter's timer sends held tails)."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self._lock = threading.Lock()

    def send_multipart(self, parts: Sequence[Any], **kwargs: Any) -> Any:
        with self._lock:
            return self.socket.send_multipart(parts, **kwargs)


def _url(info: dict[str, Any], channel: str) -> str:
    transport, ip, port = info["transport"], info["ip"], info[f"{channel}_port"]
    return f"{transport}://{ip}:{port}" if transport == "tcp" else f"{transport}://{ip}-{port}"


def _free_ports(count: int) -> list[int]:
    """Ports on 127.0.0.1 that nothing listens on now (as jupyter_client picks them)."""
    held = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


class DenoExited(RuntimeError):
    """Deno's kernel exited before it answered (its output is in the kernel's log)."""


def start_deno(
    deno: str, info: dict[str, Any], private: Path | None = None
) -> tuple[subprocess.Popen[bytes], Path, dict[str, Any]]:
    """Deno's kernel on a connection file of its own (in ``private``, a new 0700
    folder by default), started before this process imports ZeroMQ and jupyter_client,
    so that its start and theirs overlap."""
    if private is None:
        private = Path(tempfile.mkdtemp(prefix="zingy-js-"))  # 0700
    ports = dict(zip(("shell", "iopub", "stdin", "control", "hb"), _free_ports(5)))
    inner: dict[str, Any] = {f"{name}_port": port for name, port in ports.items()}
    inner.update(transport="tcp", ip="127.0.0.1", key=info.get("key", ""),
                 signature_scheme=info.get("signature_scheme", "hmac-sha256"))  # fmt: skip
    inner_file = private / "deno-kernel.json"
    inner_file.touch(0o600)
    inner_file.write_text(json.dumps(inner))
    env = {k: v for k, v in os.environ.items() if k not in _PRIVATE}
    env.setdefault("DENO_DIR", str(private / "deno"))
    process = subprocess.Popen(
        [deno, "jupyter", "--kernel", "--conn", str(inner_file)],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    for pipe, fd in ((process.stdout, 1), (process.stderr, 2)):
        assert pipe is not None
        threading.Thread(target=_pass_through, args=(pipe, fd), daemon=True).start()
    return process, private, inner


class Proxy:
    """The client's sockets, Deno's, and what routes replies back."""

    def __init__(
        self, context: Any, info: dict[str, Any], deno: str, process: subprocess.Popen[bytes],
        private: Path, inner: dict[str, Any],
    ) -> None:  # fmt: skip
        import zmq
        from jupyter_client.session import Session

        self.process, self.private = process, private
        self.deno, self.info = deno, info
        key = info.get("key", "").encode()
        scheme = info.get("signature_scheme", "hmac-sha256")
        self.session = Session(key=key, signature_scheme=scheme, username="zingy-nb")
        self.context = context
        outer: dict[str, Any] = {}
        for channel, kind in (("shell", zmq.ROUTER), ("control", zmq.ROUTER),
                              ("stdin", zmq.ROUTER), ("iopub", zmq.PUB)):  # fmt: skip
            outer[channel] = self.context.socket(kind)
            outer[channel].linger = 1000
            outer[channel].bind(_url(info, channel))
        self.outer = {name: _Locked(sock) for name, sock in outer.items()}
        self.inner: dict[str, Any] = {}
        self._connect(inner)
        self.routes: OrderedDict[str, list[bytes]] = OrderedDict()
        self.internal: set[str] = set()  # our own requests to Deno: their output is ours
        self.executing: set[str] = set()  # execute requests relayed, idle not yet sent
        self.idle: dict[str, tuple[dict[str, Any], list[bytes]]] = {}  # theirs, held
        self.quiet: dict[str, float] = {}  # when a held idle may go out (reply seen)
        self.bridge = bridge.Bridge(self.private)
        self.prelude = ""  # the msg_id of the prelude's execute_request

    def _connect(self, inner: dict[str, Any]) -> None:
        """Sockets to Deno's five channels (closing those to an earlier Deno)."""
        import zmq

        for sock in self.inner.values():
            sock.close(linger=0)
        identity = os.urandom(8).hex().encode()  # shell and stdin alike: Deno routes
        for channel in ("shell", "control", "stdin"):  # input requests by the shell's
            sock = self.context.socket(zmq.DEALER)
            sock.linger = 0
            if channel != "control":
                sock.setsockopt(zmq.ROUTING_ID, identity)
            sock.connect(_url(inner, channel))
            self.inner[channel] = sock
        iopub = self.context.socket(zmq.SUB)
        iopub.linger = 0
        iopub.setsockopt(zmq.SUBSCRIBE, b"")
        iopub.connect(_url(inner, "iopub"))
        self.inner["iopub"] = iopub

    # -- start ------------------------------------------------------------------------
    def _ask_deno(self, channel: str, msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
        """One request of our own to Deno, and its reply (its output is never relayed)."""
        import zmq

        sock = self.inner[channel]
        msg = self.session.msg(msg_type, content)
        self.internal.add(msg["header"]["msg_id"])
        self.session.send(sock, msg)
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        deadline = monotonic() + _READY_TIMEOUT
        while True:
            if not poller.poll(100):
                if self.process.poll() is not None:
                    raise DenoExited(f"Deno's kernel exited ({self.process.returncode}) "
                                     f"before it answered a {msg_type}")  # fmt: skip
                if monotonic() > deadline:
                    raise RuntimeError(f"Deno's kernel did not answer a {msg_type} in time")
                continue
            _, parts = self.session.feed_identities(sock.recv_multipart())
            reply = self.session.deserialize(parts)
            if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                return reply

    def start(self) -> None:
        """Wait for Deno, then define ``zingyConn`` in it before any cell of the client's:
        the prelude goes first on the shell channel, which Deno serves in order, so the
        client's requests are relayed at once (its reply is checked in ``_to_client``).
        A Deno that exits first is started again on other ports (``START_TRIES``)."""
        for tries in range(1, START_TRIES + 1):
            try:
                self._ask_deno("shell", "kernel_info_request", {})
                break
            except DenoExited as exc:
                sys.stderr.write(f"zingy-nb: {exc}; see its output above.\n")
                if tries == START_TRIES:
                    raise
                self.process, _, inner = start_deno(self.deno, self.info, self.private)
                self._connect(inner)
        msg = self.session.msg(
            "execute_request",
            {"code": bridge.prelude(self.private), "silent": True, "store_history": False,
             "allow_stdin": False, "user_expressions": {}, "stop_on_error": False},
        )  # fmt: skip
        self.prelude = msg["header"]["msg_id"]
        self.internal.add(self.prelude)
        self.session.send(self.inner["shell"], msg)
        from ..kernel.outgoing import install

        install(self.session)  # from here on every message to the client is redacted
        self.bridge.start()

    # -- relay ------------------------------------------------------------------------
    def _to_deno(self, channel: str) -> None:
        frames = self.outer[channel].socket.recv_multipart()
        idents, parts = self.session.feed_identities(frames)
        try:
            header = json.loads(cast(bytes, parts[1]))
        except (IndexError, ValueError):
            return  # not a message: dropped, as a kernel would
        self.routes[str(header.get("msg_id"))] = list(idents)
        if header.get("msg_type") == "execute_request":
            self.executing.add(str(header.get("msg_id")))  # its idle waits for its reply
        while len(self.routes) > ROUTES:
            self.routes.popitem(last=False)
        self.inner[channel].send_multipart([b"<IDS|MSG>", *parts])  # jupyter_client's DELIM

    def _to_client(self, channel: str) -> None:
        frames = self.inner[channel].recv_multipart()
        idents, parts = self.session.feed_identities(frames)
        try:
            msg = self.session.deserialize(parts)
        except Exception:  # a bad signature or frame: never relayed
            return
        parent = str(msg["parent_header"].get("msg_id"))
        if parent in self.internal:
            if parent == self.prelude and msg["msg_type"] == "execute_reply":
                if msg["content"].get("status") != "ok":  # told where the server logs
                    sys.stderr.write(f"zingy-nb: zingyConn could not be defined in Deno: "
                                     f"{msg['content'].get('evalue')}\n")  # fmt: skip
            return
        if channel != "iopub":
            idents = self.routes.get(parent, [])
            if not idents:
                return  # nobody to send it to
        elif (
            parent in self.executing
            and msg["msg_type"] == "status"
            and msg["content"].get("execution_state") == "idle"
        ):
            self.idle[parent] = (msg, list(idents))  # held: see ``_release_idle``
            return
        if parent in self.idle or msg["msg_type"] == "execute_reply":
            self.quiet[parent] = monotonic() + SETTLE
        self.session.send(cast(Any, self.outer[channel]), msg, ident=idents)

    def _release_idle(self) -> None:
        """Send the idle status of each request whose reply went out and whose output
        has been quiet for ``SETTLE``: Deno sometimes publishes a cell's result just
        after its idle status, and nbclient, papermill and nbval stop collecting a
        cell's output at idle."""
        now = monotonic()
        for parent in [p for p in self.idle if p in self.quiet and self.quiet[p] <= now]:
            msg, idents = self.idle.pop(parent)
            self.quiet.pop(parent, None)
            self.executing.discard(parent)
            self.session.send(cast(Any, self.outer["iopub"]), msg, ident=idents)

    def run(self) -> int:
        """Relay until Deno exits; its exit status is ours."""
        import zmq

        poller = zmq.Poller()
        sockets = {}
        for channel in ("shell", "control", "stdin"):
            poller.register(self.outer[channel].socket, zmq.POLLIN)
            sockets[self.outer[channel].socket] = (self._to_deno, channel)
        for channel, sock in self.inner.items():
            poller.register(sock, zmq.POLLIN)
            sockets[sock] = (self._to_client, channel)
        while self.process.poll() is None:
            for sock, _ in poller.poll(2 if self.idle else 200):
                relay, channel = sockets[sock]
                relay(channel)
            if self.idle:
                self._release_idle()
        return self.process.returncode or 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.bridge.stop()
        self.context.destroy(linger=0)
        shutil.rmtree(self.private, ignore_errors=True)  # Deno's cache and the FIFOs


def _heartbeat(context: Any, url: str) -> None:
    """Echo heartbeats: this process lives exactly as long as Deno's kernel."""
    import zmq

    sock = context.socket(zmq.REP)
    sock.linger = 0
    sock.bind(url)
    try:
        while True:
            sock.send(sock.recv())
    except zmq.ZMQError:
        pass


def _pass_through(pipe: io.BufferedReader, fd: int) -> None:
    """Deno's own process output, redacted, to ours (the server's log, a terminal)."""
    from ..kernel.outgoing import continue_masked

    context = ""
    while chunk := pipe.read1(65536):
        text = chunk.decode("utf-8", "surrogateescape")
        masked, _, context = continue_masked(context, text, hold=False)
        try:
            os.write(fd, masked.encode("utf-8", "surrogateescape"))
        except OSError:
            return


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zingy_nb.js.proxy")
    parser.add_argument("--deno", required=True, help="the deno executable")
    parser.add_argument("connection_file")
    # Runners pass ipykernel's options (`--IPKernelApp.log_level=...`): not Deno's
    args, _ = parser.parse_known_args(argv)
    from ..agent.harden import set_not_dumpable
    from ..kernel.conn import use_agent_in_kernel

    info = json.loads(Path(args.connection_file).read_text())
    # First the heartbeat: a client that hears none within a second (jupyter_client's
    # time_to_dead) takes the kernel for dead before it answers kernel_info
    import zmq

    context = zmq.Context()
    threading.Thread(target=_heartbeat, args=(context, _url(info, "hb")), daemon=True).start()
    set_not_dumpable()  # Deno runs as us: it must not read our capability in /proc
    use_agent_in_kernel()
    process, private, inner = start_deno(args.deno, info)
    try:
        proxy = Proxy(context, info, args.deno, process, private, inner)
    except BaseException:
        process.kill()
        shutil.rmtree(private, ignore_errors=True)
        raise
    signal.signal(signal.SIGTERM, lambda *_: proxy.process.terminate())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts come as messages
    try:
        proxy.start()
        return proxy.run()
    finally:
        proxy.stop()


if __name__ == "__main__":
    sys.exit(main())
