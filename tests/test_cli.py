"""The ``zingy-nb`` command, run as users run it: a real process, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import agents
from tests.isolation import tree_bytes
from tests.leaks.values import TOKENS

#: Agents the CLI starts on demand get a runtime folder of each test's, and stop with it.
own_agents = agents.own_agents
pytestmark = pytest.mark.usefixtures("own_agents")

CLI = str(Path(sys.executable).with_name("zingy-nb"))


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None):
    return subprocess.run(
        [CLI, *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def secrets_of(name: str) -> tuple:
    from zingy_nb.profiles import Profiles

    return Profiles().secrets(name)


def test_set_from_stdin_keeps_everything_but_line_endings(zingy_home: Path) -> None:
    # Given four lines, the second empty, with CRLF and trailing spaces
    result = run("profiles", "set", "stripe", "--stdin", stdin="sk one \r\n\nthree\t\n")
    # Then the profile holds them exactly, the empty line leaving secret2 unset
    assert result.returncode == 0, result.stderr
    assert "Saved profile 'stripe'" in result.stderr
    assert secrets_of("stripe") == ("sk one ", None, "three\t", None)


def test_update_from_stdin_empty_line_keeps_slot_and_clear_clears(zingy_home: Path) -> None:
    run("profiles", "set", "svc", "--stdin", stdin="one\ntwo\nthree\n")
    result = run("profiles", "update", "svc", "--stdin", "--clear", "secret3", stdin="\nTWO\n")
    assert result.returncode == 0, result.stderr
    assert secrets_of("svc") == ("one", "TWO", None, None)


def test_from_env_and_from_file(zingy_home: Path, tmp_path: Path) -> None:
    key = tmp_path / "id_madeup"
    key.write_text("-----BEGIN MADE-UP-----\nline\n-----END MADE-UP-----\n")
    result = run(
        "profiles", "set", "ssh", "--from-env", "MAIN_VAR", "-", "THIRD_VAR",
        "--from-file", f"secret4={key}",
        env={"MAIN_VAR": "main-madeup", "THIRD_VAR": "third-madeup"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert secrets_of("ssh") == ("main-madeup", None, "third-madeup", key.read_text())


def test_list_json_is_an_array_of_objects_without_values(zingy_home: Path) -> None:
    run("profiles", "set", "b-svc", "--stdin", stdin="value-b-MADEUP\n\n\nfour-MADEUP\n")
    run("profiles", "set", "a-svc", "--stdin", stdin="value-a-MADEUP\n")
    result = run("profiles", "list", "--json")
    assert result.returncode == 0
    listed = json.loads(result.stdout)
    assert [p["name"] for p in listed] == ["a-svc", "b-svc"]
    assert listed[1]["slots"] == {
        "secret1": True,
        "secret2": False,
        "secret3": False,
        "secret4": True,
    }
    assert set(listed[0]) == {"name", "slots", "unredacted", "created", "updated"}
    assert listed[0]["unredacted"] == listed[1]["unredacted"] == []
    assert "MADEUP" not in result.stdout + result.stderr
    text = run("profiles", "list").stdout
    assert "a-svc\tsecret1\t" in text and "b-svc\tsecret1, secret4\t" in text


def test_show_rename_delete(zingy_home: Path) -> None:
    run("profiles", "set", "svc", "--stdin", stdin="one\n")
    assert json.loads(run("profiles", "show", "svc", "--json").stdout)["name"] == "svc"
    assert run("profiles", "rename", "svc", "svc2").returncode == 0
    assert run("profiles", "delete", "svc2").returncode == 0
    assert json.loads(run("profiles", "list", "--json").stdout) == []


def test_secret_on_argv_is_refused_and_never_echoed(zingy_home: Path) -> None:
    result = run("profiles", "set", "stripe", "sk_live_MADEUP_argv")
    assert result.returncode == 2
    assert "sk_live_MADEUP_argv" not in result.stderr + result.stdout
    assert "secrets never go on the command line" in result.stderr
    result = run("profiles", "set", "stripe", "--secret1=sk_live_MADEUP_opt")
    assert result.returncode == 2 and "sk_live_MADEUP_opt" not in result.stderr
    assert not zingy_home.exists()


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("profiles", "set", "bad name", "--stdin"), "one\n", "Invalid profile name"),
        (("profiles", "set", "svc", "--stdin"), "\nsecond\n", "secret1 is required"),
        (("profiles", "set", "svc", "--stdin"), "1\n2\n3\n4\n5\n", "at most four"),
        (("profiles", "set", "svc"), "", "stdin is not a terminal"),
        (("profiles", "set", "svc", "--from-env", "NOPE_UNSET"), "",
         "The 1st --from-env variable (for secret1) is not set"),
        (("profiles", "set", "svc", "--from-file", "secret9=/x"), "", "Unknown slot"),
        (("profiles", "set", "svc", "--from-file", "secret2=/no/such/file", "--stdin"), "",
         "not both"),
        (("profiles", "set", "svc", "--from-file", "secret1=/no/such/file"), "",
         "Cannot read secret1 from the file given"),
        (("profiles", "update", "nope", "--stdin"), "x\n", "No profile with that name"),
        (("profiles", "update", "keep", "--clear", "secret1"), "", "secret1 cannot be cleared"),
        (("profiles", "show", "nope"), "", "No profile with that name"),
        (("profiles", "delete", "nope"), "", "No profile with that name"),
        (("profiles", "rename", "keep", "../x"), "", "Invalid profile name"),
    ],
)  # fmt: skip
def test_bad_input_gets_one_line_error_and_changes_nothing(
    zingy_home: Path, args: tuple, stdin: str, message: str
) -> None:
    run("profiles", "set", "keep", "--stdin", stdin="keep-MADEUP\n")
    before = {p: b for p, b in tree_bytes(zingy_home) if not p.name.endswith(("-shm", "-wal"))}
    result = run(*args, stdin=stdin)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("zingy-nb: error")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    after = {p: b for p, b in tree_bytes(zingy_home) if not p.name.endswith(("-shm", "-wal"))}
    assert after == before
    assert secrets_of("keep") == ("keep-MADEUP", None, None, None)


# -- no error quotes an argument ----------------------------------------------------------
#: Command lines with a token ``T`` where it does not belong, and the error each gets.
ECHO_CASES = [
    (("profiles", "set", "svc", "T"), "unrecognized arguments"),
    (("profiles", "set", "svc", "--secret1=T"), "unrecognized arguments"),
    (("profiles", "set", "svc", "--stdin=T"), "argument --stdin: takes no value"),
    (("profiles", "set", "svc", "--from=T"), "ambiguous option"),
    (("profiles", "T"), "invalid choice"),
    (("T",), "invalid choice"),
    (("profiles", "grant", "keep", "bob", "T"), "invalid choice"),
    (("profiles", "show", "keep", "T"), "unrecognized arguments"),
    (("profiles", "set", "svc", "--from-env", "T"), "1st --from-env variable"),
    (("profiles", "set", "svc", "--from-env", "-", "T"), "2nd --from-env variable"),
    (("profiles", "set", "svc", "--from-env", "T!"), "not an environment variable name"),
    (("profiles", "set", "T/x", "--stdin"), "Invalid profile name"),
    (("profiles", "show", "T"), "No profile with that name"),
    (("profiles", "delete", "T"), "No profile with that name"),
    (("profiles", "update", "T", "--stdin"), "No profile with that name"),
    (("profiles", "rename", "T", "svc"), "No profile with that name"),
    (("profiles", "rename", "keep", "T!"), "Invalid profile name (the new name)"),
    (("profiles", "set", "svc", "--from-file", "secret1=/nonexistent/T"), "Cannot read secret1"),
    (("profiles", "set", "svc", "--from-file", "T=/x"), "Unknown slot"),
    (("profiles", "set", "svc", "--from-file", "T"), "--from-file takes SLOT=PATH"),
    (("profiles", "update", "keep", "--clear", "T"), "1st --clear argument is not a slot"),
    (("audit", "--profile", "T/x"), "Invalid profile name"),
    (("key", "export", "--output", "/nonexistent/T/key"), "its path is not shown"),
    (("key", "import", "--input", "/nonexistent/T"), "its path is not shown"),
    (("kernels", "install", "--prefix", "/proc/T"), "its path is not shown"),
]


@pytest.fixture(scope="module")
def echo_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {"ZINGY_NB_HOME": str(tmp_path_factory.mktemp("echo") / "zingy")}
    assert run("profiles", "set", "keep", "--stdin", stdin="keep-MADEUP\n", env=env).returncode == 0
    return env


@pytest.mark.parametrize("kind", TOKENS)
@pytest.mark.parametrize(("args", "message"), ECHO_CASES, ids=lambda v: " ".join(v)[:40])
def test_no_error_quotes_a_token_typed_on_the_command_line(
    echo_home: dict[str, str], kind: str, args: tuple[str, ...], message: str
) -> None:
    token = TOKENS[kind]
    argv = [a.replace("T", token) for a in args]  # no other argument has a capital T
    result = run(*argv, stdin="x\n", env=echo_home)
    # Then it fails with one error line saying what was wrong, and quotes nothing typed
    assert result.returncode in (1, 2), result.stderr
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and message in errors[0], result.stderr
    for text in (result.stdout, result.stderr):
        assert token not in text
        assert not [token[i : i + 8] for i in range(len(token) - 7) if token[i : i + 8] in text]
    assert "Traceback" not in result.stderr


def test_key_status_export_import_moves_a_store(zingy_home: Path, tmp_path: Path) -> None:
    run("profiles", "set", "svc", "--stdin", stdin="moved-MADEUP\n")
    status = json.loads(run("key", "status", "--json").stdout)
    assert status["key_source"] == "file" and status["problem"] is None
    exported = run("key", "export")
    assert "Warning" in exported.stderr
    key_text = exported.stdout.strip()
    # Given the store copied to a fresh home with no key
    new_home = tmp_path / "elsewhere"
    new_home.mkdir(mode=0o700)
    (new_home / "profiles.db").write_bytes((zingy_home / "profiles.db").read_bytes())
    env = {"ZINGY_NB_HOME": str(new_home)}
    assert run("key", "status", env=env).returncode == 1
    # When the key is imported through stdin
    imported = run("key", "import", stdin=key_text + "\n", env=env)
    assert imported.returncode == 0, imported.stderr
    # Then the store reads there (in a cloud-flow process: reading values is gated)
    check = subprocess.run(
        [sys.executable, "-c",
         "from zingy_nb.profiles import Profiles; print(Profiles().secrets('svc')[0])"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, **env, "ZINGY_NB_FLOW": "cloud-flow"},
    )  # fmt: skip
    assert check.stdout.strip() == "moved-MADEUP"
    assert json.loads(run("key", "status", "--json", env=env).stdout)["problem"] is None


def test_export_to_file_is_private(zingy_home: Path, tmp_path: Path) -> None:
    run("profiles", "set", "svc", "--stdin", stdin="one\n")
    out = tmp_path / "backup.key"
    result = run("key", "export", "--output", str(out))
    assert result.returncode == 0 and result.stdout == ""
    assert out.stat().st_mode & 0o077 == 0
    assert len(out.read_text().strip()) == 44
