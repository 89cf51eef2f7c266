"""Redaction: no registered value leaves the kernel whole, nor any 16-character run of it.

A real kernel (jupyter_client) retrieves a secret, then leaks it every way a notebook
can; the test reads every message the client receives, on every channel, and finds
no secret's bytes, and finds ``[REDACTED]`` where each was. Then the ``Redactor`` on its
own, against a table of vectors (truncation, escaping, folding, bytes) and random JSON
documents, judged by ``leaks``: a brute-force scanner written apart from the redactor.
"""

from __future__ import annotations

import base64
import html
import json
import random
import re
import string
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import markupsafe
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.kernels import Kernel, kernel_env, run_cli, running_kernel
from zingy_nb.redact import LONG, MASK, MIN_LENGTH, RUN, Redactor, variants

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


# -- the Redactor on its own: one brute-force scanner, a table of vectors -------------------


def _escaped(window: str) -> set[str]:
    """How a viewer may show ``window``: raw, HTML-, JSON- and repr-escaped."""
    both = window + "\"'"  # repr of a text holding both quotes escapes '
    return {
        window,
        html.escape(window),
        html.escape(window, quote=False),
        json.dumps(window)[1:-1],
        json.dumps(window, ensure_ascii=False)[1:-1],
        repr(window)[1:-1],
        ascii(window)[1:-1],
        repr(both)[1:-4],
        ascii(both)[1:-4],
    }


def _encoded(unit: str) -> set[str]:
    raw = unit.encode("utf-8", "surrogatepass")
    b64 = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    quoted = urllib.parse.quote(unit, safe="", errors="surrogatepass")
    return b64 | {b.rstrip("=") for b in b64} | {quoted}


def leaks(text: str, values: list[str], public: tuple[str, ...] = ()) -> list[str]:
    """Every way ``text`` breaks the rule for ``values``, found the slow way.

    Each value and each of its lines (a unit) of MIN_LENGTH+ characters: the unit
    whole, raw, escaped or encoded, in the text, or raw in its HTML-unescaped view;
    and for units of LONG+ characters, every RUN-character window the same way.
    Windows that are part of a ``public`` text are allowed. (A JSON document's own
    unescaped view is its parsed strings: the JSON test checks those one by one.)
    """
    views = {text, html.unescape(text)}
    found = []
    for value in values:
        lines = [line.strip() for line in value.splitlines()]
        for unit in {value, *lines}:
            if len(unit) < MIN_LENGTH:
                continue
            windows = {unit}
            if len(unit) >= LONG:
                windows |= {unit[i : i + RUN] for i in range(len(unit) - RUN + 1)}
            for w in windows:
                if w.strip() and any(w.strip() in p for p in public):
                    continue
                forms = _escaped(w) | (_encoded(w) if w == unit else set())
                if any(f in text for f in forms) or any(w in v for v in views):
                    found.append(w)
    return found


def _made_up(seed: int, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(random.Random(seed).choices(alphabet, k=n))


TOKEN = "tok_MADEUP_" + _made_up(1, 82)  # 93 characters, as pandas truncates at 50
PASSWORD = 'MADEUP&pass<word>"quoted"\'s & more-of-it'
SHORT = "MADEUP-short-9z"  # 15 characters: matched whole only
BACKSLASHED = "MADEUP-ends-in-a-backslash-" + _made_up(2, 8) + "\\"
ESCAPE_TAIL = "u00e9" + _made_up(3, 30)  # the tail of the JSON escape of "é"
BODY = [_made_up(10 + i, 64, string.ascii_letters + string.digits + "+/") for i in range(4)]
PEM = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(BODY) + "\n-----END PRIVATE KEY-----\n"
SERVICE_ACCOUNT = json.dumps(
    {
        "type": "service_account",
        "project_id": "madeup-project",
        "private_key_id": _made_up(20, 40, "0123456789abcdef"),
        "private_key": PEM,
        "client_email": "robot@madeup-project.iam.gserviceaccount.com",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    },
    indent=2,
)
SLASHED = "MADEUP/aws/" + "/".join(_made_up(30 + i, 12) for i in range(4))  # no 16-run sans /
VALUES = [TOKEN, PASSWORD, SHORT, BACKSLASHED, ESCAPE_TAIL, PEM, SERVICE_ACCOUNT, SLASHED]
ARMOUR = ("-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----")
GOOGLE = (
    '"type": "service_account"',
    "https://oauth2.googleapis.com/token",
    "https://accounts.google.com/o/oauth2/auth",
    "https://www.googleapis.com/oauth2/v1/certs",
)


@pytest.fixture(scope="module")
def table_redactor() -> Redactor:
    r = Redactor()
    assert r.register_all(VALUES) == len(VALUES)
    return r


ARMOUR_ONLY = f"{ARMOUR[0]}\n(elided)\n{ARMOUR[1]}\n"
#: (name, output, exactly what must come out). Each row's result is also scanned by
#: ``leaks``; a row expecting its output unchanged is a "left alone" row.
VECTORS: list[tuple[str, str, str]] = [
    ("pandas truncation", f"col  {TOKEN[:46]}...", f"col  {MASK}..."),
    ("%whos truncation", f"s  str  {TOKEN[:25]}...{TOKEN[-25:]}", f"s  str  {MASK}...{MASK}"),
    ("run of 15: left", f"<{TOKEN[30:45]}>", f"<{TOKEN[30:45]}>"),
    ("run of 16: masked", f"<{TOKEN[30:46]}>", f"<{MASK}>"),
    ("30-run: one mask, nothing after", f"<{TOKEN[20:50]}>", f"<{MASK}>"),
    ("twice, adjacent: one mask", f"<{TOKEN}{TOKEN}>", f"<{MASK}>"),
    ("html quote=True", f"<b>{html.escape(PASSWORD)}</b>", f"<b>{MASK}</b>"),
    ("html quote=False", f"<b>{html.escape(PASSWORD, quote=False)}</b>", f"<b>{MASK}</b>"),
    ("html run", f"<i>{html.escape(PASSWORD[4:22])}</i>", f"<i>{MASK}</i>"),
    ("json", json.dumps({"pw": PASSWORD}), f'{{"pw": "{MASK}"}}'),
    ("json run", json.dumps({"pw": "x" + PASSWORD[3:20]}), f'{{"pw": "x{MASK}"}}'),
    ("repr", repr([PASSWORD]), f"['{MASK}']"),
    ("repr run", repr(PASSWORD[2:19]), f"'{MASK}'"),
    ("ascii", ascii({"k": "é" + PASSWORD}), f"{{'k': '\\xe9{MASK}'}}"),
    ("15 escaped characters: left", json.dumps(PASSWORD[12:27]), json.dumps(PASSWORD[12:27])),
    ("short whole", f"[{SHORT}]", f"[{MASK}]"),
    ("short base64", base64.b64encode(SHORT.encode()).decode(), MASK),
    ("url-encoded whole", "?pw=" + urllib.parse.quote(PASSWORD, safe=""), f"?pw={MASK}"),
    (
        "url-encoded part: left",
        urllib.parse.quote(PASSWORD[:24]),
        urllib.parse.quote(PASSWORD[:24]),
    ),
    ("short part: left", f"[{SHORT[:14]}]", f"[{SHORT[:14]}]"),
    ("json cut after a backslash", json.dumps(BACKSLASHED + "n"), f'"{MASK}n"'),
    ("json cut inside \\u", json.dumps("é" + ESCAPE_TAIL[5:]), f'"{MASK}"'),
    ("pem whole", f"key = {PEM}", f"key = {MASK}"),
    ("pem body line", f"line: {BODY[2]}", f"line: {MASK}"),
    ("pem armour left alone", ARMOUR_ONLY, ARMOUR_ONLY),
    ("google constants left alone", "\n".join(GOOGLE), "\n".join(GOOGLE)),
    ("google key id", json.dumps(json.loads(SERVICE_ACCOUNT)["private_key_id"]), f'"{MASK}"'),
    # other escapers: markupsafe (Jinja2 autoescape, pandas Styler), pandas to_json, any
    # character as a numeric entity or a \\u escape, one layer inside another
    ("markupsafe", f"<td>{markupsafe.escape(PASSWORD)}</td>", f"<td>{MASK}</td>"),
    ("markupsafe run", f"<i>{markupsafe.escape(PASSWORD[2:19])}</i>", f"<i>{MASK}</i>"),
    ("decimal entities", "".join(f"&#{ord(c)};" for c in PASSWORD), MASK),
    (
        "hex entities",
        "<p>" + "".join(f"&#X{ord(c):X};" for c in TOKEN[9:40]) + "</p>",
        f"<p>{MASK}</p>",
    ),
    (
        "15 entities: left",
        "".join(f"&#{ord(c)};" for c in TOKEN[9:24]),
        "".join(f"&#{ord(c)};" for c in TOKEN[9:24]),
    ),
    ("json \\/", json.dumps({"k": SLASHED}).replace("/", "\\/"), f'{{"k": "{MASK}"}}'),
    ("json \\/ run", json.dumps(SLASHED[3:30]).replace("/", "\\/"), f'"{MASK}"'),
    (
        "json \\u every character",
        '"' + "".join(f"\\u{ord(c):04X}" for c in TOKEN[:30]) + '"',
        f'"{MASK}"',
    ),
    (
        "json_script",
        json.dumps(PASSWORD).replace("<", "\\u003C").replace("&", "\\u0026"),
        f'"{MASK}"',
    ),
    ("entities in json", json.dumps(markupsafe.escape(PASSWORD)), f'"{MASK}"'),
    (
        "mixed escapes",
        "".join(f"&#{ord(c)};" if i % 2 else f"\\u{ord(c):04x}" for i, c in enumerate(TOKEN[:20])),
        MASK,
    ),
]


@pytest.mark.parametrize(("name", "output", "expected"), VECTORS, ids=[v[0] for v in VECTORS])
def test_vectors(table_redactor: Redactor, name: str, output: str, expected: str) -> None:
    out, n = table_redactor.count(output)
    assert out == expected, name
    assert leaks(out, VALUES, public=ARMOUR + GOOGLE) == []
    assert n == out.count(MASK) - output.count(MASK)
    spans = table_redactor.spans(output)
    assert len(spans) == n
    rebuilt = output
    for start, end in reversed(spans):
        rebuilt = rebuilt[:start] + MASK + rebuilt[end:]
    assert rebuilt == out  # spans() is exactly what count() replaced


def test_the_scanner_sees_what_the_rule_forbids() -> None:
    # ``leaks`` must fail on each kind of leak, or the table above proves nothing
    assert leaks(TOKEN[5:21], [TOKEN]) == [TOKEN[5:21]]
    assert leaks(TOKEN[5:20], [TOKEN]) == []
    assert leaks(html.escape(PASSWORD[3:19]), [PASSWORD])
    assert leaks(json.dumps(PASSWORD[3:19]), [PASSWORD])
    assert leaks(repr(PASSWORD[3:19]), [PASSWORD])
    assert leaks(base64.b64encode(SHORT.encode()).decode(), [SHORT])
    assert leaks(f"x {BODY[1][:20]}", [PEM])
    assert leaks(ARMOUR[0], [PEM]) and not leaks(ARMOUR[0], [PEM], public=ARMOUR)


def test_a_pem_dumped_as_yaml_keeps_only_its_armour(table_redactor: Redactor) -> None:
    for dumped in (yaml.safe_dump({"key": PEM}), yaml.safe_dump({"key": PEM}, default_style="|")):
        out = table_redactor.text(dumped)
        assert leaks(out, VALUES, public=ARMOUR) == [], out
        assert all(line in out for line in ARMOUR) and MASK in out


def test_runs_count_original_characters_not_escaped_bytes() -> None:
    r = Redactor()
    value = '"quoted" & <tagged> "MADEUP" and more'
    r.register(value)
    fifteen = value[:15]  # 15 characters, 4 of them escaped in JSON and HTML
    for shown in (json.dumps(fifteen), html.escape(fifteen), repr(fifteen)):
        assert r.text(shown) == shown
    for shown in (json.dumps(value[:16]), html.escape(value[:16]), repr(value[:16])):
        assert MASK in r.text(shown) and leaks(r.text(shown), [value]) == []


def test_every_run_of_16_is_found_at_every_offset(table_redactor: Redactor) -> None:
    # Runs are found through sparse anchors: none may fall between them
    for value in (TOKEN, PASSWORD, BODY[0]):
        for i in range(len(value) - RUN + 1):
            run = value[i : i + RUN]
            for shown in {run, json.dumps(run), html.escape(run), repr(run)}:
                out = table_redactor.text(f"<{shown}>")
                assert leaks(out, [value]) == [] and MASK in out, (i, shown)
            assert table_redactor.text(value[i : i + RUN - 1]) == value[i : i + RUN - 1]


def test_short_values_only_whole_and_too_short_ones_never() -> None:
    r = Redactor()
    twenty_three = "MADEUP-" + _made_up(4, 16)
    assert r.register(twenty_three) and not r.register("ab12")
    assert (
        r.text(twenty_three[:22] + "|" + twenty_three[1:])
        == twenty_three[:22] + "|" + twenty_three[1:]
    )
    assert r.text(f"({twenty_three})") == f"({MASK})"
    assert r.text(html.escape(f"<{twenty_three}>")) == f"&lt;{MASK}&gt;"
    assert r.text("ab12 ab12") == "ab12 ab12"


def test_bytes_follow_the_same_rule(table_redactor: Redactor) -> None:
    data = b"\x89PNG\xff\x00" + TOKEN[10:40].encode() + b"\xfe" + json.dumps(PASSWORD).encode()
    out = table_redactor.buffer(data)
    assert out == b"\x89PNG\xff\x00" + MASK.encode() + b"\xfe" + f'"{MASK}"'.encode()
    clean = memoryview(b"nothing secret in here at all")
    assert table_redactor.buffer(clean) is clean


def test_lone_surrogates_in_values_and_text() -> None:
    r = Redactor()
    value = "\udcffMADEUP-surrogate-" + _made_up(5, 10)
    r.register(value)
    out = r.text("\ud800 é " + value + " \udfff " + value[3:20])
    assert out == f"\ud800 é {MASK} \udfff {MASK}"
    assert r.spans("é" + value) == [(1, 1 + len(value))]


def test_values_registered_between_scans_and_after_large_output() -> None:
    r = Redactor()
    early = [f"MADEUP-early-{i:03d}-" + _made_up(i, 12) for i in range(100)]
    r.register_all(early)
    assert r.text(early[5]) == MASK
    late = [f"MADEUP-late-{i:03d}-" + _made_up(i + 500, 12) for i in range(80)]
    for i, value in enumerate(late):  # a loop of retrieve-then-print
        r.register(value)
        assert r.text(f"{i}: {value}") == f"{i}: {MASK}"
    filler = "ordinary output line\n" * 150_000  # enough to fold everything into one
    for _ in range(2):
        assert r.text(filler) == filler
    assert r.text(" ".join(early[::9] + late[::9])) == " ".join(
        [MASK] * len(early[::9] + late[::9])
    )
    assert len(r) == 180


# -- random JSON documents: still JSON after redaction, and no run left ---------------------

ALPHABET = string.ascii_letters + string.digits + "\"\\\n\t'&<>/ é€😀\x01"
GLUE = ['", "', '": "', '", 7, "']  # JSON text between strings, inside a value
value_text = (
    st.lists(
        st.text(alphabet=ALPHABET, min_size=1, max_size=12) | st.sampled_from(GLUE), max_size=8
    )
    .map("".join)
    .filter(lambda v: len(v) >= LONG and len(set(v.strip())) >= 10)  # not one repeated character
)


def _parts(values: list[str]) -> st.SearchStrategy[str]:
    def cut(value: str) -> st.SearchStrategy[str]:
        return st.tuples(st.integers(0, len(value)), st.integers(0, len(value))).map(
            lambda ab: value[min(ab) : max(ab)]
        )

    piece = st.sampled_from(values).flatmap(cut) | st.sampled_from(values)
    filler = st.text(alphabet=ALPHABET, max_size=6)
    return st.lists(piece | filler, max_size=3).map("".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(value_text, min_size=1, max_size=3, unique=True), st.data())
def test_random_json_stays_json_and_leaks_no_run(values: list[str], data: st.DataObject) -> None:
    r = Redactor()
    r.register_all(values)
    text = _parts(values)
    doc = st.recursive(
        text | st.integers() | st.none(),
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(text, kids, max_size=4),
        max_leaves=8,
    )
    # ... or a value cut where it holds JSON glue, dumped as a list: its raw form then
    # spans several strings of the document
    split = st.sampled_from(values).map(lambda v: re.split(r'", (?:7, )?"|": "', v))
    dumped = json.dumps(
        data.draw(doc | split),
        ensure_ascii=data.draw(st.booleans()),
        indent=data.draw(st.sampled_from([None, 1])),
    )
    out = r.text(dumped)
    parsed = json.loads(out)  # still a JSON document
    assert leaks(out, values) == [], out
    strings: list[str] = []
    stack = [parsed]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            strings.append(item)
        elif isinstance(item, dict):
            strings += list(item)
            stack += list(item.values())
        elif isinstance(item, list):
            stack += item
    assert [s for s in strings if leaks(s, values)] == []


def test_a_value_is_masked_whole_beside_one_that_differs_in_one_character() -> None:
    # A key as standard and as URL-safe base64 (as a member key's forms are registered):
    # an anchor has many candidate forms, and the first one that matches stops short
    # where the two differ ("/" and "_"); the mask must still reach the end
    rnd = random.Random(6)
    while True:
        raw = rnd.randbytes(64)
        standard = base64.b64encode(raw).decode()
        if "/" in standard[-8:] and "/" not in standard[:-8] and "+" not in standard:
            break
    url_safe = base64.urlsafe_b64encode(raw).decode()
    r = Redactor()
    r.register_all([standard, standard.rstrip("="), url_safe, url_safe.rstrip("=")])
    for shown in (standard, url_safe, json.dumps(standard).replace("/", "\\/")):
        assert r.text(f"k={shown};") in (f"k={MASK};", f'k="{MASK}";')


# -- a structure is scanned in one piece: same result as string by string -------------------


def _one_by_one(r: Redactor, obj: object) -> object:
    """The reference: every string (keys too) redacted on its own."""
    if isinstance(obj, str):
        return r.text(obj)
    if isinstance(obj, dict):
        return {_one_by_one(r, k): _one_by_one(r, v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_one_by_one(r, v) for v in obj]
    return obj


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(value_text, min_size=1, max_size=2, unique=True), st.data())
def test_a_structure_is_redacted_as_its_strings_are_one_by_one(
    values: list[str], data: st.DataObject
) -> None:
    # Strings that end in half an escape ("\\", "\\u00", "&#") next to strings that
    # begin with the rest, pieces and escaped forms of the values, and a value of
    # MIN_LENGTH (which lowers the length a string needs to be scanned at all)
    r = Redactor()
    tiny = "MADE6u"
    r.register_all([*values, tiny])
    escaped = st.sampled_from(values).map(lambda v: json.dumps(v)[1:-1])
    halves = st.sampled_from(["\\", "\\u00", "&#", "&amp", "\\x", "é", tiny[:3], tiny[3:]])
    text = st.lists(_parts([*values, tiny]) | escaped | halves, max_size=3).map("".join)
    doc = st.recursive(
        text | st.integers() | st.none(),
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(text, kids, max_size=4),
        max_leaves=10,
    )
    obj = data.draw(doc)
    expected = _one_by_one(r, obj)
    out = r.data(obj)
    assert out == expected
    if expected == obj:
        assert out is obj  # nothing to mask: no copy made


def test_a_message_with_nothing_to_mask_goes_out_as_it_came() -> None:
    r = Redactor()
    r.register_all([SECOND, "MADE6u"])
    content = {"status": "ok", "user_expressions": {}, "payload": [], "execution_count": 3}
    metadata = {"started": "2026-12-07T02:19:23.123456Z", "engine": "e3b0c442-98fc-1c14"}
    msg = {"header": {"msg_type": "execute_reply"}, "content": content, "metadata": metadata}
    out = r.message(msg)
    assert out["content"] is content and out["metadata"] is metadata
    content["payload"].append({"data": {"text/plain": f"x {SECOND} MADE6u"}})
    assert r.message(msg)["content"]["payload"] == [{"data": {"text/plain": f"x {MASK} {MASK}"}}]
    assert content["payload"][0]["data"]["text/plain"].endswith("MADE6u")  # a copy was masked
    assert r.data({"MADE6u": 1, "ok": ["MADE6u"]}) == {MASK: 1, "ok": [MASK]}


def test_the_string_before_a_value_leaves_its_escapes_alone() -> None:
    # A value shown with two kinds of escape, so only undoing them finds it: whatever
    # the string before it ends in (backslashes too), its first escape stays one
    value = "é" + _made_up(41, 8) + "&" + _made_up(42, 8)  # under LONG: matched whole only
    shown = "\\u00e9" + value[1:9] + "&amp;" + value[10:]
    r = Redactor()
    r.register(value)
    for before in ("ordinary text before it", "ends in a backslash: C:\\", "two: C:\\\\"):
        assert r.data([before, shown]) == [before, MASK]
        assert r.data({before: shown}) == {before: MASK}
