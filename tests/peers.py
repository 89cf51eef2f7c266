"""Stand-ins for launchers and kernels: small Python processes that talk to the agent
over its socket, so that the agent judges real pids (``SO_PEERCRED``), not the test's."""

from __future__ import annotations

import asyncio
import json
import select
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

WAIT = 90.0  # generous: a loaded 2-core machine

#: One JSON command per stdin line, one JSON answer per stdout line. ``child`` runs a
#: command in a child process of this one (same argv). With ``keep`` (argv) the peer
#: holds one connection, as a front end must; else it connects anew for each command
#: and holds none between them, so that only its pid keeps its kernel entry alive.
PEER = r"""
import contextlib, json, os, subprocess, sys
from zingy_nb.agent import connect
from zingy_nb.errors import ZingyError

KEEP = "keep" in sys.argv[1:]
client = None

def connection():
    global client
    if not KEEP:
        return connect()
    client = client or connect()
    return contextlib.nullcontext(client)

def do(cmd):
    what = cmd["do"]
    if what == "pid":
        return {"ok": True, "pid": os.getpid()}
    if what == "child":
        child = subprocess.Popen([sys.executable, *sys.argv], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        out, _ = child.communicate(json.dumps(cmd["cmd"]) + "\n", timeout=120)
        return json.loads(out.splitlines()[0])
    try:
        with connection() as agent:
            if what == "register":
                flow = cmd.get("flow", "cloud-flow")
                return {"ok": True, "cap": agent.register(flow, cmd.get("notebook"))}
            if what == "retrieve":
                return {"ok": True, "values": list(agent.retrieve(cmd["cap"], cmd["name"]))}
            if what == "frontend":
                agent.frontend()
                return {"ok": True}
    except ZingyError as exc:
        return {"ok": False, "error": type(exc).__name__, "message": str(exc)}

for line in sys.stdin:
    try:
        answer = do(json.loads(line))
    except KeyboardInterrupt:  # as a cell interrupted while it waits for the agent
        answer = {"ok": False, "error": "KeyboardInterrupt"}
    print(json.dumps(answer), flush=True)
"""


def peer_script(folder: Path) -> Path:
    """``PEER`` written to ``folder/peer.py``."""
    script = folder / "peer.py"
    script.write_text(PEER)
    return script


class Peer:
    """A running stand-in process; ``send`` a command, ``answer`` reads its reply."""

    def __init__(
        self, script: Path, env: Mapping[str, str] | None = None, keep: bool = False
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(script), *(["keep"] if keep else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.pid = self.proc.pid

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def answer(self, timeout: float = WAIT, what: str = "its command") -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, f"the peer did not answer {what} within {timeout:g} s"
        line = self.proc.stdout.readline()
        assert line, f"the peer exited instead of answering {what}"
        found: dict[str, Any] = json.loads(line)
        return found

    def ask(self, **cmd: Any) -> dict[str, Any]:
        self.send(**cmd)
        return self.answer(what=cmd["do"])

    async def later(self) -> dict[str, Any]:
        """The reply, read off the server's event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, self.answer)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=WAIT)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
