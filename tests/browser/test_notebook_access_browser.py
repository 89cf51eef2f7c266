"""Notebook access in JupyterLab and Chromium: the dialog, and the sidebar's allowances.

A cloud-flow kernel asks "may this notebook read this profile?" with an ``input_request``
on the stdin channel; the extension shows a dialog instead of the cell's input box and
answers through that same request. Allow records the allowance (the CLI sees it), Deny
does not; a cell that ends while the dialog is open closes it. The sidebar lists each
profile's allowed notebooks and removes them through the REST API.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Page, expect

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


def interrupt_kernel(lab_server: LabServer, path: str) -> None:
    """Interrupt the kernel of the notebook at ``path`` through the server's REST API."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    auth = {"Authorization": f"token {lab_server.token}"}
    request = urllib.request.Request(f"{lab_server.url}api/sessions", headers=auth)
    with opener.open(request, timeout=10) as response:
        (kernel,) = [s["kernel"] for s in json.load(response) if s["path"] == path]
    url = f"{lab_server.url}api/kernels/{kernel['id']}/interrupt"
    with opener.open(urllib.request.Request(url, method="POST", headers=auth), timeout=10) as r:
        assert r.status == 204


def test_the_dialog_allows_or_denies_and_the_sidebar_removes(
    lab_server: LabServer, page: Page, artifacts: Path
) -> None:
    # Given a profile, and a cloud-flow notebook never allowed to read it
    Profiles(lab_server.env["ZINGY_NB_HOME"]).set(NAME, SECRET)
    first = write_notebook(lab_server.root_dir, "access.ipynb")
    assert allowed(lab_server) == []

    # When its cell reads the profile
    open_lab(page, lab_server, "lab/tree/access.ipynb")
    kernel_ready(page)
    run_cell(page)
    # Then a dialog names the notebook and the profile, with Allow and Deny (Deny default)
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f'Allow a notebook to read "{NAME}"?', timeout=SLOW)
    expect(dialog.locator(".zingy-nb-access-notebook")).to_have_text(first)
    expect(dialog.locator(".zingy-nb-access-profile")).to_have_text(NAME)
    expect(dialog.get_by_role("button", name="Deny")).to_be_focused(timeout=TIMEOUT)
    # And the cell's own input box is not shown beside it
    expect(page.locator(".jp-Stdin")).to_have_count(1)
    expect(page.locator(".jp-Stdin")).to_be_hidden()
    page.screenshot(path=str(artifacts / "access-dialog.png"))

    # When Allow is clicked
    dialog.get_by_role("button", name="Allow").click()
    # Then the cell finishes with the value's digest (never the value)
    output = page.locator(".jp-Cell .jp-OutputArea-output")
    expect(output.filter(has_text="sha256")).to_have_text(f"sha256 {DIGEST}", timeout=SLOW)
    kernel_ready(page)
    expect(dialog).to_have_count(0)
    expect(page.locator(".jp-Stdin")).to_have_count(0)
    # And the cell keeps one line saying what was decided, not the question and answer
    cell = page.locator(".jp-Cell").first
    expect(cell).to_contain_text(f'zingy-nb: this notebook may read profile "{NAME}" (allowed).')
    expect(cell).not_to_contain_text("[allow/deny]")
    assert SECRET not in page.content()
    # And the CLI lists the notebook as allowed
    assert allowed(lab_server) == [first]

    # Given a second notebook, never allowed
    second = write_notebook(lab_server.root_dir, "other.ipynb")
    open_lab(page, lab_server, "lab/tree/other.ipynb")
    kernel_ready(page)
    # When its cell runs, it is asked again; and when the cell ends unanswered
    # (interrupted here; the kernel's own time limit ends it the same way)
    run_cell(page)
    expect(dialog.locator(".zingy-nb-access-notebook")).to_have_text(second, timeout=SLOW)
    interrupt_kernel(lab_server, "other.ipynb")
    # Then the dialog closes by itself, and the cell shows why it stopped
    expect(dialog).to_have_count(0)
    expect(page.locator(".jp-Cell .jp-OutputArea").first).to_contain_text("KeyboardInterrupt")
    expect(page.locator(".jp-Stdin")).to_be_hidden()
    # When it runs again and Deny is clicked
    kernel_ready(page)
    run_cell(page)
    expect(dialog.locator(".zingy-nb-access-notebook")).to_have_text(second, timeout=SLOW)
    dialog.get_by_role("button", name="Deny").click()
    # Then the cell fails with NotebookAccessError, and nothing was allowed
    expect(page.locator(".jp-Cell .jp-OutputArea").first).to_contain_text("NotebookAccessError")
    cell = page.locator(".jp-Cell").first
    expect(cell).to_contain_text(f'zingy-nb: this notebook may not read profile "{NAME}" (denied).')
    expect(cell).not_to_contain_text("[allow/deny]")
    # And the notebook, once saved, keeps that line and not the question
    page.locator(".jp-Cell .jp-InputPrompt").first.click()
    page.keyboard.press("Control+s")
    saved = lab_server.root_dir / "other.ipynb"
    deadline = time.monotonic() + TIMEOUT / 1000
    while "(denied)" not in saved.read_text():
        assert time.monotonic() < deadline, "the notebook was not saved"
        time.sleep(0.2)
    assert "[allow/deny]" not in saved.read_text()
    assert allowed(lab_server) == [first]

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
