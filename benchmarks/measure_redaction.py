"""What redaction costs: registering 1,000 secrets, and a kernel printing 10 MB with them.

Registration: 1,000 values registered one after another on a fresh ``Redactor`` (as a
loop of retrievals does), plus the first scan after them, which builds the matcher;
in this process, the values made beforehand.

Printing: every message a kernel with the extension sends passes the redactor. With
nothing registered it is skipped; with values registered each string is scanned by
compiled automata. Two real kernels (both with ``%load_ext zingy_nb``; one with 1,000
random secrets registered through ``zingy_nb.redact.register_value``) print the same
10 MB of ordinary text in 1 MB writes; the time is taken by the client, from sending
the execute request to the kernel going idle, after which all output has arrived.
Repetitions alternate between the kernels, after one warm-up print each (in which the
redactor folds its first, quickly built automata into one DFA: after 2 MB scanned).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter_ns
from typing import Any

from .common import scaled

CHUNK_BYTES = scaled(1_000_000, 20_000)
CHUNKS = scaled(10, 2)
SECRETS = scaled(1_000, 20)

MAKE_TEXT = f"""
import random, sys
_r = random.Random(7)
_words = ("the quick brown fox jumps over a lazy dog while invoice 2024-11 for order "
          "number 48213 ships to customers in Lisbon status ok retry later").split()
_parts, _n = [], 0
while _n < {CHUNK_BYTES}:
    _line = " ".join(_r.choice(_words) for _ in range(14)) + "\\n"
    _parts.append(_line)
    _n += len(_line)
_chunk = "".join(_parts)[:{CHUNK_BYTES}]
"""

#: Made-up secrets of the shapes real API keys have: a quarter each of prefixed
#: (``sk_live_``), hex, base64url and Slack-style tokens. Their first characters cover
#: most letters and digits, as a real mix does (shared prefixes would flatter the scan).
SECRET_SHAPES = """
import secrets as _s
def _znb_secret(i):
    kind = i % 4
    if kind == 0:
        return "sk_live_" + _s.token_urlsafe(18)
    if kind == 1:
        return _s.token_hex(20)
    if kind == 2:
        return _s.token_urlsafe(24)
    return "xoxb-" + str(_s.randbelow(10**12)) + "-" + _s.token_hex(12)
"""

REGISTER = (
    SECRET_SHAPES
    + f"""
from zingy_nb.redact import register_value
_secrets = [_znb_secret(i) for i in range({SECRETS})]
assert all(register_value(v) for v in _secrets)
"""
)

PRINT = f"""
for _ in range({CHUNKS}):
    sys.stdout.write(_chunk)
sys.stdout.flush()
"""


@dataclass
class Redaction:
    plain: list[float] = field(default_factory=list)
    redacted: list[float] = field(default_factory=list)
    register_ns: float = float("nan")
    scan_ns: list[float] = field(default_factory=list)
    registration_ns: list[float] = field(default_factory=list)


def _timed_print(kernel: Any) -> float:
    """Client-side ns for ``PRINT``; checks every byte arrived and nothing was masked."""
    got = {"bytes": 0, "masked": 0}

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            text = msg["content"]["text"]
            got["bytes"] += len(text)
            got["masked"] += text.count("[REDACTED]")

    t0 = perf_counter_ns()
    reply = kernel.kc.execute_interactive(PRINT, store_history=False, output_hook=hook, timeout=120)
    elapsed = perf_counter_ns() - t0
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"print cell failed: {reply['content'].get('evalue')}")
    if got["bytes"] != CHUNK_BYTES * CHUNKS or got["masked"]:
        raise RuntimeError(f"output arrived incomplete or altered: {got}")
    return elapsed


def registration_in_process(reps: int = scaled(9, 1)) -> list[float]:
    """ns to register ``SECRETS`` values one by one on a fresh ``Redactor`` and run the
    first scan after them (which builds what it scans with), ``reps`` times."""
    from zingy_nb.redact import Redactor

    scope: dict[str, Any] = {}
    exec(SECRET_SHAPES, scope)
    samples: list[float] = []
    for _ in range(reps):
        values = [scope["_znb_secret"](i) for i in range(SECRETS)]
        redactor = Redactor()
        t0 = perf_counter_ns()
        for value in values:
            redactor.register(value)
        shown = redactor.text(values[-1])
        samples.append(perf_counter_ns() - t0)
        if shown != "[REDACTED]":
            raise RuntimeError("the last registered value was not redacted")
    return samples


def scan_in_process(reps: int = scaled(9, 1)) -> list[float]:
    """ns for one ``Redactor.text`` pass over the 1 MB chunk with ``SECRETS`` secrets.

    In this process, on a private ``Redactor``, in its steady state (after the scans
    that fold its automata into one): where the kernel's extra time goes.
    """
    from zingy_nb.redact import Redactor

    scope: dict[str, Any] = {}
    exec(MAKE_TEXT + SECRET_SHAPES, scope)
    redactor = Redactor()
    for i in range(SECRETS):
        redactor.register(scope["_znb_secret"](i))
    chunk = scope["_chunk"]
    for _ in range(3):
        redactor.text(chunk)
    samples: list[float] = []
    for _ in range(reps):
        t0 = perf_counter_ns()
        redactor.text(chunk)
        samples.append(perf_counter_ns() - t0)
    return samples


def measure(log_dir: Path, reps: int = scaled(9, 1)) -> Redaction:
    """Registration in process, then alternating 10 MB prints in a kernel without and
    one with ``SECRETS`` secrets registered."""
    from tests.kernels import running_kernel

    out = Redaction(registration_ns=registration_in_process())
    env = dict(os.environ)
    with (
        running_kernel(env, log=log_dir / "plain.log") as plain,
        running_kernel(env, log=log_dir / "redacting.log") as redacting,
    ):
        for kernel in (plain, redacting):
            kernel.ok("%load_ext zingy_nb")
            kernel.ok(MAKE_TEXT)
        t0 = perf_counter_ns()
        redacting.ok(REGISTER)
        out.register_ns = perf_counter_ns() - t0
        shown = redacting.ok("print(_secrets[0])").stdout
        if "[REDACTED]" not in shown:
            raise RuntimeError("the kernel with secrets does not redact; nothing to compare")
        _timed_print(plain)  # warm-up
        _timed_print(redacting)
        for i in range(reps):
            pair = (plain, redacting) if i % 2 == 0 else (redacting, plain)
            for kernel in pair:
                (out.plain if kernel is plain else out.redacted).append(_timed_print(kernel))
    out.scan_ns = scan_in_process()
    return out
