"""The leak table: each row is a way people show or run things in a notebook, run in a
real kernel on both store backends; one scanner (``scanner.py``) reads every message on
every channel and applies the rule. A new vector is one new row.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from zingy_nb.profiles import Profiles
from zingy_nb.pytest_plugin import temporary_env
from zingy_nb.vault.crypto import encode_key, new_key
from zingy_nb.vault.member_keys import MemberKeyPair

from .. import postgres
from ..kernels import kernel_env, running_kernel
from ..postgres import Backend, PgServer
from .harness import Recorded, Recorder, Result
from .scanner import Leak, byte_views, find, scan_messages
from .values import PROFILES, TYPED, stored

CLOUD, PAGE = "cloud-flow", "page-flow"
pg_server = postgres.pg_server  # the session's throwaway PostgreSQL server


@dataclass(frozen=True)
class Row:
    id: str
    code: str
    flows: tuple[str, ...] = (CLOUD,)
    error: str | None = None  # the ename the cell must fail with, if any
    after: str = ""  # run after the row (not scanned for the row's verdict, but recorded)


KEY = "zingyConn.apikey"
ROWS = [
    # -- whole values, as printed and displayed ------------------------------------------
    Row("print", f"k = {KEY}('github'); print(k.secret1, k.secret2)"),
    Row("repr-of-dict", f"{{'pw': {KEY}('html').secret1, 'ssh': {KEY}('ssh').secret1}}"),
    Row("json-dumps", f"import json; print(json.dumps({{'pw': {KEY}('html').secret1}}))"),
    Row(
        "exception-message",
        f"raise RuntimeError('bad: ' + {KEY}('stripe').secret1)",
        error="RuntimeError",
    ),
    Row("logging", f"import logging; logging.getLogger('x').warning('t=%s', {KEY}('jwt').secret1)"),
    Row(
        "thread",
        f"import threading; t = threading.Thread(target=lambda: print({KEY}('stripe')"
        ".secret1)); t.start(); t.join()",
    ),
    Row("widget-state", f"import ipywidgets as w; w.Text(value={KEY}('stripe').secret1)"),
    Row(
        "display-json",
        "from IPython.display import JSON, display; "
        f"display(JSON({{'pw': {KEY}('html').secret1}}))",
    ),
    Row(
        "base64",
        f"import base64; print(base64.b64encode({KEY}('stripe').secret1.encode()).decode())",
    ),
    Row(
        "url-encoded",
        f"import urllib.parse; print(urllib.parse.quote({KEY}('html').secret1, safe=''))",
    ),
    # -- truncating displays: long prefixes and suffixes ---------------------------------
    Row(
        "pandas-truncated",
        f"import pandas as pd; pd.DataFrame({{'token': [{KEY}('github').secret2]}})",
    ),
    Row(
        "pandas-html-escaped",
        f"import pandas as pd; pd.DataFrame({{'pw': [{KEY}('html').secret1]}})",
    ),
    Row("whos", f"token = {KEY}('github').secret2\n%whos"),
    Row("inspector-?", f"jwt_token = {KEY}('jwt').secret1\njwt_token?"),
    Row(
        "xmode-verbose",
        f"%xmode Verbose\ndef use(tok):\n    raise ValueError('refused')\n"
        f"use({KEY}('jwt').secret1)",
        error="ValueError",
        after="%xmode Context",
    ),
    # -- escaped and folded forms --------------------------------------------------------
    Row("yaml-multiline", f"import yaml; print(yaml.safe_dump({{'key': {KEY}('ssh').secret1}}))"),
    Row(
        "yaml-block",
        f"import yaml; print(yaml.safe_dump({{'k': {KEY}('ssh').secret1}}, default_style='|'))",
    ),
    # -- other escapers: numeric entities, \/, \uXXXX ------------------------------------
    Row("markupsafe", f"import markupsafe; print(markupsafe.escape({KEY}('html').secret1))"),
    Row(
        "jinja2-autoescape",
        "import jinja2; print(jinja2.Environment(autoescape=True)"
        f".from_string('<b>{{{{ v }}}}</b>').render(v={KEY}('html').secret1))",
    ),
    Row(
        "pandas-styler-escape",
        f"import pandas as pd; pd.DataFrame({{'pw': [{KEY}('html').secret1]}})"
        ".style.format(escape='html')",
    ),
    Row(
        "pandas-to-json",
        f"import pandas as pd; print(pd.DataFrame({{'k': [{KEY}('aws').secret1]}}).to_json())",
    ),
    Row(
        "json-script",  # Django's json_script: JSON with <, > and & as \u escapes
        f"import json; print(json.dumps({KEY}('html').secret1).replace('<', '\\\\u003C')"
        ".replace('>', '\\\\u003E').replace('&', '\\\\u0026'))",
    ),
    Row(
        "html-decimal-entities",
        f"print(''.join('&#%d;' % ord(c) for c in {KEY}('stripe').secret1))",
    ),
    Row(
        "html-hex-entities",
        f"from IPython.display import HTML; HTML(''.join('&#x%x;' % ord(c) for c in {KEY}('jwt')"
        ".secret1))",
    ),
    Row("json-u-escapes", f"print(''.join('\\\\u%04x' % ord(c) for c in {KEY}('jwt').secret1))"),
    # -- split writes --------------------------------------------------------------------
    Row(
        "split-flush",
        f"import time; v = {KEY}('stripe').secret1\n"
        "print(v[:10], end='', flush=True); time.sleep(0.4); print(v[10:])",
    ),
    Row(
        "split-short",
        f"import time; v = {KEY}('short').secret1\n"
        "print(v[:4], end='', flush=True); time.sleep(0.4); print(v[4:])",
    ),
    Row(
        "slow-subprocess",
        f"import os; os.environ['ZV'] = {KEY}('jwt').secret1\n"
        "!python -c \"import os,sys,time; v=os.environ['ZV']; "
        "[(sys.stdout.write(v[i:i+5]), sys.stdout.flush(), time.sleep(0.02)) "
        'for i in range(0, 60, 5)]"',
    ),
    # -- the public API in every flow ----------------------------------------------------
    Row(
        "profiles-api-cloud",
        "from zingy_nb import get_profiles; print(get_profiles().secrets('stripe'))",
    ),
    Row(
        "profiles-api-page",
        "from zingy_nb import get_profiles; get_profiles().secrets('stripe')",
        flows=(PAGE,),
        error="CloudFlowOnlyError",
    ),
    Row(
        "profiles-class-page",
        "from zingy_nb.profiles import Profiles; Profiles().secrets('html')",
        flows=(PAGE,),
        error="CloudFlowOnlyError",
    ),
    Row("zingyconn-page", f"{KEY}('stripe')", flows=(PAGE,), error="CloudFlowOnlyError"),
    Row("magic-retrieve-page", "%zingy_apikey retrieve stripe", flows=(PAGE,), error="UsageError"),
    # -- the master key ------------------------------------------------------------------
    Row(  # a team store has none: its kernels get only their member's own key
        "key-environ",
        "import os; print(os.environ.get('ZINGY_NB_MASTER_KEY', 'no master key'))",
        flows=(CLOUD, PAGE),
    ),
    Row("key-env-shell", "!env", flows=(CLOUD, PAGE)),
    Row("key-export", "!zingy-nb key export", flows=(CLOUD, PAGE)),
    Row("member-key-new", "!zingy-nb team new-key", flows=(CLOUD, PAGE)),
    Row(
        "member-key-environ",
        # The kernel registered itself with the agent and dropped the variable; its
        # start environment still holds it (the threat table's plain-kernel row).
        "print([v for v in open('/proc/self/environ', 'rb').read().split(b'\\0')"
        " if v.startswith(b'ZINGY_NB_MEMBER_KEY=')][0].decode())",
        flows=(CLOUD, PAGE),
    ),
    # -- typed tokens where names belong ---------------------------------------------------
    Row(
        "magic-from-env-token",
        f"%zingy_apikey set stripe2 --from-env {TYPED['from-env']}",
        flows=(CLOUD, PAGE),
        error="UsageError",
    ),
    Row(
        "magic-inline",
        f"%zingy_apikey set stripe={TYPED['inline']}",
        flows=(CLOUD, PAGE),
        error="UsageError",
    ),
    Row("magic-update-token", f"%zingy_apikey update {TYPED['update']}", error="UsageError"),
    Row("magic-retrieve-token", f"%zingy_apikey retrieve {TYPED['retrieve']}", error="UsageError"),
    Row(
        "magic-clear-token",
        f"%zingy_apikey update stripe --clear {TYPED['clear']}",
        error="UsageError",
    ),
    # -- a value pasted where a name belongs, then the audit log shown -----------------------
    Row(  # typed in pieces: history must not hold it either (the table's last test)
        "audit-pasted-name",
        f"try: {KEY}({' + '.join(repr(piece) for piece in re.findall('.{1,10}', TYPED['as-name']))})"
        "\nexcept PermissionError: pass\n!zingy-nb audit",
        flows=(PAGE,),
    ),
    # -- pickled to disk -----------------------------------------------------------------
    Row("store-magic", f"token = {KEY}('stripe').secret1\n%store token", error="__any__"),
    Row(  # UTF-32 inside the pickle
        "store-numpy-array",
        f"import numpy as np; arr = np.array([{KEY}('stripe').secret1])\n%store arr",
        error="__any__",
    ),
]


def _backend(kind: str, root: Path, server: PgServer | None) -> Iterator[Backend]:
    if server is None:
        backend = Backend("sqlite", root / "zingy", encode_key(new_key()))
    else:
        db = server.new_database()
        with temporary_env(ZINGY_NB_MEMBER_KEY=MEMBER_KEY):
            server.join(db, root / "zingy", ["alice"])  # the key a spawner gives alice
        backend = Backend("postgres", root / "zingy", None, server, db, {"alice": MEMBER_KEY})
    with temporary_env(**{"ZINGY_NB_MASTER_KEY": None, **process_env(backend)}):
        profiles = Profiles(backend.home, url=backend.url() or "")
        for name, values in PROFILES.items():
            profiles.set(name, *values)
        profiles.store.close()
    yield backend
    if server is not None and backend.db:
        server.drop_database(backend.db)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    server = request.getfixturevalue("pg_server") if request.param == "postgres" else None
    yield from _backend(request.param, tmp_path_factory.mktemp(request.param), server)


@pytest.fixture(scope="module")
def kernels(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Recorder]]:
    started: dict[str, Recorder] = {}
    stack = []
    ipython_dir = tmp_path_factory.mktemp("ipython")
    try:
        for flow in (CLOUD, PAGE):
            env = kernel_env(
                flow=flow, home=backend.home, IPYTHONDIR=str(ipython_dir), **process_env(backend)
            )
            ctx = running_kernel(env)
            recorder = Recorder(ctx.__enter__())
            stack.append(ctx)
            assert recorder.execute("%load_ext zingy_nb").status == "ok"
            started[flow] = recorder
        started["ipython_dir"] = ipython_dir  # type: ignore[assignment]
        yield started
    finally:
        for ctx in reversed(stack):
            ctx.__exit__(None, None, None)


#: A team member's private key, as a spawner would give it to every kernel.
MEMBER_KEY = MemberKeyPair.generate().encode()


def process_env(backend: Backend) -> dict[str, str]:
    """The store's variables for alice, and a member key in both cases (on the embedded
    store it opens nothing but must not show either)."""
    return {"ZINGY_NB_MEMBER_KEY": MEMBER_KEY, **backend.env()}


def secrets_in_play(backend: Backend) -> dict[str, str]:
    found = {**stored(), "member key": MEMBER_KEY}
    if backend.key is not None:  # the embedded store's; a team store has none
        found["master key"] = backend.key
    return found


#: Secrets no kernel registered, found by their form: a member key's 64 bytes in URL-safe
#: base64, such as a fresh one from `zingy-nb team new-key`.
SHAPES = {"a member key": re.compile(r"[A-Za-z0-9_-]{86}==")}


def typed() -> dict[str, str]:
    return {f"typed {k}": v for k, v in TYPED.items()}


def leaks_of(messages: Recorded, backend: Backend) -> list[Leak]:
    """Registered values anywhere; typed tokens anywhere but ``execute_input``, the
    kernel echoing the code it was sent before any magic ran (the user's own line; the
    rule for typed tokens is that no error repeats them and history forgets them)."""
    echoed = [(ch, m) for ch, m in messages if m["msg_type"] != "execute_input"]
    found = scan_messages(messages, secrets_in_play(backend), SHAPES)
    return found + scan_messages(echoed, typed())


CASES = [pytest.param(row, flow, id=f"{row.id}-{flow}") for row in ROWS for flow in row.flows]


@pytest.mark.parametrize(("row", "flow"), CASES)
def test_no_leak(row: Row, flow: str, kernels: dict[str, Recorder], backend: Backend) -> None:
    kernel = kernels[flow]
    result: Result = kernel.execute(row.code)
    if row.error == "__any__":
        assert result.status == "error", result.reply["content"]
    elif row.error:
        assert result.ename == row.error, result.reply["content"]
    else:
        assert result.status == "ok", result.reply["content"]
    if row.after:
        kernel.execute(row.after)
    leaks = leaks_of(result.messages, backend)
    assert not leaks, "\n".join(map(str, leaks))


def test_the_table_is_not_vacuous(kernels: dict[str, Recorder]) -> None:
    """The scanner sees what a row printed: a value spelled out in pieces the rule
    does not cover (reversed) arrives, and an ordinary value shows as printed."""
    result = kernels[CLOUD].execute(f"print({KEY}('stripe').secret1[::-1]); print('plain-output')")
    assert "plain-output" in result.stream()
    assert stored()["stripe.secret1"][::-1] in result.stream()
    assert find(stored()["stripe.secret1"][:20], stored(), "x")  # the scanner bites


def test_history_and_store_db_hold_nothing(kernels: dict[str, Recorder], backend: Backend) -> None:
    """After every row: IPython's history database and %store's files hold no value and
    no typed token (history is written out first)."""
    for flow in (CLOUD, PAGE):
        assert (
            kernels[flow].execute("get_ipython().history_manager.writeout_cache()").status == "ok"
        )
    root = Path(kernels["ipython_dir"])  # type: ignore[arg-type]
    files = [p for p in root.rglob("*") if p.is_file()]
    assert any(p.name == "history.sqlite" for p in files)
    leaks = []
    for path in files:
        try:
            text = "\n".join(byte_views(path.read_bytes()))
        except FileNotFoundError:  # gone since listed (SQLite's journal): it holds nothing
            continue
        if path.suffix == ".sqlite":
            conn = sqlite3.connect(path)
            try:
                text += "\n".join(src for (src,) in conn.execute("SELECT source FROM history"))
            finally:
                conn.close()
        leaks += find(text, {**secrets_in_play(backend), **typed()}, str(path.relative_to(root)))
    assert not leaks, "\n".join(map(str, leaks))
    assert os.environ.get("IPYTHONDIR") != str(root)
