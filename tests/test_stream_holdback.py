"""The leak rule holds across the consecutive stream messages of a cell.

A front end joins a cell's consecutive stream outputs, so a value printed in pieces
(flushes and sleeps in between, a slow subprocess) must not show when the pieces are
joined. Real kernels run the rows; the check joins every stream text per (request,
stream name) and looks for each value whole and for every 16-character window of each
value of 24+ characters, with its own brute force rather than the redactor.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kernels import Kernel, kernel_env, run_cli, running_kernel
from zingy_nb.redact import MASK

LONG = "sk_live_MADEUP_split0123456789abcdefXYZ"  # 24+: the 16-run rule applies
SHORT = "Zq8MadUp"  # 8 characters: matched only whole
VALUES = (LONG, SHORT)

Timed = list[tuple[float, dict[str, Any]]]


def leaks(text: str) -> list[str]:
    """Every registered value found whole in ``text``, and every 16-run of a long one."""
    found = [f"whole {v!r}" for v in VALUES if v in text]
    for v in VALUES:
        if len(v) >= 24:
            found += [f"run {v[i : i + 16]!r}" for i in range(len(v) - 15) if v[i : i + 16] in text]
    return found


def streams(messages: Timed) -> list[dict[str, Any]]:
    return [m for _, m in messages if m["msg_type"] == "stream"]


def joined(messages: Timed) -> dict[tuple[str, str], str]:
    """Stream text joined per (parent msg_id, stream name), as a front end shows it."""
    out: dict[tuple[str, str], str] = {}
    for m in streams(messages):
        key = (m["parent_header"].get("msg_id"), m["content"]["name"])
        out[key] = out.get(key, "") + m["content"]["text"]
    return out


def run_timed(kernel: Kernel, code: str) -> Timed:
    """Run a cell; every iopub message of it (up to idle) with the time it arrived."""
    got: Timed = []
    reply = kernel.kc.execute_interactive(
        code, timeout=60, output_hook=lambda m: got.append((time.monotonic(), m))
    )
    assert reply["content"]["status"] in ("ok", "error"), reply["content"]
    assert got[-1][1]["msg_type"] == "status"  # collection ends at idle
    return got


def arrival(messages: Timed, predicate: Any) -> tuple[int, float]:
    """Index and arrival time of the first message for which ``predicate`` holds."""
    for i, (t, m) in enumerate(messages):
        if predicate(m):
            return i, t
    raise AssertionError(f"no such message in {[m['msg_type'] for _, m in messages]}")


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    home = tmp_path_factory.mktemp("holdback-home")
    run_cli(home, "profiles", "set", "split", "--stdin", stdin=f"{LONG}\n{SHORT}\n")
    with running_kernel(kernel_env(flow="cloud-flow", home=home)) as k:
        k.ok("%load_ext zingy_nb")
        k.ok(
            "import os, sys, time; info = zingyConn.apikey('split'); v = info.secret1; w = info.secret2"
        )
        yield k


SLOW_SCRIPT = (
    "import os, sys, time\n"
    "v = os.environ['ZNB_SPLIT']\n"
    "for i in range(0, len(v), 3):\n"
    "    sys.stdout.write(v[i:i + 3]); sys.stdout.flush(); time.sleep(0.25)\n"
    "print()\n"
)


def subprocess_cell(value: str, tmp: Path) -> str:
    """A cell whose ``!`` subprocess writes ``value`` 3 characters at a time."""
    script = tmp / "slow.py"
    script.write_text(SLOW_SCRIPT)
    return f"os.environ['ZNB_SPLIT'] = {value}\n!{{sys.executable}} {script}"


# Each row leaks a value in pieces that arrive as separate stream messages.
ROWS = {
    "split print, flush and sleep": "print(v[:10], end='', flush=True); time.sleep(0.3); print(v[10:])",
    "short value split 4|4": "print(w[:4], end='', flush=True); time.sleep(0.3); print(w[4:])",
    "short value split on stderr": (
        "sys.stderr.write(w[:4]); sys.stderr.flush(); time.sleep(0.3); sys.stderr.write(w[4:] + '\\n')"
    ),
    "split around other output": (
        "print(w[:5], end='', flush=True); print('note', file=sys.stderr, flush=True); print(w[5:])"
    ),
    "16-run split across messages": (
        "print('<' + v[3:13], end='', flush=True); time.sleep(0.3); print(v[13:23] + '>')"
    ),
    "16-run split in three": (
        "print(v[2:8], end='', flush=True); time.sleep(0.3)\n"
        "print(v[8:14], end='', flush=True); time.sleep(0.3); print(v[14:20])"
    ),
    "subprocess, short value": "w",
    "subprocess, long value": "v",
}


@pytest.mark.parametrize("row", list(ROWS))
def test_a_value_split_across_stream_messages_does_not_show_joined(
    kernel: Kernel, row: str, tmp_path: Path
) -> None:
    code = ROWS[row]
    if row.startswith("subprocess"):
        code = subprocess_cell(code, tmp_path)
    messages = run_timed(kernel, code)
    assert len(streams(messages)) >= 2, (row, streams(messages))  # it did arrive in pieces
    for key, text in joined(messages).items():
        assert leaks(text) == [], (row, key, text)
    assert MASK in "".join(joined(messages).values()), row


RELEASED_BEFORE = {
    "display_data": "print('abc', end='', flush=True); display('shown'); print('def', end='', flush=True)",
    "execute_result": "print('abc', end='', flush=True); 42",
    "error": "print('abc', end='', flush=True); raise ValueError('boom')",
    "stderr": "print('abc', end='', flush=True); print('err', file=sys.stderr, flush=True)",
}


@pytest.mark.parametrize("then", list(RELEASED_BEFORE))
def test_held_text_goes_out_before_the_requests_next_message_and_idle(
    kernel: Kernel, then: str
) -> None:
    messages = run_timed(kernel, RELEASED_BEFORE[then])
    abc, _ = arrival(messages, lambda m: "abc" in m["content"].get("text", ""))
    other, _ = arrival(
        messages,
        lambda m: m["msg_type"] == then or m["content"].get("name") == then,
    )
    assert abc < other, [m for _, m in messages]
    stdout = "".join(
        m["content"]["text"] for m in streams(messages) if m["content"]["name"] == "stdout"
    )
    # Everything printed arrived before idle (collection stops there), in order
    assert stdout == ("abcdef" if then == "display_data" else "abc"), stdout


def test_a_lone_tail_goes_out_within_a_moment_while_the_cell_runs(kernel: Kernel) -> None:
    # Five characters that begin the long value: held, as they could begin a run
    messages = run_timed(kernel, "print(v[:5], end='', flush=True); time.sleep(1.0)")
    _, started = arrival(messages, lambda m: m["msg_type"] == "execute_input")
    _, shown = arrival(messages, lambda m: m["content"].get("text") == LONG[:5])
    _, idle = arrival(messages, lambda m: m["content"].get("execution_state") == "idle")
    # Held for about 100 ms; generous bounds, as CI machines are slow
    assert shown - started < 0.6, (shown - started, idle - started)
    assert idle - shown > 0.3, (shown - started, idle - started)


def test_ordinary_output_is_complete_and_state_is_forgotten(kernel: Kernel) -> None:
    for _ in range(3):
        cell = kernel.ok("print('hello', flush=True); time.sleep(0.05); print('world ' * 10)")
        assert cell.stdout == "hello\n" + "world " * 10 + "\n"
    tracked = kernel.ok("print(len(get_ipython().kernel.session.send._filter._streams))")
    assert tracked.stdout == "0\n"  # earlier requests' streams were dropped at their idle


def test_ordinary_output_with_values_registered_is_neither_held_nor_split(
    kernel: Kernel,
) -> None:
    """Only a tail that could begin a match waits: text ending in what no value holds
    (a newline, usually) goes out at once and whole, so saved notebooks keep one
    stream output per print, as without zingy-nb."""
    code = (
        "print('Flow mode: page-flow (from ZINGY_NB_FLOW): retrieval refused', flush=True)\n"
        "time.sleep(0.3)\nprint('second line', flush=True); time.sleep(0.3)"
    )
    messages = run_timed(kernel, code)
    texts = [m["content"]["text"] for m in streams(messages)]
    assert texts == [
        "Flow mode: page-flow (from ZINGY_NB_FLOW): retrieval refused\n",
        "second line\n",
    ]
    _, first = arrival(messages, lambda m: m["msg_type"] == "stream")
    _, idle = arrival(messages, lambda m: m["content"].get("execution_state") == "idle")
    assert idle - first > 0.45  # the first line came out while the cell still ran


def test_with_nothing_registered_output_is_not_held(tmp_path: Path) -> None:
    code = (
        "import time; print('x' * 40, flush=True); time.sleep(0.3)\n"
        "print('yyy', end='', flush=True); time.sleep(0.3)"
    )
    with running_kernel(kernel_env(flow="cloud-flow", home=tmp_path / "home")) as k:
        k.ok("%load_ext zingy_nb")
        check = k.ok(
            "from zingy_nb.redact import redactor\n"
            "print(len(redactor), hasattr(get_ipython().kernel.session.send, '__wrapped__'))"
        )
        assert check.stdout == "0 True\n"  # the filter is installed, with nothing to redact
        messages = run_timed(k, code)
    # The same messages as written, none split, none held back
    assert [m["content"]["text"] for m in streams(messages)] == ["x" * 40 + "\n", "yyy"]
