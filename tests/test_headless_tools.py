"""Every tool people use to run notebooks headless, on the examples' test profiles.

Each tool runs a cloud-flow notebook against ``notebooks/test-profiles.toml`` (it reads
a profile and proves which one by a digest, then prints the value, which the kernel
must redact) and a page-flow notebook, which is refused with ``CloudFlowOnlyError``.
Tools that run outside pytest (papermill, nbconvert, the nbclient API) get the store
through the plugin's ``make_store(...).env``; the pytest-based ones (nbval, nbmake,
testbook) run in a pytest session of their own with ``--zingy-profiles``. Tools that
ignore the notebook's kernelspec (testbook, ``--nbval-current-env``) need
``--zingy-flow``. No notebook a tool writes may contain a stored value.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_notebook

from zingy_nb import kernels
from zingy_nb.pytest_plugin import load_profiles_file, make_store

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "notebooks" / "test-profiles.toml"
VALUES = load_profiles_file(PROFILES)  # made-up values
STORED = [value for slots in VALUES.values() for value in slots.values()]
BIN = Path(sys.executable).parent
REFUSED = "CloudFlowOnlyError"

KERNELSPECS = {
    "zingy-cloud-flow": "Python 3 (Zingy Cloud Flow)",
    "zingy-page-flow": "Python 3 (Zingy Page Flow)",
    "python3": "Python 3 (ipykernel)",
}


def digest(profile: str) -> str:
    return hashlib.sha256(VALUES[profile]["secret1"].encode()).hexdigest()


def write_notebook(path: Path, kernel: str, profile: str = "weather-api") -> Path:
    """A notebook that retrieves ``profile`` (a papermill parameter) on ``kernel``."""
    nb = new_notebook(
        cells=[
            new_code_cell(f"profile = {profile!r}", metadata={"tags": ["parameters"]}),
            new_code_cell(
                "import hashlib\n"
                "keyInfo = zingyConn.apikey(profile)\n"
                "digest = hashlib.sha256(keyInfo.secret1.encode()).hexdigest()\n"
                "print('digest', digest)"
            ),
            new_code_cell("print(keyInfo.secret1)"),
        ],
        metadata={
            "kernelspec": {
                "name": kernel,
                "display_name": KERNELSPECS[kernel],
                "language": "python",
            }
        },
    )
    nbformat.write(nb, path)
    return path


def outputs_text(path: Path) -> str:
    """What the cells of a written notebook show: stream text (joined, as a front end
    joins a cell's stream messages) and error names."""
    nb = json.loads(path.read_text())
    parts = []
    for cell in nb["cells"]:
        outputs = cell.get("outputs", [])
        parts.append("".join("".join(out.get("text", "")) for out in outputs))
        parts.extend(out["ename"] for out in outputs if "ename" in out)
    return "\n".join(parts)


def assert_no_stored_value(*paths: Path) -> None:
    for path in paths:
        text = path.read_text()
        leaked = [i for i, value in enumerate(STORED) if value in text]
        assert not leaked, f"{path.name} holds stored value(s) #{leaked}"


def assert_ran_cloud_flow(path: Path, profile: str = "weather-api") -> None:
    """The notebook retrieved ``profile`` from the test profiles, and showed no value."""
    shown = outputs_text(path)
    assert f"digest {digest(profile)}" in shown, shown[-2000:]
    assert "[REDACTED]" in shown, shown[-2000:]
    assert_no_stored_value(path)


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )  # fmt: skip


def plain_env() -> dict[str, str]:
    """This session's (isolated) environment, for a child process."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module", autouse=True)
def flow_kernelspecs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Both flow kernelspecs, installed where Jupyter (and every child) looks first."""
    prefix = tmp_path_factory.mktemp("kernels-prefix")
    kernels.install(prefix=str(prefix))
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
    yield
    if saved is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = saved


@pytest.fixture(scope="module")
def store_env(flow_kernelspecs: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A child's environment on a throwaway store holding the test profiles."""
    store = make_store(tmp_path_factory.mktemp("tools-store"), VALUES)
    return {**plain_env(), **store.env}


def run_pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A pytest session of its own in ``cwd`` (no conftest there), as a user runs it."""
    shutil.copy(PROFILES, cwd / "test-profiles.toml")
    return run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(cwd),
         "--zingy-profiles", "test-profiles.toml", *args],
        cwd, plain_env(),
    )  # fmt: skip


def summary(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else ""


# --- tools outside pytest: the store comes from make_store(...).env ---------------------


def test_papermill_with_a_flow_kernel_and_parameters(
    store_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a plain python3 notebook with a parameters cell
    nb = write_notebook(tmp_path / "report.ipynb", "python3")
    # When papermill runs it on the cloud-flow kernel with another profile as parameter
    ok = run(
        ["papermill", str(nb), "cloud-out.ipynb", "-k", "zingy-cloud-flow",
         "-p", "profile", "shop-webhooks"],
        tmp_path, store_env,
    )  # fmt: skip
    # Then it read that profile from the test store, and wrote no value
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert_ran_cloud_flow(tmp_path / "cloud-out.ipynb", "shop-webhooks")
    # When it runs the same notebook on the page-flow kernel
    refused = run(
        ["papermill", str(nb), "page-out.ipynb", "-k", "zingy-page-flow"], tmp_path, store_env
    )
    # Then the retrieval is refused, and the output notebook says so
    assert refused.returncode != 0
    assert REFUSED in refused.stderr
    assert REFUSED in outputs_text(tmp_path / "page-out.ipynb")
    assert_no_stored_value(tmp_path / "page-out.ipynb")


def test_nbconvert_execute_on_the_kernelspec_or_a_named_kernel(
    store_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a notebook set to the cloud-flow kernel
    nb = write_notebook(tmp_path / "report.ipynb", "zingy-cloud-flow")
    # When nbconvert executes it on its own kernelspec
    ok = run(
        ["jupyter", "nbconvert", "--to", "notebook", "--execute", str(nb), "--output", "cloud-out"],
        tmp_path, store_env,
    )  # fmt: skip
    # Then it read the profile from the test store, and wrote no value
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert_ran_cloud_flow(tmp_path / "cloud-out.ipynb")
    # When the kernel is overridden with the page-flow one
    refused = run(
        ["jupyter", "nbconvert", "--to", "notebook", "--execute", str(nb), "--output", "page-out",
         "--ExecutePreprocessor.kernel_name=zingy-page-flow", "--allow-errors"],
        tmp_path, store_env,
    )  # fmt: skip
    # Then the retrieval is refused
    assert refused.returncode == 0, refused.stderr[-3000:]
    assert REFUSED in outputs_text(tmp_path / "page-out.ipynb")
    assert "digest" not in outputs_text(tmp_path / "page-out.ipynb")
    assert_no_stored_value(tmp_path / "page-out.ipynb")


def test_nbclient_api(
    store_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given this process pointed at the test store, as a script using nbclient would be
    for key, value in store_env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(write_notebook(tmp_path / "report.ipynb", "python3"), as_version=4)
    # When nbclient executes it on the cloud-flow kernel
    NotebookClient(nb, kernel_name="zingy-cloud-flow", timeout=120).execute()
    nbformat.write(nb, tmp_path / "cloud-out.ipynb")
    # Then it read the profile, and the saved notebook holds no value
    assert_ran_cloud_flow(tmp_path / "cloud-out.ipynb")
    # When it executes it on the page-flow kernel
    nb = nbformat.read(tmp_path / "report.ipynb", as_version=4)
    with pytest.raises(CellExecutionError) as refused:
        NotebookClient(nb, kernel_name="zingy-page-flow", timeout=120).execute()
    # Then the retrieval is refused
    assert refused.value.ename == REFUSED
    nbformat.write(nb, tmp_path / "page-out.ipynb")
    assert_no_stored_value(tmp_path / "page-out.ipynb")


# --- pytest-based tools: the store comes from --zingy-profiles ---------------------------


def test_nbval_on_an_example_notebook_and_a_page_flow_one(tmp_path: Path) -> None:
    # Given a copy of the web hook example and a page-flow notebook
    example = Path(shutil.copy(ROOT / "notebooks" / "webhook.ipynb", tmp_path))
    write_notebook(tmp_path / "page.ipynb", "zingy-page-flow")
    # When nbval runs both strictly on the test profiles
    result = run_pytest(tmp_path, "--nbval", "webhook.ipynb", "page.ipynb")
    # Then the example passes (its first cell prints only without the profile) and the
    # page-flow retrieval is refused (and the next cell has no keyInfo)
    webhook_cells = sum(c["cell_type"] == "code" for c in nbformat.read(example, 4).cells)
    passed = webhook_cells + 1  # and page.ipynb's parameters cell
    assert re.search(rf"\b2 failed, {passed} passed\b", summary(result)), result.stdout[-4000:]
    assert "FAILED page.ipynb::Cell 1" in result.stdout
    assert "FAILED page.ipynb::Cell 2" in result.stdout
    assert REFUSED in result.stdout


@pytest.mark.parametrize(("flow", "expect"), [(None, "NameError"), ("cloud-flow", None)])
def test_nbval_current_env_needs_zingy_flow(tmp_path: Path, flow: str | None, expect: str) -> None:
    # Given a notebook run in nbval's own python kernel, which ignores the kernelspec
    write_notebook(tmp_path / "report.ipynb", "zingy-cloud-flow")
    args = ["--nbval-lax", "--nbval-current-env", "report.ipynb"]
    # When nbval runs it, with or without --zingy-flow
    result = run_pytest(tmp_path, *args, *(["--zingy-flow", flow] if flow else []))
    if expect is None:
        # Then with it the kernel has zingyConn, in cloud-flow, on the test profiles
        assert re.search(r"\b3 passed\b", summary(result)), result.stdout[-4000:]
        assert "zingy-nb: kernels of this session load zingy-nb in cloud-flow" in result.stdout
    else:
        # Then without it there is no zingyConn
        assert result.returncode == 1, result.stdout[-4000:]
        assert "name 'zingyConn' is not defined" in result.stdout


def test_nbmake_runs_notebooks_on_their_kernelspecs(tmp_path: Path) -> None:
    # Given a cloud-flow and a page-flow notebook
    cloud = write_notebook(tmp_path / "cloud.ipynb", "zingy-cloud-flow")
    page = write_notebook(tmp_path / "page.ipynb", "zingy-page-flow")
    # When nbmake runs them, writing the outputs back, with --zingy-flow cloud-flow too
    result = run_pytest(
        tmp_path,
        "--nbmake",
        "--overwrite",
        "cloud.ipynb",
        "page.ipynb",
        "--zingy-flow",
        "cloud-flow",
    )
    # Then the cloud-flow one passes and the page-flow one is refused: a zingy kernelspec
    # keeps its own flow, so a test option never widens a page-flow notebook
    assert re.search(r"\b1 failed, 1 passed\b", summary(result)), result.stdout[-4000:]
    assert re.search(r"FAILED page\.ipynb\b", result.stdout)
    assert REFUSED in result.stdout
    # And the notebooks it wrote hold the results, never a value
    assert_ran_cloud_flow(cloud)
    assert_no_stored_value(page)


TESTBOOK_TEST = """
from testbook import testbook


@testbook("report.ipynb", execute=True)
def test_report_reads_its_profile(tb):
    assert tb.ref("digest") == {expected!r}
"""


@pytest.mark.parametrize(
    ("flow", "expect"),
    [(None, "name 'zingyConn' is not defined"), ("cloud-flow", None), ("page-flow", REFUSED)],
)
def test_testbook_on_its_default_kernel(tmp_path: Path, flow: str | None, expect: str) -> None:
    # Given a testbook test of a cloud-flow notebook (testbook starts python3 regardless)
    write_notebook(tmp_path / "report.ipynb", "zingy-cloud-flow")
    test = tmp_path / "test_report.py"
    test.write_text(TESTBOOK_TEST.format(expected=digest("weather-api")))
    # When it runs, with or without --zingy-flow
    result = run_pytest(tmp_path, test.name, *(["--zingy-flow", flow] if flow else []))
    if expect is None:
        # Then the kernel loaded zingy-nb in cloud-flow and read the test profile
        assert re.search(r"\b1 passed\b", summary(result)), result.stdout[-4000:]
    else:
        # Then without zingy-nb there is no zingyConn, and page flow is refused
        assert re.search(r"\b1 failed\b", summary(result)), result.stdout[-4000:]
        assert expect in result.stdout


def test_an_invalid_zingy_flow_is_a_usage_error(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "--zingy-flow", "cloudflow-typo", "--co")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert "--zingy-flow must be cloud-flow or page-flow" in result.stderr
    assert "cloudflow-typo" not in result.stdout + result.stderr
