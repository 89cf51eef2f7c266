"""Fuzzed names and values through the API, the magic and the CLI.

Whatever comes in, the only outcomes are a documented error or a value that reads
back exactly as it was stored.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zingy_nb.errors import InvalidProfileError, ProfileNotFoundError
from zingy_nb.profiles import Profiles
from zingy_nb.pytest_plugin import temporary_env
from zingy_nb.rules import validate_name

NASTY = st.sampled_from(
    ["", " ", "\x00", "\ud800", "\u202e", "e\u0301", "\t\n", "😀", "a" * 70_000, "\r\n" * 5]
)
VALUES = st.one_of(st.text(), NASTY, st.text(min_size=1).map(lambda s: s * 300))
NAMES = st.one_of(
    st.text(max_size=140), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,140}", fullmatch=True), NASTY
)
FAST = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples on every CI run
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def echoed(value: str, text: str, *, allowed: str = "") -> bool:
    """Whether an error shows ``value`` (beyond where it is part of the name it quotes)."""
    if len(value) <= 3:
        return False
    return value in (text.replace(allowed, "") if allowed else text)


def is_valid_name(name: str) -> bool:
    try:
        validate_name(name)
    except InvalidProfileError:
        return False
    return True


@FAST
@given(name=NAMES, values=st.lists(st.one_of(st.none(), VALUES), min_size=4, max_size=4))
def test_api_stores_exactly_or_refuses(name: str, values: list) -> None:
    with tempfile.TemporaryDirectory() as tmp, temporary_env(ZINGY_NB_HOME=tmp):
        p = Profiles(Path(tmp))
        try:
            p.set(name, *values)
        except InvalidProfileError as err:
            for v in values:
                if v and isinstance(name, str):
                    assert not echoed(v, str(err), allowed=name)
            with pytest.raises((ProfileNotFoundError, InvalidProfileError)):
                p.secrets(name)
            return
        assert p.secrets(name) == tuple(values)
        assert Profiles(Path(tmp)).secrets(name) == tuple(values)


@pytest.fixture(scope="module")
def shell():
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"  # the session's dirs vanish before atexit
    ip = InteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "zingy_nb")
    return ip


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(name=NAMES, value=VALUES)
def test_magic_stores_exactly_or_refuses(shell, tmp_path_factory, name: str, value: str) -> None:
    from IPython.core.error import UsageError

    home = tmp_path_factory.mktemp("magic")
    if "\x00" in value or "\ud800" in value or "\x00" in name:
        return  # an environment variable cannot carry these; the API test covers them
    try:
        with temporary_env(ZINGY_NB_HOME=str(home), FUZZ_VALUE=value):
            shell.run_line_magic("zingy_apikey", f"set {name} --from-env FUZZ_VALUE")
    except UsageError as err:
        assert not echoed(value, str(err), allowed=name)
        assert not (home / "profiles.db").exists() or not Profiles(home).list()
        return
    assert is_valid_name(name) and value
    assert Profiles(home).secrets(name) == (value, None, None, None)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(name=NAMES, value=VALUES)
def test_cli_stores_exactly_or_refuses(tmp_path_factory, name: str, value: str) -> None:
    if "\x00" in name or "\ud800" in name:
        return  # argv cannot carry these
    home = tmp_path_factory.mktemp("cli")
    src = home.parent / f"{home.name}.value"
    try:
        src.write_bytes(value.encode("utf-8"))
    except UnicodeEncodeError:
        return  # not representable in a file; the API test covers it
    result = subprocess.run(
        [str(Path(sys.executable).with_name("zingy-nb")), "profiles", "set", "--from-file",
         f"secret1={src}", "--", name],
        capture_output=True, text=True, timeout=60, env={**os.environ, "ZINGY_NB_HOME": str(home)},
    )  # fmt: skip
    if result.returncode != 0:
        assert result.returncode in (1, 2)
        assert result.stderr.count("\n") <= 1 or "usage:" in result.stderr
        assert not echoed(value, result.stderr, allowed=name)
        return
    assert is_valid_name(name) and value
    assert Profiles(home).secrets(name) == (value, None, None, None)
