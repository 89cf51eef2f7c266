"""pytest plugin: regression-test notebooks against throwaway test profiles.

``pytest --zingy-profiles FILE`` gives the whole test session an isolated store and a
random master key in a temporary directory, loads the profiles from FILE (TOML or JSON,
by extension), and exports ``ZINGY_NB_HOME`` / ``ZINGY_NB_MASTER_KEY`` so kernels
started by nbval, nbclient, nbmake, testbook or papermill in that session use exactly
that store. The ``zingy_profiles`` fixture gives Python tests the same. Neither ever
reads or writes the user's real store or keyring. While either is in use, the test
process itself counts as cloud-flow (unless it is page-flow already), so in-process
calls of ``zingyConn`` or ``Profiles.secrets`` behave as in a cloud-flow kernel.

``pytest --zingy-flow cloud-flow|page-flow`` makes every IPython kernel the session
starts load zingy-nb in that flow, also when the tool ignores the notebook's kernelspec
(testbook's default ``python3``, nbval's ``--nbval-current-env``, nbmake's
``--nbmake-kernel``): it exports ``ZINGY_NB_FLOW`` and points ``IPYTHONDIR`` at a
throwaway folder whose ``profile_default/ipython_kernel_config.py`` lists the extension
in ``c.InteractiveShellApp.extensions``. A config file is the only way: IPython reads no
environment variable for extensions, and the tools start kernels from a kernelspec's
argv that the plugin cannot change. The zingy kernelspecs keep their own flow (their
``env`` wins over the session's). The test process's own mode is not changed.

Both options are applied after every other ``pytest_configure`` (``trylast``), so a
conftest that isolates the environment (as zingy-nb's own suite does) cannot undo them.
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
from .errors import ZingyError
from .paths import HOME_ENV
from .profiles import Profiles
from .rules import SLOTS
from .store.url import URL_ENV
from .vault import MASTER_KEY_ENV as KEY_ENV
from .vault import encode_key, new_key

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


#: The kernel config that loads the extension in every kernel of a ``--zingy-flow`` session.
KERNEL_CONFIG = (
    "# Written by the zingy-nb pytest plugin (--zingy-flow) for this test session only.\n"
    'c.InteractiveShellApp.extensions = ["zingy_nb"]\n'
)


def make_ipython_dir(root: Path) -> Path:
    """An IPython dir under ``root`` whose kernels load zingy-nb at start."""
    ipython_dir = root / "ipython"
    profile = ipython_dir / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text(KERNEL_CONFIG)
    return ipython_dir


def flow_env(mode: str, root: Path) -> dict[str, str]:
    """What a process needs so that the kernels it starts load zingy-nb in ``mode``."""
    return {flow.ENV_VAR: mode, "IPYTHONDIR": str(make_ipython_dir(root))}


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
    group.addoption(
        "--zingy-flow",
        metavar="MODE",
        help=f"{flow.CLOUD_FLOW} or {flow.PAGE_FLOW}: every IPython kernel this session "
        "starts loads zingy-nb (zingyConn, %%zingy_apikey) in that flow, even when the "
        "tool ignores the notebook's kernelspec (testbook, --nbval-current-env, "
        "--nbmake-kernel). Exports ZINGY_NB_FLOW and a throwaway IPYTHONDIR; the zingy "
        "kernelspecs keep their own flow.",
    )


def _flow_option(config: pytest.Config) -> str | None:
    option = config.getoption("--zingy-flow", default=None)
    if option is None:
        return None
    if option not in flow.MODES:
        # Never quote the argument back: one rule for every zingy-nb message.
        raise pytest.UsageError(
            f"--zingy-flow must be {flow.CLOUD_FLOW} or {flow.PAGE_FLOW} (the flow every "
            "kernel of this session runs in)."
        )
    return str(option)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    option = config.getoption("--zingy-profiles", default=None)
    mode = _flow_option(config)
    if not option and mode is None:
        return
    root = Path(tempfile.mkdtemp(prefix="zingy-nb-test-session-"))
    config.add_cleanup(lambda: shutil.rmtree(root, ignore_errors=True))
    env: dict[str, str] = {}
    if option:
        store = make_store(root, load_profiles_file(Path(option)))
        config.stash[_STASH] = store
        env.update(store.env)
    if mode is not None:
        flow.init_from_env()  # this process keeps the mode it started with
        env.update(flow_env(mode, root))
    exported = contextlib.ExitStack()
    config.add_cleanup(exported.close)
    # A session started from a notebook's kernel (`!pytest ...`) inherits its identity;
    # the test kernels are not that notebook, and nobody could answer an access prompt.
    gone: dict[str, str | None] = {"JPY_SESSION_NAME": None} if option else {}
    exported.enter_context(temporary_env(**env, **gone))  # for the whole session
    if option:
        exported.enter_context(flow.cloud_flow_while_testing())  # in-process retrievals too


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    store = config.stash.get(_STASH, None)
    mode = config.getoption("--zingy-flow", default=None)
    lines = []
    if store is not None:
        lines.append(
            f"zingy-nb: throwaway test store at {store.home} (your real store is not used)"
        )
    if mode is not None:
        lines.append(
            f"zingy-nb: kernels of this session load zingy-nb in {mode} "
            "(a zingy kernelspec keeps its own flow)"
        )
    return lines or None


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
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)  # no notebook identity to judge
    with flow.cloud_flow_while_testing():
        yield store.profiles
