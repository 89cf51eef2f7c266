"""The flow kernelspecs: installed by the CLI, started by jupyter_client like a server does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from zingy_nb.kernels import KERNELS

CLI = str(Path(sys.executable).with_name("zingy-nb"))


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Kernelspecs installed into a throwaway prefix that Jupyter is told to search."""
    prefix = tmp_path_factory.mktemp("prefix")
    subprocess.run([CLI, "kernels", "install", "--prefix", str(prefix)], check=True, timeout=60)
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
    yield prefix
    if saved is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = saved


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("kernelspec-store")
    env = {**os.environ, "ZINGY_NB_HOME": str(home)}
    subprocess.run(
        [CLI, "profiles", "set", "svc", "--stdin"],
        input="kernelspec-MADEUP-1\n", text=True, env=env, check=True, timeout=60,
    )  # fmt: skip
    saved = os.environ["ZINGY_NB_HOME"]
    os.environ["ZINGY_NB_HOME"] = str(home)
    yield home
    os.environ["ZINGY_NB_HOME"] = saved


def run_cell(kc, code: str) -> tuple[dict, str]:
    stdout: list[str] = []

    def hook(msg: dict) -> None:
        if msg["msg_type"] == "stream":
            stdout.append(msg["content"]["text"])

    reply = kc.execute_interactive(code, timeout=60, output_hook=hook)
    return reply["content"], "".join(stdout)


def test_jupyter_lists_both_kernelspecs_with_their_mode(prefix: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    specs = json.loads(out.stdout)["kernelspecs"]
    for name, (mode, display) in KERNELS.items():
        spec = specs[name]["spec"]
        assert spec["display_name"] == display
        assert spec["env"]["ZINGY_NB_FLOW"] == mode
        assert spec["metadata"]["zingy_nb"]["flow"] == mode
        assert Path(spec["argv"][0]).resolve() == Path(sys.executable).resolve()
        assert "--ext=zingy_nb" in spec["argv"]


@pytest.mark.parametrize(
    ("name", "expect_ok"), [("zingy-cloud-flow", True), ("zingy-page-flow", False)]
)
def test_each_kernel_starts_with_zingyconn_and_its_mode(
    prefix: Path, store: Path, name: str, expect_ok: bool
) -> None:
    km, kc = start_new_kernel(kernel_name=name)
    try:
        # zingyConn is there in the first cell, without %load_ext
        reply, out = run_cell(kc, "print(type(zingyConn).__name__)")
        assert reply["status"] == "ok" and out.strip() == "ZingyConn"
        reply, out = run_cell(
            kc,
            "import hashlib; print(hashlib.sha256(zingyConn.apikey('svc').secret1.encode()).hexdigest())",
        )
        if expect_ok:
            import hashlib

            assert reply["status"] == "ok", reply
            assert out.strip() == hashlib.sha256(b"kernelspec-MADEUP-1").hexdigest()
        else:
            assert reply["status"] == "error"
            assert reply["ename"] == "CloudFlowOnlyError"
            assert "only in cloud-flow kernels" in reply["evalue"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_install_twice_is_harmless_and_touches_no_store(tmp_path: Path) -> None:
    home = tmp_path / "store-home"
    env = {**os.environ, "ZINGY_NB_HOME": str(home)}
    for _ in range(2):
        result = subprocess.run(
            [CLI, "kernels", "install", "--prefix", str(tmp_path / "p")],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    kernels = tmp_path / "p" / "share" / "jupyter" / "kernels"
    assert sorted(p.name for p in kernels.iterdir()) == sorted(KERNELS)
    assert not home.exists()


def test_uninstall_removes_them(tmp_path: Path) -> None:
    env = {**os.environ, "JUPYTER_PATH": str(tmp_path / "p" / "share" / "jupyter")}
    subprocess.run(
        [CLI, "kernels", "install", "--prefix", str(tmp_path / "p")],
        env=env,
        check=True,
        timeout=60,
    )
    result = subprocess.run(
        [CLI, "kernels", "uninstall", "--prefix", str(tmp_path / "p")],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not any((tmp_path / "p" / "share" / "jupyter" / "kernels").iterdir())
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    dirs = [spec["resource_dir"] for spec in json.loads(listed.stdout)["kernelspecs"].values()]
    assert not [d for d in dirs if d.startswith(str(tmp_path))]
