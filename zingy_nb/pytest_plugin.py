"""pytest plugin: regression-test notebooks against throwaway test profiles.

``pytest --zingy-profiles FILE`` gives the whole test session an isolated store and a
random master key in a temporary directory, loads the profiles from FILE (TOML or JSON,
by extension), and exports ``ZINGY_NB_HOME`` / ``ZINGY_NB_MASTER_KEY`` so kernels
started by nbval, nbclient or papermill in that session use exactly that store. The
``zingy_profiles`` fixture gives Python tests the same. Neither ever reads or writes the
user's real store or keyring. While either is in use, the test process itself counts as
cloud-flow (unless it is page-flow already), so in-process calls of ``zingyConn`` or
``Profiles.secrets`` behave as in a cloud-flow kernel.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import flow
from .crypto import encode_key, new_key
from .errors import ZingyError
from .keys import ENV_VAR as KEY_ENV
from .paths import HOME_ENV
from .profiles import Profiles
from .rules import SLOTS
from .store.url import URL_ENV

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_STASH = pytest.StashKey["TestStore"]()


@dataclass
class TestStore:
    """An isolated store with its own key; ``env`` points processes at it."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    home: Path
    env: dict[str, str]

    @property
    def profiles(self) -> Profiles:
        return Profiles(self.home, url="")


def load_profiles_file(path: Path) -> dict[str, dict[str, str]]:
    """Read a test-profiles file: a table/object per profile name, keys secret1..4."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise pytest.UsageError(f"--zingy-profiles: cannot read {path}: {exc.strerror}.") from None
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(raw.decode("utf-8"))
        elif path.suffix == ".json":
            data = json.loads(raw)
        else:
            raise pytest.UsageError(f"--zingy-profiles: {path} must end in .toml or .json.")
    except (ValueError, UnicodeDecodeError) as exc:
        # Parser messages may quote a line of the file: give the position only.
        where = getattr(exc, "lineno", None)
        raise pytest.UsageError(
            f"--zingy-profiles: {path} is not valid {path.suffix[1:].upper()}"
            + (f" (line {where})" if where else "")
            + "."
        ) from None
    if not isinstance(data, dict):
        raise pytest.UsageError(f"--zingy-profiles: {path} must hold one table per profile.")
    for name, slots in data.items():
        if not isinstance(slots, dict) or not set(slots) <= set(SLOTS):
            raise pytest.UsageError(
                f"--zingy-profiles: profile {name!r} in {path} must be a table whose keys "
                f"are among {', '.join(SLOTS)}."
            )
    return data


@contextlib.contextmanager
def temporary_env(**values: str | None) -> Iterator[None]:
    """Set (or, with None, remove) environment variables, then put them back."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def make_store(root: Path, profiles: dict[str, dict[str, str]] | None = None) -> TestStore:
    """Create a store under ``root`` with a fresh random key and the given profiles."""
    home = root / "zingy-nb-home"
    # Never a team store: a set ZINGY_NB_STORE_URL is blanked for the session.
    env = {HOME_ENV: str(home), KEY_ENV: encode_key(new_key()), URL_ENV: ""}
    with temporary_env(**env):
        store = Profiles(home, url="")
        for name, slots in (profiles or {}).items():
            try:
                store.set(name, *(slots.get(s) for s in SLOTS))
            except ZingyError as exc:
                raise pytest.UsageError(f"--zingy-profiles: profile {name!r}: {exc}") from None
    return TestStore(home, env)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("zingy-nb")
    group.addoption(
        "--zingy-profiles",
        metavar="FILE",
        help="load API Key test profiles from FILE (.toml or .json: a table per profile "
        "name with keys secret1..secret4) into a throwaway store with a random key in a "
        "temporary directory, used by every kernel this session starts. Never reads or "
        "writes your real zingy-nb store or keyring.",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    option = config.getoption("--zingy-profiles", default=None)
    if not option:
        return
    root = Path(tempfile.mkdtemp(prefix="zingy-nb-test-profiles-"))
    try:
        store = make_store(root, load_profiles_file(Path(option)))
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    config.stash[_STASH] = store
    config.add_cleanup(lambda: shutil.rmtree(root, ignore_errors=True))
    exported = contextlib.ExitStack()
    exported.enter_context(temporary_env(**store.env))  # for the whole session
    exported.enter_context(flow.cloud_flow_while_testing())  # in-process retrievals too
    config.add_cleanup(exported.close)


def pytest_report_header(config: pytest.Config) -> str | None:
    store = config.stash.get(_STASH, None)
    if store is None:
        return None
    return f"zingy-nb: throwaway test store at {store.home} (your real store is not used)"


@pytest.fixture
def zingy_profiles(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Profiles]:
    """A ``Profiles`` on an isolated store, exported to processes started by the test.

    With ``--zingy-profiles`` it is the session's store (holding that file's profiles);
    otherwise a fresh empty store with its own random key, for this test only.
    """
    store = request.config.stash.get(_STASH, None) or make_store(tmp_path)
    for key, value in store.env.items():
        monkeypatch.setenv(key, value)
    with flow.cloud_flow_while_testing():
        yield store.profiles
