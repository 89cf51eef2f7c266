"""A kernel for the leak table: every message on every channel is recorded.

``tests/kernels.py`` collects a cell's iopub output by parent; a leak can hide anywhere
else (a reply's payload, a message sent after idle, an ``inspect_reply``, a comm
message), so this client keeps everything it reads and drains iopub after each request.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..kernels import Kernel

Recorded = list[tuple[str, dict[str, Any]]]


@dataclass
class Result:
    """What one request produced, on every channel."""

    reply: dict[str, Any]
    messages: Recorded = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.reply["content"].get("status"))

    @property
    def ename(self) -> str | None:
        return self.reply["content"].get("ename")

    def stream(self) -> str:
        return "".join(m["content"]["text"] for ch, m in self.messages if m["msg_type"] == "stream")

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if m["msg_type"] == msg_type]


class Recorder:
    """Wraps a started ``Kernel``; ``execute`` and ``inspect`` record every message."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.kc = kernel.kc

    def _drain(self, into: Recorded, quiet: float) -> None:
        while True:
            try:
                into.append(("iopub", self.kc.get_iopub_msg(timeout=quiet)))
            except queue.Empty:
                return

    def _until_reply(
        self,
        msg_id: str,
        into: Recorded,
        timeout: float,
        answer: Callable[[dict[str, Any]], str] | None = None,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        reply: dict[str, Any] | None = None
        idle = False
        while reply is None or not idle:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no reply/idle within {timeout}s")
            for channel, get in (("iopub", self.kc.get_iopub_msg), ("shell", self.kc.get_shell_msg),
                                 ("stdin", self.kc.get_stdin_msg)):  # fmt: skip
                try:
                    msg = get(timeout=0.02)
                except queue.Empty:
                    continue
                into.append((channel, msg))
                parent = msg.get("parent_header", {}).get("msg_id")
                if channel == "shell" and parent == msg_id:
                    reply = msg
                elif channel == "stdin" and msg["msg_type"] == "input_request":
                    self.kc.input(answer(msg) if answer else "")
                elif (
                    channel == "iopub"
                    and parent == msg_id
                    and msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle"
                ):
                    idle = True
        self._drain(into, quiet=0.3)  # late messages (a held tail, a thread's output)
        return reply

    def execute(
        self,
        code: str,
        *,
        allow_stdin: bool = False,
        answer: Callable[[dict[str, Any]], str] | None = None,
        timeout: float = 60,
    ) -> Result:
        recorded: Recorded = []
        self._drain(recorded, quiet=0.05)
        msg_id = self.kc.execute(code, store_history=True, allow_stdin=allow_stdin)
        reply = self._until_reply(msg_id, recorded, timeout, answer)
        return Result(reply, recorded)

    def inspect(self, code: str, detail_level: int = 0) -> Result:
        """What Shift-Tab (0) or ``?`` in the inspector panel (1) gets for the cursor at
        the end of ``code``."""
        recorded: Recorded = []
        msg_id = self.kc.inspect(code, len(code), detail_level)
        reply = self._until_reply(msg_id, recorded, 60)
        return Result(reply, recorded)

    def send_comm(self, comm_id: str, data: Mapping[str, Any]) -> Result:
        """A comm message as a browser sends it (a widget update or a click)."""
        recorded: Recorded = []
        msg = self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": dict(data)})
        self.kc.shell_channel.send(msg)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                got = self.kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                continue
            recorded.append(("iopub", got))
            if (
                got.get("parent_header", {}).get("msg_id") == msg["header"]["msg_id"]
                and got["msg_type"] == "status"
                and got["content"]["execution_state"] == "idle"
            ):
                break
        self._drain(recorded, quiet=0.3)
        return Result({"content": {"status": "ok"}}, recorded)
