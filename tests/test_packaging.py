"""The wheel as users get it: the prebuilt lab extension and the server extension, enabled.

The slow test builds the wheel, installs it into a fresh venv (dependencies from the
package index, through pip's cache) and asks that venv's ``jupyter`` what the extension
template's CI asks: ``jupyter server extension list`` and ``jupyter labextension list``.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import zingy_nb

REPO = Path(__file__).resolve().parents[1]
SERVER_CONFIG = {"ServerApp": {"jpserver_extensions": {"zingy_nb": True}}}
SHIPPED_CONFIG = "etc/jupyter/jupyter_server_config.d/zingy_nb.json"
LABEXTENSION = "share/jupyter/labextensions/zingy-nb"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _pip_env() -> dict[str, str]:
    """The test session's env, with pip's cache where it normally is (HOME is a temp dir)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JUPYTER_PATH")}
    if "PIP_CACHE_DIR" not in env and "PIP_NO_CACHE_DIR" not in env:
        real_home = Path(pwd.getpwuid(os.getuid()).pw_dir)
        env["PIP_CACHE_DIR"] = str(real_home / ".cache" / "pip")
    return env


def _run(
    argv: list[str], env: dict[str, str], timeout: float = 600, cwd: Path | None = None
) -> str:
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    output = ANSI.sub("", result.stdout + result.stderr)
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{output[-4000:]}"
    return output


def test_shipped_server_config_enables_the_extension() -> None:
    shipped = json.loads((REPO / "jupyter-config" / "server-config" / "zingy_nb.json").read_text())
    assert shipped == SERVER_CONFIG


def test_the_package_declares_both_extensions() -> None:
    assert zingy_nb._jupyter_server_extension_points() == [{"module": "zingy_nb"}]
    assert zingy_nb._jupyter_labextension_paths() == [{"src": "labextension", "dest": "zingy-nb"}]
    assert callable(zingy_nb._load_jupyter_server_extension)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out), str(REPO)],
        _pip_env(), cwd=REPO,
    )  # fmt: skip
    (built,) = out.glob("zingy_nb-*.whl")
    return built


@pytest.mark.slow
def test_wheel_holds_the_prebuilt_lab_extension_and_the_server_config(wheel: Path) -> None:
    data = f"zingy_nb-{zingy_nb.__version__}.data/data/"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert json.loads(zf.read(data + SHIPPED_CONFIG)) == SERVER_CONFIG
        package = json.loads(zf.read(data + LABEXTENSION + "/package.json"))
    assert package["name"] == "zingy-nb"
    static = [n for n in names if n.startswith(data + LABEXTENSION + "/static/")]
    assert any(re.search(r"/remoteEntry\.[0-9a-f]+\.js$", n) for n in static), static
    assert data + LABEXTENSION + "/static/style.js" in names
    assert "zingy_nb/server/handlers.py" in names
    assert not [
        n for n in names if "node_modules" in n or n.startswith(("tests/", "labextension/"))
    ]


@pytest.mark.slow
def test_installed_wheel_lists_both_extensions_enabled_and_ok(wheel: Path, tmp_path: Path) -> None:
    # Given the wheel installed into a fresh venv (its dependencies from the index)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], _pip_env(), timeout=120)
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], _pip_env())
    # And Jupyter dirs of its own: nothing from the developer's or the test venv's setup
    env = _pip_env()
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        HOME=str(tmp_path / "home"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
    )
    jupyter = str(venv / "bin" / "jupyter")
    # When that venv's jupyter lists its extensions
    server = _run([jupyter, "server", "extension", "list"], env, timeout=120, cwd=tmp_path)
    lab = _run([jupyter, "labextension", "list"], env, timeout=120, cwd=tmp_path)
    # Then the server extension is enabled by the shipped config, and validates
    assert str(venv / "etc" / "jupyter") in server, server
    assert re.search(r"^\s*zingy_nb\s+enabled\s*$", server, re.M), server
    assert re.search(rf"^\s*zingy_nb\s+{re.escape(zingy_nb.__version__)}\s+OK\s*$", server, re.M), (
        server
    )
    # And the prebuilt lab extension is found in the venv, enabled and OK
    assert str(venv / "share" / "jupyter" / "labextensions") in lab, lab
    assert re.search(r"^\s*zingy-nb v\S+ enabled\s+OK", lab, re.M), lab
