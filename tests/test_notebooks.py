"""The example notebooks are regression tests, and so can a user's own notebooks be.

Each run is a real ``pytest --nbval`` process with its own HOME, so the tests can check
that the plugin's throwaway store was used and the default store never appeared.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BIN = Path(sys.executable).parent


@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    """A fresh user: own HOME, default Jupyter dirs under it, flow kernels installed."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER_", "ZINGY_NB_", "IPYTHON")) and k != "PYTEST_ADDOPTS"
    }
    env.update(
        HOME=str(home),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    subprocess.run(
        [str(BIN / "zingy-nb"), "kernels", "install", "--user"], env=env, check=True, timeout=60
    )
    return env


def default_store(env: dict[str, str]) -> Path:
    """Where the real store of that user would be."""
    out = subprocess.run(
        [sys.executable, "-c", "from zingy_nb.paths import store_home; print(store_home())"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    path = Path(out.stdout.strip())
    assert path.is_relative_to(Path(env["HOME"]))
    return path


def nbval(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(cwd), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_example_notebooks_pass_strict_nbval(user_env: dict[str, str], tmp_path: Path) -> None:
    # Given the repository's notebooks and test profiles, copied as a user would have them
    work = tmp_path / "work"
    shutil.copytree(NOTEBOOKS, work / "notebooks")
    # When the documented command runs them
    result = nbval(
        user_env, work, "--nbval", "notebooks/", "--zingy-profiles", "notebooks/test-profiles.toml"
    )
    # Then every cell of every notebook passes strict output comparison
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\b(\d+) passed\b", result.stdout)
    assert "zingy-nb: throwaway test store" in result.stdout
    assert_every_code_cell_passed(result.stdout)
    # And the user's real store was never created
    assert not default_store(user_env).exists()


def assert_every_code_cell_passed(stdout: str) -> None:
    """nbval counts one test per code cell: all of them, in every example notebook."""
    code_cells = sum(
        c["cell_type"] == "code"
        for nb in NOTEBOOKS.glob("*.ipynb")
        for c in json.loads(nb.read_text())["cells"]
    )
    assert re.search(rf"\b{code_cells} passed\b", stdout), stdout[-2000:]


def tree_snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_readme_regression_command_runs_from_the_repository_root(
    user_env: dict[str, str],
) -> None:
    # Given the repository as checked out (its root conftest isolates the run)
    before = tree_snapshot(NOTEBOOKS)
    # When the README's command runs there, word for word
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "--nbval", "notebooks/",
            "--zingy-profiles", "notebooks/test-profiles.toml", "-p", "no:cacheprovider",
        ],
        cwd=ROOT, env=user_env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    # Then every cell of every notebook passes strict output comparison, on the plugin's
    # store (webhook.ipynb's first cell prints only when the profile is missing)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "zingy-nb: throwaway test store" in result.stdout
    assert_every_code_cell_passed(result.stdout)
    # And the fixtures are untouched, and the user's real store was never created
    assert tree_snapshot(NOTEBOOKS) == before
    assert not default_store(user_env).exists()


def test_a_changed_output_fails_the_regression_test(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a copy of the quick start whose stored output no longer matches what runs
    work = tmp_path / "work"
    work.mkdir()
    nb = json.loads((NOTEBOOKS / "quickstart.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "%zingy_apikey flow" in "".join(c["source"]))
    cell["outputs"][0]["text"] = ["Flow mode: page-flow (from ZINGY_NB_FLOW): retrieval refused\n"]
    (work / "quickstart.ipynb").write_text(json.dumps(nb))
    shutil.copy(NOTEBOOKS / "test-profiles.toml", work)
    # When nbval runs it
    result = nbval(
        user_env, work, "--nbval", "quickstart.ipynb", "--zingy-profiles", "test-profiles.toml"
    )
    # Then the run fails on exactly that cell
    assert result.returncode == 1, result.stdout[-3000:]
    assert re.search(r"\b1 failed\b", result.stdout)
    assert "retrieval refused" in result.stdout and "retrieval allowed" in result.stdout
    assert not default_store(user_env).exists()


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- tested-example -->\s*```bash\n(.*?)```", text, re.S)
    assert match, "README lost its tested regression-testing example"
    return match.group(1)


def test_readme_regression_testing_example_runs_as_written(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a project folder holding a notebook of the user's own
    work = tmp_path / "project"
    (work / "notebooks").mkdir(parents=True)
    shutil.copy(NOTEBOOKS / "webhook.ipynb", work / "notebooks")
    # When the README's CI example runs there, word for word
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", readme_example()],
        cwd=work, env=user_env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    # Then it passes, on a throwaway store
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", result.stdout)
    assert not default_store(user_env).exists()


def test_a_session_started_from_a_notebook_does_not_judge_its_kernels_as_that_notebook(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    # Given pytest started from a notebook's kernel (`!pytest ...`): it inherits that
    # notebook's identity, and its kernels have no stdin to answer an access prompt
    work = tmp_path / "work"
    shutil.copytree(NOTEBOOKS, work / "notebooks")
    env = {**user_env, "JPY_SESSION_NAME": str(work / "notebooks" / "quickstart.ipynb")}
    # When the documented command runs the webhook example, which reads a profile
    result = nbval(
        env, work, "--nbval", "notebooks/webhook.ipynb",
        "--zingy-profiles", "notebooks/test-profiles.toml",
    )  # fmt: skip
    # Then its kernels are not judged as that notebook: every cell passes, none refused
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "NotebookAccessError" not in result.stdout
