"""The Unlock dialog in JupyterLab and Chromium: a store whose key is locked with a
passphrase (``zingy-nb key protect``, then ``zingy-nb lock``, by the real CLI).

A cloud-flow notebook's retrieval waits in the store's agent, which asks its front end
(the Jupyter server); the extension shows a passphrase dialog and posts what the person
typed as the browser session. A wrong passphrase is said in the dialog, which asks
again; the right one unlocks the agent and the cell goes on. The passphrase is never
written into the page, the notebook or the server's log.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from zingy_nb.agent import StoreLocation
from zingy_nb.agent.location import PID_FILE, agent_pid

from .test_lab_extension import CLI, open_lab, zingy_errors
from .test_notebook_access_browser import SLOW, kernel_ready, run_cell, write_notebook

if TYPE_CHECKING:
    from .conftest import LabServer

NAME = "stripe-access"  # the name test_notebook_access_browser's notebook reads
SECRET = "madeup-unlock-S1-Zp7wK2"
DIGEST = hashlib.sha256(SECRET.encode()).hexdigest()
PASSPHRASE = "made-up dialog passphrase"


def zingy(lab_server: LabServer, *args: str, stdin: str = "") -> None:
    done = subprocess.run(
        [CLI, *args], input=stdin, env=lab_server.env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def locked_store(lab_server: LabServer) -> Iterator[Path]:
    home = Path(lab_server.env["ZINGY_NB_HOME"])
    zingy(lab_server, "profiles", "set", NAME, "--stdin", stdin=SECRET + "\n")
    zingy(lab_server, "store", "config", "notebook-access", "off")
    zingy(lab_server, "key", "protect", "--stdin", stdin=PASSPHRASE + "\n")
    zingy(lab_server, "lock")
    yield home


@pytest.fixture(scope="module", autouse=True)
def stop_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[StoreLocation]]:
    """Set up before ``lab_server``, so torn down after it: the server has let go."""
    found: list[StoreLocation] = []
    yield found
    for location in found:
        pid = agent_pid(location.folder())
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while (location.folder() / PID_FILE).exists():
            assert time.monotonic() < deadline, f"agent {pid} did not stop"
            time.sleep(0.1)


def test_a_locked_store_is_unlocked_in_the_dialog(
    lab_server: LabServer,
    locked_store: Path,
    stop_agent: list[StoreLocation],
    page: Page,
    artifacts: Path,
) -> None:
    stop_agent.append(StoreLocation(locked_store))
    write_notebook(lab_server.root_dir, "locked.ipynb")
    open_lab(page, lab_server, "lab/tree/locked.ipynb")
    kernel_ready(page)
    # When the cell reads a profile while the key is locked
    run_cell(page)
    # Then JupyterLab asks for the passphrase
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Unlock the API Key store", timeout=SLOW)
    field = dialog.get_by_label("Passphrase")
    expect(field).to_be_focused()
    # When a wrong one is typed, the dialog says so and asks again
    field.fill("not the passphrase")
    dialog.get_by_role("button", name="Unlock").click()
    expect(dialog.locator(".zingy-nb-unlock-error")).to_contain_text(
        "does not unlock", timeout=SLOW
    )
    page.screenshot(path=str(artifacts / "unlock-dialog.png"))
    # When the right one is typed
    dialog.get_by_label("Passphrase").fill(PASSPHRASE)
    dialog.get_by_role("button", name="Unlock").click()
    # Then the cell goes on and prints the digest of the value
    output = page.locator(".jp-Cell .jp-OutputArea-output")
    expect(output.filter(has_text="sha256")).to_have_text(f"sha256 {DIGEST}", timeout=SLOW)
    expect(dialog).to_have_count(0)
    content = page.content()
    assert PASSPHRASE not in content and SECRET not in content
    assert PASSPHRASE not in (lab_server.root_dir / "locked.ipynb").read_text()
    # The only error the page saw is the wrong passphrase's refusal (a 403 the browser
    # logs for any refused request), once
    (refusal,) = zingy_errors(page)
    assert "403" in refusal and "/zingy-nb/api/unlock" in refusal, refusal
