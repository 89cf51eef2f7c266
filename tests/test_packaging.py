"""The wheel as users get it: built once with node, installed anywhere without it.

``scripts/build-wheel.sh`` builds the sdist and the wheel once per test session, into a
temporary folder (never the repository's ``dist/``). The slow tests install that wheel
into a fresh venv (dependencies from the package index, through pip's cache) with no
node, npm or jlpm on PATH, and ask that venv's ``jupyter`` what the extension template's
CI asks (``jupyter server extension list``, ``jupyter labextension list``), then install
the flow kernels there and retrieve a profile in a cloud-flow kernel running the
installed copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

import zingy_nb
from zingy_nb.kernels import KERNELS, LOGO_FILES
from zingy_nb.vault.crypto import encode_key, new_key

REPO = Path(__file__).resolve().parents[1]
SERVER_CONFIG = {"ServerApp": {"jpserver_extensions": {"zingy_nb": True}}}
SHIPPED_CONFIG = "etc/jupyter/jupyter_server_config.d/zingy_nb.json"
LABEXTENSION = "share/jupyter/labextensions/zingy-nb"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
NODE_TOOLS = ("node", "nodejs", "npm", "npx", "jlpm", "yarn")
MADE_UP = "pkg-check-MADEUP-value-4Tq9"


def _pip_env() -> dict[str, str]:
    """The test session's env, with pip's cache where it normally is (HOME is a temp dir)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JUPYTER_PATH")}
    if "PIP_CACHE_DIR" not in env and "PIP_NO_CACHE_DIR" not in env:
        real_home = Path(pwd.getpwuid(os.getuid()).pw_dir)
        env["PIP_CACHE_DIR"] = str(real_home / ".cache" / "pip")
    return env


def _run(
    argv: list[str],
    env: dict[str, str],
    timeout: float = 600,
    cwd: Path | None = None,
    stdin: str | None = None,
) -> str:
    result = subprocess.run(
        argv, env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout
    )
    output = ANSI.sub("", result.stdout + result.stderr)
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{output[-4000:]}"
    return output


def _path_without_node(path: str) -> str:
    """PATH minus every folder that holds node, npm or jlpm (and so on)."""
    dirs = [d for d in path.split(os.pathsep) if d]
    return os.pathsep.join(d for d in dirs if not any(shutil.which(t, path=d) for t in NODE_TOOLS))


def test_shipped_server_config_enables_the_extension() -> None:
    shipped = json.loads((REPO / "jupyter-config" / "server-config" / "zingy_nb.json").read_text())
    assert shipped == SERVER_CONFIG


def test_the_package_declares_both_extensions() -> None:
    assert zingy_nb._jupyter_server_extension_points() == [{"module": "zingy_nb"}]
    assert zingy_nb._jupyter_labextension_paths() == [{"src": "labextension", "dest": "zingy-nb"}]
    assert callable(zingy_nb._load_jupyter_server_extension)


def test_path_without_node_drops_exactly_the_folders_holding_node(tmp_path: Path) -> None:
    with_node, without = tmp_path / "with", tmp_path / "without"
    for folder, tool in ((with_node, "node"), (without, "python-ish")):
        folder.mkdir()
        (folder / tool).write_text("#!/bin/sh\n")
        (folder / tool).chmod(0o755)
    path = _path_without_node(os.pathsep.join([str(with_node), str(without)]))
    assert path == str(without)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built once per session by scripts/build-wheel.sh."""
    out = tmp_path_factory.mktemp("dist")
    env = {**_pip_env(), "PYTHON": sys.executable}
    _run(["bash", str(REPO / "scripts" / "build-wheel.sh"), str(out)], env, cwd=REPO)
    return out


@pytest.fixture(scope="session")
def wheel(built: Path) -> Path:
    (found,) = built.glob("zingy_nb-*.whl")
    return found


@pytest.fixture(scope="session")
def sdist(built: Path) -> Path:
    (found,) = built.glob("zingy_nb-*.tar.gz")
    return found


@pytest.mark.slow
def test_wheel_holds_the_prebuilt_lab_extension_and_the_server_config(wheel: Path) -> None:
    data = f"zingy_nb-{zingy_nb.__version__}.data/data/"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert json.loads(zf.read(data + SHIPPED_CONFIG)) == SERVER_CONFIG
        package = json.loads(zf.read(data + LABEXTENSION + "/package.json"))
        logos = {
            (mode, f): zf.read(f"zingy_nb/kernel_logos/{mode}/{f}")
            for mode, _ in KERNELS.values()
            for f in LOGO_FILES
        }
    assert package["name"] == "zingy-nb"
    static = [n for n in names if n.startswith(data + LABEXTENSION + "/static/")]
    assert any(re.search(r"/remoteEntry\.[0-9a-f]+\.js$", n) for n in static), static
    assert data + LABEXTENSION + "/static/style.js" in names
    assert "zingy_nb/server/handlers.py" in names
    assert "zingy_nb/js/prelude.js" in names  # the JavaScript kernels' zingyConn
    assert not [
        n for n in names if "node_modules" in n or n.startswith(("tests/", "labextension/"))
    ]
    # And the kernel logos ship as package data, the same files as in the source
    source = Path(zingy_nb.__file__).parent / "kernel_logos"
    assert logos == {(m, f): (source / m / f).read_bytes() for m, f in logos}


@pytest.mark.slow
def test_sdist_holds_the_sources_and_the_built_extension_only(sdist: Path) -> None:
    top = sdist.name.removesuffix(".tar.gz") + "/"
    with tarfile.open(sdist) as tf:
        names = {n.removeprefix(top) for n in tf.getnames()}
    assert {"pyproject.toml", "labextension/package.json", "labextension/yarn.lock"} <= names
    assert "labextension/src/index.ts" in names and "zingy_nb/kernels.py" in names
    # the built extension comes along, so a wheel built from the sdist needs no node
    assert "zingy_nb/labextension/static/style.js" in names
    assert {f"zingy_nb/kernel_logos/cloud-flow/{f}" for f in LOGO_FILES} <= names
    leaked = [n for n in names if re.search(r"(^|/)(node_modules|\.yarn|\.venv|\.git)(/|$)", n)]
    assert not leaked, leaked[:10]


def stdout_to(out: list[str]) -> Callable[[dict[str, Any]], None]:
    """An IOPub hook that keeps a kernel's stream output."""

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    return hook


@dataclass(frozen=True)
class Venv:
    """A fresh venv with the wheel installed, and the env (no node on PATH) to use it."""

    root: Path
    env: dict[str, str]
    cwd: Path
    install_seconds: float

    def bin(self, name: str) -> str:
        return str(self.root / "bin" / name)


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    tmp = tmp_path_factory.mktemp("fresh-venv")
    root = tmp / "venv"
    # An env with no node anywhere on PATH, and Jupyter dirs of its own: nothing from the
    # developer's or the test venv's setup
    env = _pip_env()
    env.update(
        PATH=f"{root / 'bin'}{os.pathsep}{_path_without_node(env.get('PATH', ''))}",
        VIRTUAL_ENV=str(root),
        HOME=str(tmp / "home"),
        JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"),
        JUPYTER_DATA_DIR=str(tmp / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(tmp / "jupyter-runtime"),
    )
    for tool in ("node", "npm", "nodejs"):
        assert shutil.which(tool, path=env["PATH"]) is None, tool
    _run([sys.executable, "-m", "venv", str(root)], env, timeout=120, cwd=tmp)
    start = time.monotonic()
    _run([str(root / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], env, cwd=tmp)
    return Venv(root, env, tmp, time.monotonic() - start)


@pytest.mark.slow
def test_installed_wheel_lists_both_extensions_enabled_and_ok(venv: Venv) -> None:
    # Given the wheel installed into a fresh venv without node (its dependencies from the index)
    # When that venv's jupyter lists its extensions
    jupyter = venv.bin("jupyter")
    server = _run([jupyter, "server", "extension", "list"], venv.env, timeout=120, cwd=venv.cwd)
    lab = _run([jupyter, "labextension", "list"], venv.env, timeout=120, cwd=venv.cwd)
    # Then the server extension is enabled by the shipped config, and validates
    assert str(venv.root / "etc" / "jupyter") in server, server
    assert re.search(r"^\s*zingy_nb\s+enabled\s*$", server, re.M), server
    assert re.search(rf"^\s*zingy_nb\s+{re.escape(zingy_nb.__version__)}\s+OK\s*$", server, re.M), (
        server
    )
    # And the prebuilt lab extension is found in the venv, enabled and OK
    assert str(venv.root / "share" / "jupyter" / "labextensions") in lab, lab
    assert re.search(r"^\s*zingy-nb v\S+ enabled\s+OK", lab, re.M), lab


@pytest.fixture(scope="module")
def venv_kernels(venv: Venv) -> dict[str, dict]:
    """``zingy-nb kernels install --sys-prefix`` in the venv, then its ``jupyter kernelspec list``."""
    _run([venv.bin("zingy-nb"), "kernels", "install", "--sys-prefix"], venv.env, cwd=venv.cwd)
    listed = _run(
        [venv.bin("jupyter"), "kernelspec", "list", "--json"], venv.env, timeout=120, cwd=venv.cwd
    )
    return json.loads(listed[listed.index("{") :])["kernelspecs"]


@pytest.mark.slow
def test_installed_wheel_installs_both_flow_kernels_with_logos(
    venv: Venv, venv_kernels: dict[str, dict]
) -> None:
    for name, (mode, display) in KERNELS.items():
        spec, folder = venv_kernels[name]["spec"], Path(venv_kernels[name]["resource_dir"])
        assert folder == venv.root / "share" / "jupyter" / "kernels" / name
        assert spec["display_name"] == display and spec["metadata"]["zingy_nb"]["flow"] == mode
        assert spec["argv"][0] == venv.bin("python")
        assert sorted(p.name for p in folder.iterdir()) == sorted(["kernel.json", *LOGO_FILES])


@pytest.mark.slow
def test_a_cloud_flow_kernel_of_the_installed_wheel_retrieves(
    venv: Venv, venv_kernels: dict[str, dict], tmp_path: Path
) -> None:
    # Given a profile set through the venv's CLI, in a throwaway store and key
    env = {
        **venv.env,
        "ZINGY_NB_HOME": str(tmp_path / "store"),
        "ZINGY_NB_MASTER_KEY": encode_key(new_key()),
    }
    cli = [venv.bin("zingy-nb"), "profiles", "set", "pkg-check", "--stdin"]
    _run(cli, env, timeout=120, cwd=tmp_path, stdin=MADE_UP + "\n")
    # When the venv's cloud-flow kernelspec starts a kernel that retrieves it
    ksm = KernelSpecManager(kernel_dirs=[str(venv.root / "share" / "jupyter" / "kernels")])
    km = KernelManager(kernel_name="zingy-cloud-flow", kernel_spec_manager=ksm)
    km.start_kernel(env=env, cwd=str(tmp_path))
    out: list[str] = []
    try:
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=120)
            code = (
                "import hashlib, json, zingy_nb\n"
                "value = zingyConn.apikey('pkg-check').secret1\n"
                "print(json.dumps({'sha256': hashlib.sha256(value.encode()).hexdigest(),"
                " 'module': zingy_nb.__file__}))\n"
            )
            reply = kc.execute_interactive(code, timeout=120, output_hook=stdout_to(out))
        finally:
            kc.stop_channels()
    finally:
        km.shutdown_kernel(now=True)
    # Then it ran the installed copy and got the value back (compared by digest)
    assert reply["content"]["status"] == "ok", reply["content"]
    result = json.loads("".join(out))
    assert Path(result["module"]).resolve().is_relative_to(venv.root.resolve()), result
    assert result["sha256"] == hashlib.sha256(MADE_UP.encode()).hexdigest()
