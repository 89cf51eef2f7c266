"""The README's command blocks run as pasted, and its links lead somewhere.

Every fenced ``bash`` block of README.md and of the ``docs/`` pages it links to (not
docs/teams.md, whose blocks ``tests/test_team_docs.py`` walks, nor docs/agent.md, a
design) runs, in the order written, in one fresh folder holding a copy of
``notebooks/`` (the README's commands are written for a clone's root), as a new user
would have it after "Install": a fresh HOME, Jupyter and IPython dirs, an empty store
(no keyring: the key file), the flow kernels installed, this venv's ``bin`` first on
PATH. Each block must exit 0 under ``bash -e -o pipefail``.

A block marked ``<!-- not-run: WHY -->`` on the line before it is skipped (it builds the
wheel, starts the lab, runs the whole suite); there are few, and each says why. A block
marked ``<!-- server: ... -->`` runs until it is stopped: here on a free port instead of
the one written, until that port answers HTTP, then its command gets SIGTERM (as from
Ctrl-C or a service manager) and must end with exit status 0, leaving no process.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.isolation import stop_agents
from tests.test_lab_script import free_port, snapshot, stop
from tests.test_team_docs import Block, blocks

pytestmark = pytest.mark.timeout(900)

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
NOT_HERE = {"teams.md": "tests/test_team_docs.py", "agent.md": "a design, nothing to run"}
SHELLS = ("sh", "shell", "console", "zsh")
PORT = re.compile(r"--port[ =](\d+)")


def pages() -> list[Path]:
    """README.md, then the docs pages whose blocks this test runs."""
    return [README, *sorted(p for p in (REPO / "docs").glob("*.md") if p.name not in NOT_HERE)]


def command_blocks() -> list[tuple[Path, Block]]:
    return [(page, b) for page in pages() for b in blocks(page) if b.lang == "bash"]


def fresh_env(root: Path) -> dict[str, str]:
    """A new user's environment below ``root``: nothing from this session's store."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ZINGY_NB_", "JUPYTER_", "JPY_", "IPYTHON", "PYTEST_"))
    }
    dirs = {
        "HOME": "home",
        "TMPDIR": "tmp",
        "JUPYTER_CONFIG_DIR": "jupyter/config",
        "JUPYTER_DATA_DIR": "jupyter/data",
        "JUPYTER_RUNTIME_DIR": "jupyter/runtime",
        "IPYTHONDIR": "ipython",
    }
    for name, sub in dirs.items():
        env[name] = str(root / sub)
        (root / sub).mkdir(parents=True)
    env.update(
        JUPYTER_PLATFORM_DIRS="1",
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    return env


# -- the pages' own shape ---------------------------------------------------------------
def test_every_command_block_is_bash_and_every_exception_says_why() -> None:
    found = command_blocks()
    assert len(found) >= 8, "the README lost its command blocks"
    for page in pages():
        for b in blocks(page):
            assert b.lang not in SHELLS, (
                f"{page.name}: a shell block must be ```bash: {b.body[:60]}"
            )
    skipped = [(page.name, b) for page, b in found if b.kind == "not-run"]
    for name, b in skipped:
        assert len(b.args) > 20, f"{name}: a not-run marker must say why: {b.body[:60]}"
    # the exceptions stay few: the wheel, the install, lab.sh and test.sh, a menu of
    # tools, the benchmark
    assert len(skipped) <= 5, [b.body[:60] for _, b in skipped]
    servers = [b for _, b in found if b.kind == "server"]
    assert servers and all(len(PORT.findall(b.body)) == 1 for b in servers)
    unknown = {b.kind for _, b in found} - {None, "not-run", "server", "tested-example"}
    assert not unknown, unknown


def test_the_quick_start_commands_are_kept_exactly() -> None:
    (quick,) = [b for b in blocks(README) if "scripts/lab.sh" in b.body]
    commands = [line.split("#")[0].strip() for line in quick.body.splitlines()]
    assert commands == ["bash scripts/lab.sh", "bash scripts/test.sh"]


def test_the_readme_stays_short_and_says_what_zingy_is() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 410
    opening = text.split("## Contents", 1)[0]
    for term in ("low-code", "API Key", "Cloud Flow", "Page Flow", "browser", "Jupyter"):
        assert term in opening, term
    first_two_screens = "\n".join(text.splitlines()[:100])
    for found_there in ("#install", "#in-a-notebook", "#notebooks-as-regression-tests"):
        assert f"]({found_there})" in first_two_screens, found_there


# -- links ------------------------------------------------------------------------------
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings (lower case, punctuation dropped)."""
    found = set()
    fenced = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


@pytest.mark.parametrize("page", [README, *sorted((REPO / "docs").glob("*.md"))], ids=str)
def test_every_relative_link_leads_to_a_file_and_heading(page: Path) -> None:
    text = page.read_text()
    checked = 0
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f"{page.name}: broken link {target}"
        if anchor:
            assert anchor in anchors(file), f"{page.name}: no heading for {target}"
        checked += 1
    assert checked or page.name in ("agent.md", "teams.md")


# -- the commands -----------------------------------------------------------------------
def run_server(block: Block, cwd: Path, env: dict[str, str]) -> None:
    """Start the block, wait until its port answers HTTP, stop its command with SIGTERM:
    exit status 0 and nothing left behind."""
    port = free_port()
    body = PORT.sub(f"--port {port}", block.body)
    log = cwd.parent / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", body],
            cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).close()
                break
            except urllib.error.HTTPError:  # any HTTP answer: it is serving
                break
            except OSError:
                time.sleep(0.5)
        # SIGTERM to the command, not to bash (which may have exec'd its last command)
        shell = psutil.Process(process.pid)
        for command in shell.children() if shell.cmdline()[:1] == ["bash"] else [shell]:
            command.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        stop(process)


@pytest.fixture
def user_root() -> Iterator[Path]:
    """A new user's folder, short enough (like a real HOME) for the agents the examples'
    kernels start to keep their sockets in it; those agents are stopped at the end."""
    root = Path(tempfile.mkdtemp(prefix="zr-", dir="/tmp"))
    try:
        yield root
    finally:
        stop_agents(root)
        shutil.rmtree(root, ignore_errors=True)


def test_every_command_block_runs_as_written(tmp_path: Path, user_root: Path) -> None:
    # Given a fresh folder with the examples, a new user's dirs and the flow kernels
    work = tmp_path / "work"
    shutil.copytree(REPO / "notebooks", work / "notebooks")
    env = fresh_env(user_root)
    subprocess.run(["zingy-nb", "kernels", "install", "--user"], env=env, check=True, timeout=60)
    before = snapshot(work / "notebooks")
    ran = 0
    # When every block runs, in the order written
    for page, block in command_blocks():
        if block.kind == "not-run":
            continue
        ran += 1
        if block.kind == "server":
            run_server(block, work, env)
            continue
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", block.body],
            cwd=work, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        # Then each exits 0
        assert done.returncode == 0, (
            f"{page.name}: this block failed:\n{block.body}\n"
            f"stdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-3000:]}"
        )
    assert ran >= 6
    # And the examples were run, not rewritten; their outputs went elsewhere
    assert snapshot(work / "notebooks") == before
    assert (Path(env["TMPDIR"]) / "last-sync.ipynb").is_file()
    # And the made-up profiles the examples needed are in the new user's store only
    listed = subprocess.run(
        ["zingy-nb", "profiles", "list", "--json"],
        cwd=work, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert {"ledger-sync", "shop-webhooks"} <= set(re.findall(r'"name": "([^"]+)"', listed.stdout))
