"""Notebook access in JupyterLab and Chromium: the dialog, and the sidebar's allowances.

A notebook on the "Python 3 (Zingy Cloud Flow)" kernel runs through the zingy launcher,
so its retrieval is judged by the store's agent: the agent asks "may this notebook read
this profile?" through the Jupyter server (its front end), and the extension shows the
question in a dialog and posts the answer as the browser session. The kernel asks
nothing on its stdin and nothing is written into the cell. Allow records the allowance
(the CLI sees it), Deny does not. The sidebar lists each profile's allowed notebooks
and removes them through the REST API. The agent the server started is stopped after
the server (which would otherwise reconnect to it).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Page, expect

from zingy_nb import access
from zingy_nb.agent import StoreLocation
from zingy_nb.agent.location import PID_FILE, agent_pid
from zingy_nb.profiles import Profiles

from .test_lab_extension import TIMEOUT, cli, open_lab, open_sidebar, toolbar_button, zingy_errors

if TYPE_CHECKING:
    from .conftest import LabServer

NAME = "stripe-access"
SECRET = "madeup-access-S1-Hq4nX9"
DIGEST = hashlib.sha256(SECRET.encode()).hexdigest()
CELL = (
    "import hashlib\n"
    f"key = zingyConn.apikey({NAME!r})\n"
    "print('sha256', hashlib.sha256(key.secret1.encode()).hexdigest())"
)
KERNEL_READY = "Python 3 (Zingy Cloud Flow) | Idle"
SLOW = 60_000  # ms: a kernel's start, or a first retrieval, on a busy 2-core machine


def write_notebook(root: Path, name: str) -> str:
    """A cloud-flow notebook whose one cell reads ``NAME``; returns its real path."""
    cell: dict[str, Any] = {"cell_type": "code", "execution_count": None, "id": "read", "metadata": {},
            "outputs": [], "source": CELL}  # fmt: skip
    kernelspec = {"name": "zingy-cloud-flow", "language": "python",
                  "display_name": "Python 3 (Zingy Cloud Flow)"}  # fmt: skip
    notebook = {"cells": [cell], "metadata": {"kernelspec": kernelspec},
                "nbformat": 4, "nbformat_minor": 5}  # fmt: skip
    path = root / name
    path.write_text(json.dumps(notebook))
    return os.path.realpath(path)


def allowed(lab_server: LabServer) -> list[str]:
    """The notebooks ``zingy-nb profiles access NAME`` lists."""
    return [a["notebook"] for a in cli(lab_server, "profiles", "access", NAME)["notebooks"]]


def kernel_ready(page: Page) -> None:
    expect(page.locator("#jp-main-statusbar")).to_contain_text(KERNEL_READY, timeout=SLOW)


def run_cell(page: Page) -> None:
    page.locator(".jp-Cell .jp-InputPrompt").first.click()
    page.keyboard.press("Shift+Enter")


#: The agents of the lab servers of this module, stopped once the servers have stopped.
AGENTS: list[StoreLocation] = []


@pytest.fixture(scope="module", autouse=True)
def stop_agents() -> Iterator[None]:
    """Set up before ``lab_server``, so torn down after it: the server has let go."""
    yield
    for location in AGENTS:
        pid_file = location.folder() / PID_FILE
        pid = agent_pid(location.folder())
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
        if pid_file.exists():
            deadline = time.monotonic() + 30
            while pid_file.exists():
                assert time.monotonic() < deadline, f"agent {pid} did not stop"
                time.sleep(0.1)


def test_the_agents_dialog_allows_or_denies_and_the_sidebar_removes(
    lab_server: LabServer, page: Page, artifacts: Path
) -> None:
    AGENTS.append(StoreLocation(Path(lab_server.env["ZINGY_NB_HOME"])))
    # Given a profile, and a cloud-flow notebook never allowed to read it
    Profiles(lab_server.env["ZINGY_NB_HOME"]).set(NAME, SECRET)
    first = write_notebook(lab_server.root_dir, "access.ipynb")
    assert allowed(lab_server) == []

    # When its cell reads the profile
    open_lab(page, lab_server, "lab/tree/access.ipynb")
    kernel_ready(page)
    run_cell(page)
    # Then the agent asks: a dialog names the notebook (below the root) and the
    # profile, with Allow and Deny (Deny default)
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f'Allow a notebook to read "{NAME}"?', timeout=SLOW)
    expect(dialog.locator(".zingy-nb-access-notebook")).to_have_text("access.ipynb")
    expect(dialog.locator(".zingy-nb-access-profile")).to_have_text(NAME)
    expect(dialog.get_by_role("button", name="Deny")).to_be_focused(timeout=TIMEOUT)
    # And the kernel asked nothing on its stdin (no input box, shown or hidden)
    expect(page.locator(".jp-Stdin")).to_have_count(0)
    page.screenshot(path=str(artifacts / "access-dialog.png"))

    # When Allow is clicked
    dialog.get_by_role("button", name="Allow").click()
    # Then the cell finishes with the value's digest (never the value)
    output = page.locator(".jp-Cell .jp-OutputArea-output")
    expect(output.filter(has_text="sha256")).to_have_text(f"sha256 {DIGEST}", timeout=SLOW)
    kernel_ready(page)
    expect(dialog).to_have_count(0)
    # And nothing about the question was written into the cell
    cell = page.locator(".jp-Cell").first
    expect(cell).not_to_contain_text("zingy-nb:")
    expect(page.locator(".jp-Cell .jp-OutputArea-output")).to_have_count(1)
    assert SECRET not in page.content()
    # And the CLI lists the notebook as allowed
    assert allowed(lab_server) == [first]

    # Given a second notebook, never allowed
    write_notebook(lab_server.root_dir, "other.ipynb")
    open_lab(page, lab_server, "lab/tree/other.ipynb")
    kernel_ready(page)
    # When its cell runs, it is asked again, and Deny is clicked
    run_cell(page)
    expect(dialog.locator(".zingy-nb-access-notebook")).to_have_text("other.ipynb", timeout=SLOW)
    dialog.get_by_role("button", name="Deny").click()
    # Then the cell fails with NotebookAccessError, and nothing was allowed
    area = page.locator(".jp-Cell .jp-OutputArea").first
    expect(area).to_contain_text("NotebookAccessError", timeout=SLOW)
    expect(area).to_contain_text("it was denied")
    expect(dialog).to_have_count(0)
    assert allowed(lab_server) == [first]

    # Given a third notebook asked about, with JupyterLab open in a second tab too
    third = write_notebook(lab_server.root_dir, "third.ipynb")
    open_lab(page, lab_server, "lab/tree/third.ipynb")
    kernel_ready(page)
    run_cell(page)
    expect(dialog.locator(".zingy-nb-access-notebook")).to_have_text("third.ipynb", timeout=SLOW)
    other_tab = page.context.new_page()
    open_lab(other_tab, lab_server)
    elsewhere = other_tab.get_by_role("dialog")
    expect(elsewhere.locator(".zingy-nb-access-notebook")).to_have_text("third.ipynb", timeout=SLOW)
    # When it is allowed in the second tab
    elsewhere.get_by_role("button", name="Allow").click()
    # Then the first tab's dialog closes by itself and its cell gets the value
    expect(dialog).to_have_count(0, timeout=SLOW)
    expect(output.filter(has_text="sha256")).to_have_text(f"sha256 {DIGEST}", timeout=SLOW)
    assert sorted(allowed(lab_server)) == sorted([first, third])
    other_tab.close()
    access.disallow(Profiles(lab_server.env["ZINGY_NB_HOME"]), NAME, third)

    # When the sidebar is opened
    sidebar = open_sidebar(page)
    row = sidebar.locator(f'.zingy-nb-profile[data-name="{NAME}"]')
    # Then the profile's row lists the allowed notebook (by its path below the root)
    notebooks = row.get_by_role("list", name=f'Notebooks allowed to read "{NAME}"')
    expect(notebooks.get_by_role("listitem")).to_have_text(["access.ipynb"])
    title = notebooks.locator(".zingy-nb-notebook-path").get_attribute("title") or ""
    assert title.startswith(f"{first}\nallowed when it asked, "), title
    page.mouse.move(0, 0)
    page.screenshot(path=str(artifacts / "sidebar-notebooks.png"))
    # When its remove button is clicked
    toolbar_button(row, f'Disallow notebook "access.ipynb" for profile "{NAME}"').click()
    # Then the sidebar says so and no longer lists it, and neither does the CLI
    expect(sidebar.get_by_role("status")).to_have_text(
        f'Notebook "access.ipynb" may no longer read "{NAME}"; its next read asks again.'
    )
    expect(notebooks).to_have_count(0)
    assert allowed(lab_server) == []
    assert zingy_errors(page) == []
    Profiles(lab_server.env["ZINGY_NB_HOME"]).delete(NAME)
