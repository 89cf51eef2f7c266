"""``%zingy_apikey`` in real kernels: help, managing profiles, flow, retrieval, history.

One cloud-flow and one page-flow kernel are shared by the module (profile names are
unique per test); a test that flags a kernel starts its own. Values are read back
through ``zingyConn`` in the cloud-flow kernel as digests, so no value is printed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kernels import (
    DEFINE_DIGESTS,
    Cell,
    Kernel,
    digests,
    kernel_env,
    read_digests,
    running_kernel,
)
from tests.leaks.values import TOKENS
from zingy_nb.profiles import Profiles

COMMANDS = ("set", "update", "list", "show", "rename", "delete", "flow", "retrieve")
NOT_FOUND = "No profile with that name; %zingy_apikey list shows them."
PLACEHOLDER = "# [zingy-nb removed this input from history: it may have held a secret]"

# Made-up values, handed to the kernels through their environment.
S1 = "sk_test_MADEUP_magic_one"
S2 = "pk_test_MADEUP_magic_two \u00fcn\u00efc\u00f8d\u00e9"
S1_NEW = "sk_test_MADEUP_magic_rotated"
SECRET_ENV = {"ZNB_S1": S1, "ZNB_S2": S2, "ZNB_S1_NEW": S1_NEW, "ZNB_EMPTY": ""}

# Inspects every place IPython keeps a cell's input, from inside a function so the
# secret (passed hex-encoded) is never a user-namespace value or a cell's text itself.
DEFINE_INSPECT = """
def _znb_inspect(secret_hex, line):
    import json
    secret = bytes.fromhex(secret_hex).decode()
    hm = get_ipython().history_manager
    ns = get_ipython().user_ns
    hm.writeout_cache()
    places = {
        "In": ns["In"], "_ih": ns["_ih"], "_i": ns["_i"], "_ii": ns["_ii"], "_iii": ns["_iii"],
        "_iN": {k: v for k, v in ns.items() if k.startswith("_i") and k[2:].isdigit()},
        "user_ns strings": [v for v in ns.values() if isinstance(v, str)],
        "input_hist_raw": hm.input_hist_raw, "input_hist_parsed": hm.input_hist_parsed,
        "hm._i*": [hm._i00, hm._i, hm._ii, hm._iii],
        "db_input_cache": hm.db_input_cache,
        "history table": hm.db.execute(
            "SELECT source, source_raw FROM history WHERE session = ?", (hm.session_number,)
        ).fetchall(),
    }
    print(json.dumps({
        "found_in": sorted(k for k, v in places.items() if secret in repr(v)),
        "previous_cell": hm.input_hist_raw[line - 1],
        "probe": [seen for seen in getattr(globals().get("_znb_probe"), "seen", [])
                  if seen["line"] == line],
        "input": hm.input_hist_raw[line],
    }))
"""

# An AST transformer runs after IPython stored the cell in its history and before the
# cell's code (the magic) runs: it can flush the line to the database first, and it
# records where the line was at that moment, so each test proves which path it took.
INSTALL_PROBE = """
import ast as _ast

class _ZnbProbe(_ast.NodeTransformer):
    def __init__(self, flush):
        self.flush, self.seen = flush, []

    def visit(self, node):
        hm = get_ipython().history_manager
        if self.flush:
            hm.writeout_cache()
        line = len(hm.input_hist_raw) - 1
        in_db = hm.db.execute(
            "SELECT count(*) FROM history WHERE session = ? AND line = ?",
            (hm.session_number, line),
        ).fetchone()[0]
        cached = any(entry[0] == line for entry in hm.db_input_cache)
        self.seen.append({"line": line, "cached": cached, "in_db": in_db})
        return node

_znb_probe = _ZnbProbe(flush=FLUSH)
get_ipython().ast_transformers.append(_znb_probe)
get_ipython().history_manager.db_cache_size = CACHE_SIZE
# Many SQLite builds leave deleted bytes in the file: the scrub must not rely on this
# build's default, so start from "off".
get_ipython().history_manager.db.execute("PRAGMA secure_delete = OFF")
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def snapshot(home: Path) -> dict[str, object]:
    """Every profile's metadata and values, read by a fresh reader in this process."""
    profiles = Profiles(home)
    try:
        return {m.name: (m, profiles.secrets(m.name)) for m in profiles.list()}
    finally:
        profiles.store.close()


def history_bytes(ipython_dir: Path) -> bytes:
    """The bytes of the kernel's IPython history database (and any journal beside it)."""
    files = sorted((ipython_dir / "profile_default").glob("history.sqlite*"))
    assert files, "the kernel wrote no history file"
    return b"".join(path.read_bytes() for path in files)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("magic-home")


@pytest.fixture(scope="module")
def cloud_ipython_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("magic-ipython")


def _start(flow: str | None, home: Path, ipython_dir: Path) -> Iterator[Kernel]:
    env = kernel_env(flow=flow, home=home, IPYTHONDIR=str(ipython_dir), **SECRET_ENV)
    with running_kernel(env) as kernel:
        kernel.ok("%load_ext zingy_nb")
        kernel.ok(DEFINE_DIGESTS)
        kernel.ok(DEFINE_INSPECT)
        yield kernel


@pytest.fixture(scope="module")
def cloud(home: Path, cloud_ipython_dir: Path) -> Iterator[Kernel]:
    yield from _start("cloud-flow", home, cloud_ipython_dir)


@pytest.fixture(scope="module")
def page(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    yield from _start("page-flow", home, tmp_path_factory.mktemp("magic-ipython-page"))


def saved(cloud: Kernel, name: str, *env_vars: str) -> None:
    cell = cloud.ok(f"%zingy_apikey set {name} --from-env {' '.join(env_vars)}")
    assert cell.stdout.startswith(f"Saved profile {name!r}"), cell.describe()


# -- help -----------------------------------------------------------------------------
def test_bare_magic_prints_help_naming_every_command(cloud: Kernel) -> None:
    text = cloud.ok("%zingy_apikey").stdout
    for command in COMMANDS:
        assert f"%zingy_apikey {command}" in text
    assert "--from-env" in text and "--from-file" in text
    assert "zingyConn.apikey" in text
    # printed, not rendered: no reST literal-block marker ("::") before the usage line
    assert text.startswith("%zingy_apikey [--from-env VAR"), text[:40]
    assert "::" not in text


def test_a_name_with_a_space_is_refused_saying_names_cannot_hold_spaces(cloud: Kernel) -> None:
    cell = cloud.run("%zingy_apikey set my service")
    assert cell.ename == "UsageError"
    assert "got extra arguments (a profile name cannot hold spaces)." in cell.evalue


def test_question_mark_shows_help_naming_every_command(cloud: Kernel) -> None:
    cell = cloud.ok("%zingy_apikey?")
    text = cell.payload_text + cell.stream()
    for command in COMMANDS:
        assert f"%zingy_apikey {command}" in text
    assert "Secrets never go on the magic line" in text
    assert "%env ZINGY_NB_TRACEBACK=full" in text  # how to see zingy-nb's own frames


# -- managing profiles ------------------------------------------------------------------
def test_set_from_env_then_show_list_and_read_back(cloud: Kernel) -> None:
    name = unique("svc")
    saved(cloud, name, "ZNB_S1", "ZNB_S2")

    shown = cloud.ok(f"%zingy_apikey show {name}").stdout
    assert shown.startswith(f"{name}: secret1, secret2 set; created ")
    listed = cloud.ok("%zingy_apikey list").stdout
    assert any(line.startswith(f"{name}: secret1, secret2 set;") for line in listed.splitlines())
    for text in (shown, listed):
        assert S1 not in text and S2 not in text

    assert read_digests(cloud, name) == digests(S1, S2)


def test_rename_moves_the_profile(cloud: Kernel) -> None:
    old, new = unique("old"), unique("new")
    saved(cloud, old, "ZNB_S1", "-", "ZNB_S2")
    assert cloud.ok(f"%zingy_apikey rename {old} {new}").stdout.startswith("Renamed profile")

    gone = cloud.run(f"%zingy_apikey show {old}")
    assert gone.ename == "UsageError" and NOT_FOUND in gone.evalue and old not in gone.evalue
    names = [line.split(":")[0] for line in cloud.ok("%zingy_apikey list").stdout.splitlines()]
    assert new in names and old not in names
    assert read_digests(cloud, new) == digests(S1, None, S2)


def test_delete_removes_the_profile(cloud: Kernel) -> None:
    name = unique("del")
    saved(cloud, name, "ZNB_S1")
    assert cloud.ok(f"%zingy_apikey delete {name}").stdout == f"Deleted profile {name!r}.\n"

    for line in (f"%zingy_apikey show {name}", f"%zingy_apikey retrieve {name}"):
        cell = cloud.run(line)
        assert cell.ename == "UsageError" and NOT_FOUND in cell.evalue and name not in cell.evalue
    assert name not in cloud.ok("%zingy_apikey list").stdout


def test_update_clears_a_slot_then_reads_a_multiline_file(cloud: Kernel, tmp_path: Path) -> None:
    name = unique("upd")
    saved(cloud, name, "ZNB_S1", "ZNB_S2")

    cleared = cloud.ok(f"%zingy_apikey update {name} --clear secret2")
    assert cleared.stdout == f"Updated profile {name!r} (secret1 set).\n"
    assert read_digests(cloud, name) == digests(S1)

    pem = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        "b3BlbnNzaC1rZXktdjEAAAAA MADEUP\tnot a key  \n"
        "\u00e9t\u00e9 \u2603\n"
        "-----END OPENSSH PRIVATE KEY-----\n"
    )
    key_file = tmp_path / "id_madeup"
    key_file.write_bytes(pem.encode("utf-8"))
    cloud.ok(f"%zingy_apikey update {name} --from-file secret3={key_file}")

    assert read_digests(cloud, name) == digests(S1, None, pem)


def test_from_file_keeps_crlf_line_endings(cloud: Kernel, tmp_path: Path) -> None:
    name = unique("crlf")
    value = "line one\r\nline two\r\n"
    path = tmp_path / "crlf.txt"
    path.write_bytes(value.encode("utf-8"))
    cloud.ok(f"%zingy_apikey set {name} --from-env ZNB_S1 --from-file secret2={path}")
    assert read_digests(cloud, name) == digests(S1, value)


@pytest.mark.parametrize(
    "line",
    [
        "set {keep} --from-env ZNB_EMPTY ZNB_S2",  # secret1 empty
        "set {keep} --from-env ZNB_NOT_SET",  # missing variable
        "set bad/name --from-env ZNB_S1",
        "set {keep} --from-env ZNB_S1 --from-file secret9={path}",
        "update {keep} --from-env ZNB_EMPTY",
        "update {keep} --from-file secret3={missing}",
        "update {keep} --clear secret1",
        "update absent-profile --from-env ZNB_S1",
        "rename {keep} bad/name",
        "set",
    ],
)
def test_bad_names_and_values_change_nothing(
    cloud: Kernel, home: Path, tmp_path: Path, line: str
) -> None:
    keep = "keep-me"
    if keep not in snapshot(home):
        saved(cloud, keep, "ZNB_S1", "ZNB_S2")
    (tmp_path / "value").write_text("MADEUP file value")
    before = snapshot(home)

    cell = cloud.run(
        "%zingy_apikey "
        + line.format(keep=keep, path=tmp_path / "value", missing=tmp_path / "missing")
    )

    assert cell.status == "error" and cell.ename == "UsageError", cell.describe()
    assert snapshot(home) == before
    assert S1 not in cell.everything() and S2 not in cell.everything()
    assert "removed from history" in cell.evalue
    assert inspect(cloud, "no-such-text", cell)["input"] == PLACEHOLDER


def test_set_without_sources_in_a_kernel_without_stdin(cloud: Kernel, home: Path) -> None:
    name = unique("nostdin")
    cell = cloud.run(f"%zingy_apikey set {name}", allow_stdin=False)
    assert cell.ename == "UsageError"
    assert "--from-env" in cell.evalue and "--from-file" in cell.evalue
    assert name not in snapshot(home)


# -- flow and retrieve -------------------------------------------------------------------
def test_flow_shows_the_kernel_mode(cloud: Kernel, page: Kernel) -> None:
    assert cloud.ok("%zingy_apikey flow").stdout == (
        "Flow mode: cloud-flow (from ZINGY_NB_FLOW): retrieval allowed\n"
    )
    assert page.ok("%zingy_apikey flow").stdout == (
        "Flow mode: page-flow (from ZINGY_NB_FLOW): retrieval refused\n"
    )


def test_retrieve_returns_keyinfo_in_cloud_flow(cloud: Kernel) -> None:
    name = unique("ret")
    saved(cloud, name, "ZNB_S1", "ZNB_S2")

    shown = cloud.ok(f"%zingy_apikey retrieve {name}")
    assert shown.result == (
        f"KeyInfo({name!r}, secret1=<set>, secret2=<set>, secret3=<unset>, secret4=<unset>)"
    )
    assert S1 not in shown.everything()

    check = cloud.ok(
        f"info = %zingy_apikey retrieve {name}\n"
        "print(type(info).__name__, info.secret1 == bytes.fromhex("
        f"{S1.encode().hex()!r}).decode(), info['secret3'])"
    )
    assert check.stdout == "KeyInfo True None\n"


def test_retrieve_is_refused_in_page_flow(page: Kernel, home: Path) -> None:
    name = unique("pf")
    profiles = Profiles(home)
    profiles.set(name, S1)
    profiles.store.close()

    cell = page.run(f"%zingy_apikey retrieve {name}")

    assert cell.ename == "UsageError"
    assert "works only in cloud-flow kernels" in cell.evalue
    assert "page-flow kernel" in cell.evalue and "Zingy Cloud Flow" in cell.evalue
    assert S1 not in cell.everything()


def test_unflagged_kernel_is_flagged_once(home: Path, tmp_path: Path) -> None:
    name = unique("flag")
    profiles = Profiles(home)
    profiles.set(name, S1)
    profiles.store.close()

    with running_kernel(kernel_env(flow=None, home=home, IPYTHONDIR=str(tmp_path))) as kernel:
        kernel.ok("%load_ext zingy_nb")
        assert "unflagged" in kernel.ok("%zingy_apikey flow").stdout
        refused = kernel.run(f"%zingy_apikey retrieve {name}")
        assert "%zingy_apikey flow cloud-flow" in refused.evalue

        flagged = kernel.ok("%zingy_apikey flow cloud-flow").stdout
        assert (
            flagged == "Flow mode: cloud-flow (from flagged in this process): retrieval allowed\n"
        )
        assert kernel.ok(f"%zingy_apikey retrieve {name}").result.startswith("KeyInfo(")

        kernel.ok("%zingy_apikey flow page-flow")  # narrowing is always allowed
        assert kernel.run(f"%zingy_apikey retrieve {name}").ename == "UsageError"
        widen = kernel.run("%zingy_apikey flow cloud-flow")
        assert widen.ename == "UsageError" and "never widens" in widen.evalue
        assert kernel.run(f"%zingy_apikey retrieve {name}").ename == "UsageError"


# -- inline secrets and history --------------------------------------------------------------
@pytest.mark.parametrize("path", ["in-cache", "flushed"])
@pytest.mark.parametrize(
    "template",
    ["%zingy_apikey set {name} {secret}", "%zingy_apikey set {name} --secret1={secret}"],
    ids=["positional", "option"],
)
def test_inline_secret_is_refused_and_scrubbed_from_history(
    cloud: Kernel, cloud_ipython_dir: Path, home: Path, path: str, template: str
) -> None:
    secret = f"sk_live_MADEUP{uuid.uuid4().hex}"
    name, marker = unique("inline"), unique("innocent")
    flushed = path == "flushed"
    cloud.ok(
        INSTALL_PROBE.replace("FLUSH", str(flushed)).replace(
            "CACHE_SIZE", "0" if flushed else "10**6"
        )
    )
    try:
        previous = cloud.ok(f"_znb_marker = {marker!r}")
        cell = cloud.run(template.format(name=name, secret=secret))
        # Read the file before any later cell writes history over freed space.
        right_after = history_bytes(cloud_ipython_dir)
    finally:
        cloud.ok("get_ipython().ast_transformers.remove(_znb_probe)")
    line = cell.reply["execution_count"]
    assert secret.encode() not in right_after

    assert cell.ename == "UsageError", cell.describe()
    assert "removed from history" in cell.evalue
    assert secret not in cell.everything()
    assert name not in snapshot(home)

    # Three more cells roll the line through _i, _ii and _iii; none may hold it.
    for _ in range(3):
        found = json.loads(cloud.ok(f"_znb_inspect({secret.encode().hex()!r}, {line})").stdout)
        assert found["found_in"] == []
    assert found["previous_cell"] == previous.code  # only the offending line is scrubbed
    assert found["probe"] == [{"line": line, "cached": not flushed, "in_db": int(flushed)}]

    data = history_bytes(cloud_ipython_dir)
    assert marker.encode() in data  # the history did reach this file
    assert secret.encode() not in data


# -- no error quotes a typed token; every failing line leaves history ---------------------
#: Lines with a token ``T`` where it does not belong, and the error each gets.
ECHO_CASES = [
    ("set {name} --from-env T", "The 1st --from-env variable (for secret1) is not set"),
    ("set {name} --from-env ZNB_S1 - T", "The 3rd --from-env variable (for secret3)"),
    ("set {name} --from-env T!", "not an environment variable name"),
    ("set {name}=T", "Invalid profile name"),
    ("set T/x --from-env ZNB_S1", "Invalid profile name"),
    ("update T", NOT_FOUND),
    ("update T --from-env ZNB_S1", NOT_FOUND),
    ("retrieve T", NOT_FOUND),
    ("show T", NOT_FOUND),
    ("delete T", NOT_FOUND),
    ("rename T {name}", NOT_FOUND),
    ("rename keep-me T!", "Invalid profile name (the new name)"),
    ("update keep-me --clear T", "The 1st --clear argument is not a slot"),
    ("update keep-me --from-file T", "--from-file takes SLOT=PATH"),
    ("update keep-me --from-file T=/x", "Unknown slot in the 1st --from-file argument"),
    ("update keep-me --from-file secret2=/nonexistent/T", "Cannot read secret2"),
    ("T", "has no such command"),
    ("show keep-me T", "got extra arguments"),
    ("flow T", "That is not a flow mode"),
    ("list --secret1=T", "did not understand this line"),
    ("set {name} 'T", "did not understand this line"),
]


def inspect(kernel: Kernel, token: str, cell: Cell) -> dict[str, Any]:
    """Where IPython still keeps ``token`` (and what it holds for ``cell``'s line)."""
    line = cell.reply["execution_count"]
    return dict(json.loads(kernel.ok(f"_znb_inspect({token.encode().hex()!r}, {line})").stdout))


@pytest.mark.parametrize("kind", TOKENS)
@pytest.mark.parametrize(("template", "message"), ECHO_CASES, ids=lambda v: v[:30])
def test_no_error_quotes_a_typed_token_and_the_line_leaves_history(
    cloud: Kernel, home: Path, cloud_ipython_dir: Path, kind: str, template: str, message: str
) -> None:
    if "keep-me" not in snapshot(home):
        saved(cloud, "keep-me", "ZNB_S1", "ZNB_S2")
    token = TOKENS[kind]
    line = "%zingy_apikey " + template.format(name=unique("echo")).replace("T", token)
    # When the line runs, it fails and says what was wrong
    cell = cloud.run(line)
    assert cell.ename == "UsageError", cell.describe()
    assert message in cell.evalue and "removed from history" in cell.evalue, cell.evalue
    # And neither its output nor the reply (error, traceback) quotes the token
    shown = cell.everything()
    assert token not in shown
    assert not [token[i : i + 8] for i in range(len(token) - 7) if token[i : i + 8] in shown]
    # And IPython keeps it nowhere: In, _i*, the write cache, the history database
    found = inspect(cloud, token, cell)
    assert found["found_in"] == [] and found["input"] == PLACEHOLDER
    assert token.encode() not in history_bytes(cloud_ipython_dir)


def test_lines_that_succeed_stay_in_history(cloud: Kernel) -> None:
    name = unique("stays")
    cell = cloud.ok(f"%zingy_apikey set {name} --from-env ZNB_S1")
    listed = cloud.ok("%zingy_apikey list")
    assert inspect(cloud, "no-such-text", cell)["input"] == cell.code
    assert inspect(cloud, "no-such-text", listed)["input"] == "%zingy_apikey list"


# -- completion ------------------------------------------------------------------------------
def test_tab_completion_offers_commands_and_profile_names(cloud: Kernel) -> None:
    prefix = f"tab{uuid.uuid4().hex[:6]}"
    for suffix in ("_stripe", "_sendgrid", "-stripe"):
        saved(cloud, prefix + suffix, "ZNB_S1")
    saved(cloud, unique("zother"), "ZNB_S1")

    line = f"%zingy_apikey show {prefix}_s"
    got = cloud.complete(line)
    assert sorted(got["matches"]) == [f"{prefix}_sendgrid", f"{prefix}_stripe"]
    assert line[got["cursor_start"] : got["cursor_end"]] == f"{prefix}_s"

    # With a '-' in the name Jedi adds Python names too (IPython never suppresses Jedi),
    # but the profile names are offered and other profiles are not.
    matches = cloud.complete(f"%zingy_apikey delete {prefix}-s")["matches"]
    assert f"{prefix}-stripe" in matches
    assert not [m for m in matches if "zother" in m or m.endswith(("_stripe", "_sendgrid"))]

    commands = cloud.complete("%zingy_apikey re")["matches"]
    assert {"rename", "retrieve"} <= set(commands) and "show" not in commands
    modes = cloud.complete("%zingy_apikey flow ")["matches"]
    assert {"cloud-flow", "page-flow"} <= set(modes) and not [m for m in modes if prefix in m]


def test_prompts_are_worded_alike_for_every_slot(cloud: Kernel, home: Path) -> None:
    from tests.leaks.harness import Recorder

    asked: list[str] = []
    answers = iter(["sk_test_MADEUP_prompted_1", "", "third-MADEUP-value", ""])

    def answer(request: dict[str, Any]) -> str:
        asked.append(request["content"]["prompt"])
        assert request["content"]["password"] is True  # getpass: never echoed
        return next(answers)

    recorder = Recorder(cloud)
    assert (
        recorder.execute("%zingy_apikey set prompted", allow_stdin=True, answer=answer).status
        == "ok"
    )
    assert asked == [
        "Secret (required): ",
        "Secret2 (optional, Enter leaves it unset): ",
        "Secret3 (optional, Enter leaves it unset): ",
        "Secret4 (optional, Enter leaves it unset): ",
    ]
    asked.clear()
    answers = iter(["", "", "", ""])
    assert (
        recorder.execute("%zingy_apikey update prompted", allow_stdin=True, answer=answer).ename
        == "UsageError"
    )
    assert asked == [
        f"{label} (Enter keeps it): " for label in ("Secret", "Secret2", "Secret3", "Secret4")
    ]
