"""A kernel on a remote Jupyter server, driven over its websocket, as a front end does.

``jupyter_client``'s managers need the kernel's ZMQ ports on this machine; a kernel
behind JupyterHub is reachable only through its server's REST API and the websocket
``<server>/api/kernels/ID/channels``. With no subprotocol requested the server speaks
the JSON form of Jupyter's messaging protocol: one text frame per message, each with a
``channel`` field (``shell``, ``iopub``, ``stdin``, ``control``). That is all this client
uses: send ``execute_request`` on shell, collect every message whose parent is that
request until both the ``execute_reply`` and iopub's ``idle`` status have arrived.

The synchronous ``websocket-client`` package is the client; jupyter_server depends on it.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import websocket

from tests.kernels import Cell

TIMEOUT = 60.0
PROTOCOL_VERSION = "5.3"


class KernelTimeout(AssertionError):
    """The kernel did not answer in time."""


class RemoteKernel:
    """One websocket connection to a running kernel; ``run`` executes a cell."""

    def __init__(self, server_url: str, token: str, kernel_id: str, *, user: str) -> None:
        self.kernel_id = kernel_id
        self.user = user
        self.session = uuid.uuid4().hex
        parts = urlsplit(server_url.rstrip("/") + f"/api/kernels/{kernel_id}/channels")
        scheme = "wss" if parts.scheme == "https" else "ws"
        url = urlunsplit((scheme, parts.netloc, parts.path, f"session_id={self.session}", ""))
        self.ws = websocket.create_connection(
            url, header=[f"Authorization: token {token}"], timeout=TIMEOUT
        )
        self.wait_ready()

    def close(self) -> None:
        self.ws.close()

    def _message(self, msg_type: str, content: dict[str, Any], channel: str) -> dict[str, Any]:
        return {
            "header": {
                "msg_id": uuid.uuid4().hex,
                "msg_type": msg_type,
                "username": self.user,
                "session": self.session,
                "date": datetime.now(timezone.utc).isoformat(),
                "version": PROTOCOL_VERSION,
            },
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": channel,
            "buffers": [],
        }

    def _exchange(
        self, msg_type: str, content: dict[str, Any], timeout: float
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Send one shell request; return its reply and the iopub messages it caused."""
        request = self._message(msg_type, content, "shell")
        msg_id = request["header"]["msg_id"]
        self.ws.send(json.dumps(request))
        reply: dict[str, Any] | None = None
        iopub: list[dict[str, Any]] = []
        idle = False
        deadline = time.monotonic() + timeout
        while reply is None or not idle:
            left = deadline - time.monotonic()
            if left <= 0:
                raise KernelTimeout(f"kernel {self.kernel_id}: no answer to {msg_type}")
            self.ws.settimeout(left)
            try:
                frame = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            if not isinstance(frame, str):
                continue  # a binary frame carries buffers we never ask for
            msg = json.loads(frame)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["channel"] == "shell":
                reply = msg["content"]
            elif msg["channel"] == "iopub":
                iopub.append(msg)
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
        return reply, iopub

    def wait_ready(self, timeout: float = TIMEOUT) -> None:
        """Wait until the kernel answers ``kernel_info_request`` (it is started)."""
        self._exchange("kernel_info_request", {}, timeout)

    def run(self, code: str, *, timeout: float = TIMEOUT) -> Cell:
        """Execute ``code`` as a cell, stdin off; the reply and output as a ``Cell``."""
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        reply, iopub = self._exchange("execute_request", content, timeout)
        return Cell(code, reply, iopub)

    def ok(self, code: str, *, timeout: float = TIMEOUT) -> Cell:
        """``run`` that must succeed (the failure describes the cell)."""
        cell = self.run(code, timeout=timeout)
        assert cell.status == "ok", cell.describe()
        return cell
