"""The flow kernelspecs: installed by the CLI, started by jupyter_client like a server does."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import jupyter_core.paths
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel

from zingy_nb import kernels
from zingy_nb.kernels import JS_KERNELS, KERNELS, LOGO_FILES, InstalledKernel

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
    assert sorted(p.name for p in kernels.iterdir()) == sorted({**KERNELS, **JS_KERNELS})
    assert not home.exists()


def test_installed_specs_are_readable_by_everyone_whatever_the_umask(tmp_path: Path) -> None:
    # Given an admin whose umask is 077, installing into a prefix that does not exist yet
    # (as into a shared environment's sys.prefix, which the same code path serves)
    prefix = tmp_path / "shared" / "env"
    before = tmp_path.stat().st_mode
    result = subprocess.run(
        ["sh", "-c", 'umask 077 && exec "$@"', "sh", CLI, "kernels", "install", "--prefix",
         str(prefix)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # Then every spec folder is 0755 and every file 0644, and so is the way to them from
    # the first folder the install created
    kernels = prefix / "share" / "jupyter" / "kernels"
    for name in KERNELS:
        spec = kernels / name
        found = [spec, *spec.rglob("*")]
        assert {p.name for p in found} >= {name, "kernel.json", *LOGO_FILES}
        for path in found:
            want = 0o755 if path.is_dir() else 0o644
            assert path.stat().st_mode & 0o777 == want, (path, oct(path.stat().st_mode))
    for folder in (tmp_path / "shared", prefix, prefix / "share", prefix / "share" / "jupyter",
                   kernels):  # fmt: skip
        assert folder.stat().st_mode & 0o555 == 0o555, (folder, oct(folder.stat().st_mode))
    assert tmp_path.stat().st_mode == before  # what existed before is left alone


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


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (bytes 16-24)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_each_spec_folder_has_its_own_logos(prefix: Path) -> None:
    folders = {name: prefix / "share" / "jupyter" / "kernels" / name for name in KERNELS}
    logos = {
        name: {f: (folder / f).read_bytes() for f in LOGO_FILES} for name, folder in folders.items()
    }
    for name, files in logos.items():
        assert png_size(files["logo-32x32.png"]) == (32, 32), name
        assert png_size(files["logo-64x64.png"]) == (64, 64), name
        assert ET.fromstring(files["logo-svg.svg"]).tag == "{http://www.w3.org/2000/svg}svg"
    cloud, page = logos["zingy-cloud-flow"], logos["zingy-page-flow"]
    assert all(cloud[f] != page[f] for f in LOGO_FILES)
    assert b"Cloud Flow" in cloud["logo-svg.svg"] and b"Page Flow" in page["logo-svg.svg"]


def test_kernel_spec_manager_finds_the_logos(prefix: Path) -> None:
    specs = KernelSpecManager().get_all_specs()
    for name in KERNELS:
        resource_dir = Path(specs[name]["resource_dir"])
        assert resource_dir.parent == prefix / "share" / "jupyter" / "kernels"
        assert set(LOGO_FILES) <= {p.name for p in resource_dir.iterdir()}


async def test_the_server_offers_the_logos_to_the_launcher(prefix: Path, jp_fetch) -> None:
    # Given the kernelspecs installed where Jupyter looks
    # When JupyterLab's launcher asks the server for kernelspecs, then for a logo
    response = await jp_fetch("api", "kernelspecs")
    specs = json.loads(response.body)["kernelspecs"]
    # Then each flow kernel lists its three logos, and each URL serves that kernel's file
    for name in KERNELS:
        resources = specs[name]["resources"]
        assert {"logo-32x32", "logo-64x64", "logo-svg"} <= set(resources), resources
        logo = await jp_fetch("kernelspecs", name, "logo-64x64.png")
        folder = prefix / "share" / "jupyter" / "kernels" / name
        assert logo.body == (folder / "logo-64x64.png").read_bytes()


@pytest.fixture
def only_jupyter_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Jupyter searches two throwaway data dirs and nothing else (no venv, no system dir)."""
    dirs = [tmp_path / "a" / "share" / "jupyter", tmp_path / "b"]
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(map(str, dirs)))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "user-data"))
    monkeypatch.setattr(jupyter_core.paths, "ENV_JUPYTER_PATH", [])
    monkeypatch.setattr(jupyter_core.paths, "SYSTEM_JUPYTER_PATH", [])
    return dirs


def write_spec(kernels_dir: Path, name: str, metadata: dict) -> None:
    folder = kernels_dir / name
    folder.mkdir(parents=True)
    spec = {"argv": ["/opt/py/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"Custom {name}", "language": "python", "metadata": metadata}  # fmt: skip
    (folder / "kernel.json").write_text(json.dumps(spec))


def test_installed_lists_flow_kernels_wherever_jupyter_finds_them(
    only_jupyter_path: list[Path],
) -> None:
    first, second = only_jupyter_path
    # Given nothing installed, then ours in the first dir, and in the second: a custom
    # kernel flagged page-flow, a plain one, and a second copy of ours that the first hides
    assert kernels.installed() == []
    kernels.install(prefix=str(first.parents[1]))
    write_spec(second / "kernels", "team-page", {"zingy_nb": {"flow": "page-flow"}})
    write_spec(second / "kernels", "plain", {"debugger": True})
    write_spec(second / "kernels", "zingy-cloud-flow", {})
    # When listed
    found = kernels.installed()
    # Then each flow kernel is there once, as Jupyter would start it
    cloud_dir = first / "kernels" / "zingy-cloud-flow"
    assert found == [
        InstalledKernel(
            "team-page",
            "page-flow",
            "Custom team-page",
            str(second / "kernels" / "team-page"),
            "/opt/py/bin/python",
        ),
        InstalledKernel(
            "zingy-cloud-flow",
            "cloud-flow",
            "Python 3 (Zingy Cloud Flow)",
            str(cloud_dir),
            sys.executable,
        ),
        InstalledKernel(
            "zingy-js-cloud-flow",
            "cloud-flow",
            "JavaScript (Zingy Cloud Flow)",
            str(first / "kernels" / "zingy-js-cloud-flow"),
            sys.executable,
        ),
        InstalledKernel(
            "zingy-js-page-flow",
            "page-flow",
            "JavaScript (Zingy Page Flow)",
            str(first / "kernels" / "zingy-js-page-flow"),
            sys.executable,
        ),
        InstalledKernel(
            "zingy-page-flow",
            "page-flow",
            "Python 3 (Zingy Page Flow)",
            str(first / "kernels" / "zingy-page-flow"),
            sys.executable,
        ),
    ]  # fmt: skip
    assert found[1].as_dict()["resource_dir"] == str(cloud_dir)
    # And once ours are uninstalled, the copy without metadata shows with no flow
    kernels.uninstall(prefix=str(first.parents[1]))
    assert [(k.name, k.flow, k.resource_dir) for k in kernels.installed()] == [
        ("team-page", "page-flow", str(second / "kernels" / "team-page")),
        ("zingy-cloud-flow", None, str(second / "kernels" / "zingy-cloud-flow")),
    ]


def test_kernels_list_as_documented(tmp_path: Path) -> None:
    """`zingy-nb kernels list` (README, Install) names each flow kernel Jupyter would
    start, its flow and folder; --json gives the same as objects."""
    prefix = tmp_path / "listed"
    env = {**os.environ, "JUPYTER_PATH": str(prefix / "share" / "jupyter")}
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "data")  # no user-level kernelspecs

    def listing(*extra: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([CLI, "kernels", "list", *extra], env=env, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done

    subprocess.run([CLI, "kernels", "install", "--prefix", str(prefix)], env=env, check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    rows = [line.split("\t") for line in listing().stdout.splitlines()]
    mine = {r[0]: r for r in rows if r[3].startswith(str(prefix))}
    assert {n: (r[1], r[2]) for n, r in mine.items()} == {
        "zingy-cloud-flow": ("cloud-flow", "Python 3 (Zingy Cloud Flow)"),
        "zingy-page-flow": ("page-flow", "Python 3 (Zingy Page Flow)"),
        "zingy-js-cloud-flow": ("cloud-flow", "JavaScript (Zingy Cloud Flow)"),
        "zingy-js-page-flow": ("page-flow", "JavaScript (Zingy Page Flow)"),
    }  # JUPYTER_PATH comes first on Jupyter's path, so these are the copies it starts
    as_json = json.loads(listing("--json").stdout)
    flows = {k["name"]: k["flow"] for k in as_json}
    assert flows["zingy-cloud-flow"] == "cloud-flow" and flows["zingy-page-flow"] == "page-flow"
    assert all(Path(k["resource_dir"], "kernel.json").is_file() for k in as_json)
