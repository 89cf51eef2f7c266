"""The launcher's fast path does what the full client does, with almost no imports.

``agent.where`` repeats ``StoreLocation``'s socket path without pathlib or
jupyter_core, ``agent.fastpath`` repeats ``AgentClient.register`` over ``_socket`` and
``_json``, and ``agent.launch`` repeats ``flow``'s names: each is checked against the
module it stands in for. A launcher run with the agent up imports none of the heavy
modules that made it cost +51 ms.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.isolation import stop_agents
from zingy_nb import flow, kernels
from zingy_nb.agent import fastpath, launch, location, protocol, where
from zingy_nb.agent.client import ensure_agent
from zingy_nb.agent.location import StoreLocation
from zingy_nb.errors import ZingyError

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the agent and its launcher are Linux-only"
)

#: Modules a launcher run with the agent up must not import (each cost milliseconds).
HEAVY = ("typing", "re", "json", "socket", "pathlib", "dataclasses", "hashlib", "runpy",
         "jupyter_core", "platformdirs", "zingy_nb.errors", "zingy_nb.flow",
         "zingy_nb.agent.client", "zingy_nb.agent.location")  # fmt: skip


def test_the_repeated_names_agree() -> None:
    assert (launch.FLOW_ENV, launch.PAGE_FLOW, launch.MODES) == (
        flow.ENV_VAR,
        flow.PAGE_FLOW,
        flow.MODES,
    )
    assert (where.SOCKET, where.MAX_SOCKET_PATH) == (location.SOCKET, location.MAX_SOCKET_PATH)
    assert fastpath.MAX_LINE == protocol.MAX_LINE


ENVIRONMENTS = {
    "defaults": {},
    "runtime dir": {"JUPYTER_RUNTIME_DIR": "{tmp}/rt"},
    "home": {"ZINGY_NB_HOME": "{tmp}/store"},
    "both": {"ZINGY_NB_HOME": "{tmp}/store", "JUPYTER_RUNTIME_DIR": "{tmp}/rt"},
    "data dir": {"JUPYTER_DATA_DIR": "{tmp}/data"},
    "xdg": {"XDG_DATA_HOME": "{tmp}/xdg"},
    "home with a slash": {"HOME": "{tmp}/home/"},
    "home through a link": {"HOME": "{tmp}/link"},
    "home unset": {"HOME": None},
    "platform dirs": {"JUPYTER_PLATFORM_DIRS": "1"},
    "platform dirs, data dir": {"JUPYTER_PLATFORM_DIRS": "1", "JUPYTER_DATA_DIR": "{tmp}/d"},
    "dot in home": {"ZINGY_NB_HOME": "{tmp}/./store"},
    "double slash": {"JUPYTER_RUNTIME_DIR": "{tmp}//rt"},
    "trailing slash": {"ZINGY_NB_HOME": "{tmp}/store/"},
    "dot-dot": {"ZINGY_NB_HOME": "{tmp}/x/../store"},
    "relative": {"ZINGY_NB_HOME": "store", "JUPYTER_RUNTIME_DIR": "rt"},
    "tilde": {"ZINGY_NB_HOME": "~/store"},
    "too deep": {"JUPYTER_RUNTIME_DIR": "{tmp}/" + "d" * 120},
    "team store": {"ZINGY_NB_STORE_URL": "postgresql://u:pw@db/zingy"},
    "empty url": {"ZINGY_NB_STORE_URL": ""},
}
#: Where the fast path must answer (not fall back): what kernels usually see.
ANSWERED = {"defaults", "runtime dir", "home", "both", "data dir", "xdg", "home with a slash",
            "home through a link", "dot-dot", "empty url"}  # fmt: skip


@pytest.fixture
def short() -> Iterator[Path]:
    """A folder with a short path: pytest's own are too deep for a Unix socket."""
    folder = Path(tempfile.mkdtemp(prefix="znb-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("case", sorted(ENVIRONMENTS))
def test_the_socket_path_is_the_store_locations(
    case: str, short: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path = short
    (tmp_path / "home").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "home")
    monkeypatch.chdir(tmp_path)
    for var in ("ZINGY_NB_HOME", "ZINGY_NB_STORE_URL", "JUPYTER_RUNTIME_DIR",
                "JUPYTER_DATA_DIR", "JUPYTER_PLATFORM_DIRS", "XDG_DATA_HOME"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var, value in ENVIRONMENTS[case].items():
        if value is None:
            monkeypatch.delenv(var)
        else:
            monkeypatch.setenv(var, value.replace("{tmp}", str(tmp_path)))
    got = where.agent_socket(os.environ)
    if case in ANSWERED:
        assert got is not None
    if got is not None:
        current = StoreLocation.current()
        assert got == (current.key, str(current.socket_path()))


def test_the_wire_format_is_protocols() -> None:
    fields: dict[str, str | int | None] = {"id": 1, "op": "register", "flow": "cloud-flow"}
    fields.update(notebook='/n/ü "x"\n\udcff.ipynb', pid=1234, via=None, named="a\\b")
    assert fastpath._encode(fields) == protocol.encode(dict(fields))
    lines = [b'{"id":1,"ok":true,"cap":"abc"}\n', b'{"id": 1, "x": [1, 2.5, NaN, {"y": null}]}\n',
             '{"id":1,"m":"\u00fc"}\n'.encode(), b'  {"id":1}\n', b'{"id":1}', b'{"id":1}\r\n']  # fmt: skip
    for line in lines:
        assert repr(fastpath._decode(line)) == repr(protocol.decode(line)), line
    for bad in (b"[1]\n", b"{}{}\n", b"{\n", b"\xff\n", b"null\n"):
        with pytest.raises(ZingyError) as fast:
            fastpath._decode(bad)
        with pytest.raises(ZingyError) as full:
            protocol.decode(bad)
        assert str(fast.value) == str(full.value)


@pytest.fixture
def agent_up(short: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """An agent of a store of its own, running; the launcher's environment for it."""
    tmp_path = short
    runtime = tmp_path / "rt"
    runtime.mkdir()
    monkeypatch.setenv("ZINGY_NB_HOME", str(tmp_path / "store"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    monkeypatch.delenv("ZINGY_NB_STORE_URL", raising=False)
    # As after any Jupyter application's first run: the config folder was migrated (the
    # first confined launch does that, once; later ones must stay light).
    config = tmp_path / "config"
    config.mkdir()
    (config / "migrated").write_text("")
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(config))
    try:
        with ensure_agent(idle_timeout=60):
            yield dict(os.environ)
    finally:
        stop_agents(runtime)


def test_a_launch_with_the_agent_up_imports_nothing_heavy(agent_up: dict[str, str]) -> None:
    argv = kernels.kernel_argv("cloud-flow")
    launcher = argv[: argv.index("--") + 1]
    show = [sys.executable, "-c", "import os; print(os.environ.get('ZINGY_NB_AGENT_CAP'))"]
    done = subprocess.run([launcher[0], "-X", "importtime", *launcher[1:], *show], env=agent_up,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip()) > 20, done.stdout  # a capability
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "zingy_nb.agent.fastpath" in imported
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_a_refusal_is_the_agents_error(agent_up: dict[str, str]) -> None:
    """A process that the agent refuses (here: one registered already) gets the
    agent's own error, through the fast path as through the client."""
    code = (
        "from zingy_nb.agent import fastpath\n"
        "from zingy_nb.errors import ZingyError\n"
        "print(fastpath.register('cloud-flow', None, None, None) is not None)\n"
        "try:\n"
        "    fastpath.register('cloud-flow', None, None, None)\n"
        "except ZingyError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=agent_up, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    first, second = done.stdout.splitlines()
    assert first == "True", done.stderr
    assert "cannot register a kernel of its own" in second, second
