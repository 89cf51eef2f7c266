"""Redaction in the kernel: no retrieved secret leaves the kernel in any message.

A real kernel (jupyter_client) retrieves a secret, then leaks it every way a notebook
can; the test reads every message the client receives, on every channel, and finds
no secret's bytes, and finds ``[REDACTED]`` where each was.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kernels import Kernel, kernel_env, run_cli, running_kernel
from zingy_nb.redact import MASK, MIN_LENGTH, Redactor, variants

SECRET = "sk_live_MADEUP_r3dact/me+ok=é"
SECOND = "whsec_MADEUP_second_value"


def forms(value: str) -> list[bytes]:
    """Byte patterns that must not appear anywhere: the value and its encodings."""
    raw = value.encode()
    return [
        raw,
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw),
        urllib.parse.quote(value, safe="").encode(),
        json.dumps(value)[1:-1].encode(),
        repr(value)[1:-1].encode(),
    ]


def every_message(cell) -> str:
    """Every iopub message of a cell (comm messages and buffers included) and its reply."""
    parts = [
        (m["msg_type"], m["content"], m.get("metadata"), [bytes(b) for b in m.get("buffers") or []])
        for m in cell.messages
        if m["msg_type"] != "execute_input"  # the kernel echoing our own code
    ]
    return repr(parts) + repr(cell.reply)


def leaked(cell_text: str) -> list[str]:
    found = []
    data = cell_text.encode("utf-8", "backslashreplace")
    for secret in (SECRET, SECOND):
        for form in forms(secret):
            if form in data:
                found.append(form.decode(errors="replace"))
    return found


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    home = tmp_path_factory.mktemp("redaction-home")
    run_cli(home, "profiles", "set", "stripe", "--stdin", stdin=f"{SECRET}\n{SECOND}\n")
    with running_kernel(kernel_env(flow="cloud-flow", home=home)) as k:
        k.ok("%load_ext zingy_nb")
        k.ok("info = zingyConn.apikey('stripe'); s = info.secret1; s2 = info.secret2")
        yield k


LEAKS = {
    "stream stdout": "print('token:', s)",
    "stream stderr": "import sys; print(s, file=sys.stderr)",
    "execute_result": "s",
    "display_data": "from IPython.display import display, HTML; display(s); display(HTML(f'<b>{s2}</b>'))",
    "update_display_data": "h = display('placeholder', display_id=True); h.update(s)",
    "error": "raise ValueError(f'bad key {s}')",
    "thread": (
        "import threading, time\n"
        "t = threading.Thread(target=lambda: print('from thread', s)); t.start(); t.join(); time.sleep(0.3)"
    ),
    "widget": "import ipywidgets as w; box = w.Text(value=s, description='k'); display(box)",
    "widget update": "box.value = s2 + '!'",
    "encodings": (
        "import base64, json, urllib.parse\n"
        "print(base64.b64encode(s.encode()).decode())\n"
        "print(base64.urlsafe_b64encode(s.encode()).decode())\n"
        "print(urllib.parse.quote(s, safe=''))\n"
        "print(json.dumps({'k': s}))\n"
        "print(repr([s]))"
    ),
    "dict repr": "dict(info)",
}


@pytest.mark.parametrize("how", list(LEAKS))
def test_nothing_the_kernel_sends_holds_the_secret(kernel: Kernel, how: str) -> None:
    cell = kernel.run(LEAKS[how])
    everything = every_message(cell)
    assert leaked(everything) == [], (how, everything[:2000])
    assert MASK in everything, (how, everything[:2000])


def test_error_reply_and_traceback_are_redacted(kernel: Kernel) -> None:
    cell = kernel.run("raise RuntimeError(s)")
    assert cell.ename == "RuntimeError"
    assert cell.evalue == MASK
    assert all(SECRET not in line for line in cell.reply["traceback"])


def test_the_client_sees_no_secret_on_any_channel(kernel: Kernel) -> None:
    # Everything else the client can ask for: history, inspection, completion
    kc = kernel.kc
    replies = [
        kc.history(raw=True, output=True, hist_access_type="tail", n=50, reply=True, timeout=30),
        kc.inspect("s", reply=True, timeout=30),
        kc.complete("s.", reply=True, timeout=30),
    ]
    text = repr([r["content"] for r in replies])
    assert leaked(text) == []


def test_redaction_survives_reload_without_wrapping_twice(kernel: Kernel) -> None:
    kernel.ok("%reload_ext zingy_nb")
    cell = kernel.ok("print(s)")
    assert cell.stdout.strip() == MASK  # once, not "[REDACTED]" re-redacted or raw
    check = kernel.ok(
        "send = get_ipython().kernel.session.send\n"
        "print(hasattr(send, '__wrapped__'), hasattr(send.__wrapped__, '__wrapped__'))"
    )
    assert check.stdout.strip() == "True False"  # wrapped exactly once


def test_short_values_are_documented_and_left_alone() -> None:
    r = Redactor()
    assert r.register("abc12") is False  # below MIN_LENGTH
    assert r.text("abc12 stays") == "abc12 stays"
    assert MIN_LENGTH == 6


def test_one_pattern_covers_many_secrets() -> None:
    r = Redactor()
    secrets = [f"MADEUP-{i:03d}-tok-{i * 7919:x}" for i in range(100)]
    for s in secrets:
        r.register(s)
    text = " | ".join(secrets[::7]) + " " + base64.b64encode(secrets[3].encode()).decode()
    out = r.text(text)
    assert all(s not in out for s in secrets)
    assert out.count(MASK) == len(secrets[::7]) + 1
    assert variants("abcdef") >= {"abcdef", "YWJjZGVm"}


def test_huge_and_nested_values_compile_and_match_whole() -> None:
    r = Redactor()
    huge = "k" * 65_536
    r.register(huge)
    r.register_all("a" * n for n in range(MIN_LENGTH, 300))  # each a prefix of the next
    assert r.text(f"<{huge}>") == f"<{MASK}>"
    assert r.text("z" + "a" * 299 + "z") == f"z{MASK}z"


def test_a_short_value_is_noted_where_the_user_looks_never_in_the_retrieving_cell(
    tmp_path: Path,
) -> None:
    home = tmp_path / "short-home"
    run_cli(home, "profiles", "set", "tiny", "--stdin", stdin="long-enough-MADEUP\nab12\n")
    note = "secret2 is shorter than 6 characters, so not redacted from output."
    # The CLI says so in show and list, and --json names the slot
    for args in (("show", "tiny"), ("list",)):
        shown = run_cli(home, "profiles", *args).stdout
        assert shown.rstrip("\n").endswith(f"\t{note}"), shown
    as_json = run_cli(home, "profiles", "show", "tiny", "--json").stdout
    assert json.loads(as_json)["unredacted"] == ["secret2"]
    log = tmp_path / "kernel.log"
    with running_kernel(kernel_env(flow="cloud-flow", home=home), log=log) as k:
        k.ok("%load_ext zingy_nb")
        # The magic's show says so, and so does its set
        assert k.ok("%zingy_apikey show tiny").stdout.rstrip().endswith(f". {note}")
        k.ok("import os; os.environ['TINY_1'] = 'long-MADEUP-1'; os.environ['TINY_2'] = 'x1'")
        saved = k.ok("%zingy_apikey set tiny2 --from-env TINY_1 TINY_2").stdout
        assert saved.endswith(f"Note: {note}\n"), saved
        # A retrieval does not: its cell's output stays as the user's code made it
        cell = k.ok("info = zingyConn.apikey('tiny'); print(info.secret2)")
        assert cell.stdout == "ab12\n"  # documented: too short to redact
        assert "shorter than 6 characters" not in every_message(cell)
    # The kernel's log says it once
    assert log.read_text().count(f"profile 'tiny': {note}") == 1


def test_text_with_lone_surrogates_is_still_redacted() -> None:
    r = Redactor()
    r.register("secret-value-MADEUP")
    assert r.text("\ud800 secret-value-MADEUP \udfff") == f"\ud800 {MASK} \udfff"
