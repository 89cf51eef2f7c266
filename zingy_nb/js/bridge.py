"""The JavaScript kernel's ``zingyConn`` calls, answered by Python's.

Deno has no synchronous socket, and Zingy's custom code calls ``zingyConn.apikey``
synchronously: the prelude writes one JSON line to a FIFO and blocks reading the answer
from another (both in the proxy's private folder, 0700). A daemon thread here answers
each with ``kernel.conn.zingyConn`` (flow, notebook consent and audit are the agent's;
the values it hands out are registered with this process's redactor on the way), and an
error as its class name and message, so a refusal reads as in a Python kernel.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

from ..errors import ZingyError

REQUEST: Final = "zingy-request"
ANSWER: Final = "zingy-answer"
#: Grows by one byte with every change the agent pushes; gone once pushes stop.
GENERATION: Final = "zingy-generation"
#: The longest request line read (a profile name is far shorter).
MAX_LINE: Final = 64 * 1024


def prelude(folder: Path) -> str:
    """The JavaScript that defines ``zingyConn``, with this kernel's FIFOs and
    generation file."""
    code = files(__package__).joinpath("prelude.js").read_text(encoding="utf-8")
    for mark, name in (("@REQUEST@", REQUEST), ("@ANSWER@", ANSWER), ("@GENERATION@", GENERATION)):
        code = code.replace(f'"{mark}"', json.dumps(str(folder / name)))
    return code


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """What one call gets: its values, or the error Python's ``zingyConn`` raised."""
    from ..kernel.conn import zingyConn

    try:
        name = request.get("name")
        if not isinstance(name, str):
            raise TypeError("zingyConn.apikey() takes a connection name (a string).")
        if request.get("op") == "execute":
            info = zingyConn.execute(name, str(request.get("command")))
        elif request.get("op") == "apikey":
            info = zingyConn.apikey(name)
        else:
            raise TypeError(f"zingyConn has no call {request.get('op')!r}.")
        return {"values": dict(info)}
    except (ZingyError, TypeError) as exc:
        return {"error": {"name": type(exc).__name__, "message": _for_javascript(str(exc))}}


#: Advice in Python's messages that a JavaScript kernel cannot follow, and its own.
_PYTHON_ONLY = (
    (
        "`%zingy_apikey list` or `zingy-nb profiles list`",
        "`zingy-nb profiles list` in a terminal or JupyterLab's API Keys sidebar",
    ),
)


def _for_javascript(message: str) -> str:
    """Python's wording, pointing at this kernel's cloud-flow twin and at what a
    JavaScript notebook's user can do (no magics here)."""
    from ..kernels import JS_KERNELS, KERNELS

    python, js = KERNELS["zingy-cloud-flow"][1], JS_KERNELS["zingy-js-cloud-flow"][1]
    message = message.replace(f'"{python}"', f'"{js}"')
    for python_advice, js_advice in _PYTHON_ONLY:
        message = message.replace(python_advice, js_advice)
    return message


class Bridge:
    """The two FIFOs, the generation file, and the thread that serves them (one
    caller: the kernel's code)."""

    def __init__(self, folder: Path) -> None:
        self.request, self.answer = folder / REQUEST, folder / ANSWER
        for path in (self.request, self.answer):
            os.mkfifo(path, 0o600)
        self.generation = folder / GENERATION
        self._stopped = False

    def _pushed(self, live: bool) -> None:
        """A change was pushed: the prelude's cache is stale. Pushes ended: it has no
        way left to know, so the file goes and every call asks."""
        if live:
            with open(self.generation, "ab") as grown:
                grown.write(b".")
        else:
            with contextlib.suppress(OSError):
                self.generation.unlink()

    def _token(self) -> int | None:
        """What an answer is fresh against (read before the values are)."""
        try:
            return self.generation.stat().st_size
        except OSError:
            return None

    def start(self) -> None:
        from ..agent import watch

        self.generation.touch(0o600)
        watch.listeners.append(self._pushed)
        threading.Thread(target=self._serve, name="zingy-nb-js-bridge", daemon=True).start()

    def _serve(self) -> None:
        while not self._stopped:
            # Both sides open the request FIFO first, then the answer one: no deadlock.
            with open(self.request, "rb") as requests, open(self.answer, "wb", 0) as answers:
                for line in iter(lambda: requests.readline(MAX_LINE), b""):
                    try:
                        said = json.loads(line)
                    except ValueError:
                        said = {}
                    token = self._token()
                    reply = answer(said if isinstance(said, dict) else {})
                    if "values" in reply and token is not None and self._watched():
                        reply["fresh"] = token  # cacheable until the file grows
                    try:
                        answers.write(json.dumps(reply).encode() + b"\n")
                    except OSError:  # the kernel closed its end: wait for it to reopen
                        break

    @staticmethod
    def _watched() -> bool:
        """Whether the agent's pushes reach this process (else nothing is cached)."""
        from ..agent.remote import RemoteProfiles
        from ..profiles import get_profiles

        profiles = get_profiles()  # the one zingyConn answers from
        return isinstance(profiles, RemoteProfiles) and profiles.pushed

    def stop(self) -> None:
        self._stopped = True
        for path in (self.request, self.answer, self.generation):
            with contextlib.suppress(OSError):
                path.unlink()
