"""Real Jupyter kernels for tests: start one with an environment, run cells, stop it.

A kernel is started through ``jupyter_client`` (the same way the server starts one) with
the environment a test chooses, above all ``ZINGY_NB_FLOW`` and ``ZINGY_NB_HOME``, so
the flow mode is fixed by a real process start. Everything the kernel sends for a cell
(iopub messages and the execute reply) is collected, so a test can check both what the
cell did and what it printed. Typical use, in a module-scoped fixture::

    with running_kernel(kernel_env(flow="cloud-flow", home=home)) as kernel:
        kernel.ok("%load_ext zingy_nb")
        cell = kernel.run("zingyConn.apikey('stripe')")
        assert cell.ename == "CloudFlowOnlyError"

Kernels are always shut down when the ``with`` block ends.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager

#: iopub message types that are cell output (what a notebook would show or save).
OUTPUT_TYPES = frozenset(
    {"stream", "display_data", "update_display_data", "execute_result", "error", "clear_output"}
)
TIMEOUT = 60


def kernel_env(*, flow: str | None, home: Path | str, **extra: str | None) -> dict[str, str]:
    """This process's environment with ``ZINGY_NB_FLOW`` set (or removed when None).

    ``extra`` adds variables; a value of None removes one.
    """
    env = dict(os.environ)
    env.pop("ZINGY_NB_FLOW", None)
    if flow is not None:
        env["ZINGY_NB_FLOW"] = flow
    env["ZINGY_NB_HOME"] = str(home)
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


CLI = str(Path(sys.executable).with_name("zingy-nb"))


def run_cli(home: Path | str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``zingy-nb ARGS`` in its own process, on the store a kernel on ``home`` uses.

    It must succeed (the failure shows its stderr).
    """
    proc = subprocess.run(
        [CLI, *args], input=stdin, env=kernel_env(flow=None, home=home),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc


class Replied:
    """The error an execute reply names (``reply``: the reply's content), if any."""

    reply: dict[str, Any]

    @property
    def ename(self) -> str | None:
        return self.reply.get("ename")

    @property
    def evalue(self) -> str:
        return str(self.reply.get("evalue", ""))


@dataclass
class Cell(Replied):
    """What one execute request produced."""

    code: str
    reply: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.reply["status"])

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """The iopub messages that are cell output, in order."""
        return [m for m in self.messages if m["msg_type"] in OUTPUT_TYPES]

    def stream(self, name: str | None = None) -> str:
        """Text of the cell's stream output (``stdout``, ``stderr`` or both)."""
        return "".join(
            m["content"]["text"]
            for m in self.outputs
            if m["msg_type"] == "stream" and name in (None, m["content"]["name"])
        )

    @property
    def stdout(self) -> str:
        return self.stream("stdout")

    @property
    def result(self) -> str | None:
        """The ``text/plain`` of the cell's execute_result, if any."""
        for m in self.outputs:
            if m["msg_type"] == "execute_result":
                return str(m["content"]["data"].get("text/plain"))
        return None

    @property
    def payload_text(self) -> str:
        """Text of reply payloads (``%magic?`` help arrives as a ``page`` payload)."""
        return "".join(
            str(p.get("data", {}).get("text/plain", "")) for p in self.reply.get("payload", [])
        )

    def everything(self) -> str:
        """The cell's output and reply as text, for "never shows X" checks.

        ``execute_input`` (the kernel echoing the code it was sent) is left out.
        """
        return repr([m["content"] for m in self.outputs]) + repr(self.reply)

    def describe(self) -> str:
        return (
            f"cell {self.code!r}: status={self.status} ename={self.ename} "
            f"evalue={self.evalue!r}\nstream={self.stream()!r}"
        )


class Kernel:
    """A started kernel and its blocking client."""

    def __init__(self, km: KernelManager, log: Path | None) -> None:
        self.km = km
        self.log = log
        self.kc = km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=TIMEOUT)

    def run(self, code: str, *, allow_stdin: bool = False, timeout: float = TIMEOUT) -> Cell:
        """Execute ``code`` as a cell (stored in history) and collect what it produced."""
        messages: list[dict[str, Any]] = []
        reply = self.kc.execute_interactive(
            code,
            store_history=True,
            allow_stdin=allow_stdin,
            timeout=timeout,
            output_hook=messages.append,
        )
        return Cell(code, reply["content"], messages)

    def ok(self, code: str, **kw: Any) -> Cell:
        """Like ``run``, but the cell must succeed."""
        cell = self.run(code, **kw)
        assert cell.status == "ok", cell.describe()
        return cell

    def complete(self, code: str, cursor_pos: int | None = None) -> dict[str, Any]:
        """The kernel's ``complete_reply`` content for ``code`` (cursor at the end)."""
        reply = self.kc.complete(code, cursor_pos, reply=True, timeout=TIMEOUT)
        return dict(reply["content"])

    def log_text(self) -> str:
        """What the kernel process wrote to its own stderr (the server's log)."""
        return self.log.read_text(errors="replace") if self.log else ""

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=False)


@contextmanager
def running_kernel(env: Mapping[str, str], *, log: Path | None = None) -> Iterator[Kernel]:
    """A python3 kernel started with exactly ``env``; its stderr goes to ``log`` if given.

    The extension is not loaded: the first cell of a test does ``%load_ext zingy_nb``.
    """
    km = KernelManager(kernel_name="python3")
    log_file = open(log, "wb") if log is not None else None
    try:
        km.start_kernel(env=dict(env), stderr=log_file)
        try:
            kernel = Kernel(km, log)
        except BaseException:
            km.shutdown_kernel(now=True)
            raise
        try:
            yield kernel
        finally:
            kernel.shutdown()
    finally:
        if log_file is not None:
            log_file.close()


# -- reading values back through zingyConn without printing them ---------------------------
#: Defines ``_znb_digests(name)`` in a kernel (after ``%load_ext zingy_nb``): it retrieves
#: the profile through ``zingyConn.apikey`` and prints each slot's SHA-256 (None if
#: unset) as JSON, so values are compared exactly without a value in any output.
DEFINE_DIGESTS = """
def _znb_digests(name):
    import hashlib, json
    info = zingyConn.apikey(name)
    print(json.dumps({slot: None if info[slot] is None
                      else hashlib.sha256(info[slot].encode("utf-8")).hexdigest()
                      for slot in info}))
"""


def digests(*values: str | None) -> dict[str, str | None]:
    """What ``_znb_digests`` prints for a profile holding ``values`` (secret1 first)."""
    padded = list(values) + [None] * (4 - len(values))
    return {
        f"secret{i}": None if v is None else hashlib.sha256(v.encode("utf-8")).hexdigest()
        for i, v in enumerate(padded, start=1)
    }


def read_digests(kernel: Kernel, name: str) -> dict[str, str | None]:
    """Retrieve ``name`` in ``kernel`` (which ran ``DEFINE_DIGESTS``); slot digests."""
    return dict(json.loads(kernel.ok(f"_znb_digests({name!r})").stdout))
