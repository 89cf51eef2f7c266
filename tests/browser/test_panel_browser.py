"""The panel in JupyterLab and Chromium: type secrets, Save, save the notebook.

A person's path end to end: JupyterLab (with "Save Jupyter widget state in notebooks"
on) opens a notebook in a page-flow kernel (the panel does editor work, allowed in every
kernel), runs the cell that shows the panel, types the secrets, loads a key file and
clicks Save. Then the store holds the values, the fields are empty on screen, and the
``.ipynb`` that JupyterLab writes on Ctrl+S holds the panel's widget state but no secret.
The file is checked for ``[REDACTED]`` too: the server's save-time scrub must have had
nothing to do, or the check would prove the scrub, not the panel.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.browser.conftest import BIN, goto_lab
from tests.test_panel_notebook import encodings
from zingy_nb.profiles import Profiles

# Made-up values only.
S1 = "sk_test_MADEUP_browser_one"
S2 = "pk_test_MADEUP_browser_two_\u00fcn\u00efc\u00f8d\u00e9"
KEY = "-----BEGIN MADE-UP KEY-----\nAAAAmadeupbrowserline1\nAAAAmadeupbrowserline2\n-----END MADE-UP KEY-----\n"
OTHER = "ghp_MADEUP_browser_other"
SECRETS = (S1, S2, KEY, "AAAAmadeupbrowserline1", OTHER)
NOTEBOOK = "panel.ipynb"
TIMEOUT = 60_000


def enable_widget_state_saving(lab: Any) -> None:
    """Settings > "Save Jupyter widget state in notebooks", through the settings API."""
    request = urllib.request.Request(
        f"{lab.url}lab/api/settings/@jupyter-widgets/jupyterlab-manager:plugin",
        data=json.dumps({"raw": json.dumps({"saveState": True})}).encode(),
        method="PUT",
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204


def write_notebook(path: Path) -> None:
    cell = {
        "cell_type": "code", "execution_count": None, "id": "show-panel", "metadata": {},
        "outputs": [], "source": "import zingy_nb\nzingy_nb.panel()",
    }  # fmt: skip
    path.write_text(
        json.dumps(
            {
                "cells": [cell],
                "metadata": {
                    "kernelspec": {
                        "name": "zingy-page-flow",
                        "display_name": "Python 3 (Zingy Page Flow)",
                        "language": "python",
                    }
                },
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )


def widget_models(notebook: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The saved widget states, grouped by model name."""
    saved = notebook["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for model in saved["state"].values():
        by_name.setdefault(model["model_name"], []).append(model["state"])
    return by_name


def test_secrets_typed_in_the_browser_are_saved_and_leave_no_trace(
    lab_server: Any, page: Any, artifacts: Path
) -> None:
    try:
        run_scenario(lab_server, page, artifacts)
    except BaseException:
        page.screenshot(path=str(artifacts / "panel-failure.png"))
        print(lab_server.log_path.read_text(errors="replace")[-4000:])
        raise


def run_scenario(lab_server: Any, page: Any, artifacts: Path) -> None:
    # Given JupyterLab saving widget state, and a notebook that shows the panel
    enable_widget_state_saving(lab_server)
    path = lab_server.root_dir / NOTEBOOK
    write_notebook(path)
    home = Path(lab_server.env["ZINGY_NB_HOME"])
    goto_lab(page, lab_server, f"lab/tree/{NOTEBOOK}")
    editor = page.locator(".jp-Cell .jp-InputArea-editor").first
    editor.wait_for(timeout=TIMEOUT)
    page.get_by_text("Python 3 (Zingy Page Flow) | Idle").wait_for(timeout=TIMEOUT)
    editor.click()
    page.keyboard.press("Shift+Enter")
    panel = page.locator(".zingy-nb-panel")
    panel.wait_for(timeout=TIMEOUT)

    # When a person types a name with a space, two secrets, loads a key file, clicks Save
    name = panel.get_by_label("Name", exact=True)
    name.fill("my stripe")
    panel.get_by_label("Secret", exact=True).fill(S1)
    panel.get_by_label("Secret2", exact=True).fill(S2)
    with page.expect_file_chooser() as chooser:
        panel.locator(".widget-upload").nth(2).click()
    chooser.value.set_files(
        files=[{"name": "id_madeup", "mimeType": "text/plain", "buffer": KEY.encode()}]
    )
    status = panel.locator(".widget-html").last
    status.get_by_text("Secret3 will be taken from id_madeup").wait_for(timeout=TIMEOUT)
    panel.get_by_role("button", name="Save", exact=True).click()

    # Then the name is refused, nothing is saved, and nothing typed or loaded is lost
    status.get_by_text(
        "Nothing was saved; what you entered is kept: fix it and Save again."
    ).wait_for(timeout=TIMEOUT)
    assert "Invalid profile name" in status.inner_text()
    assert Profiles(home).list() == []
    assert panel.get_by_label("Secret", exact=True).input_value() == S1
    assert panel.get_by_label("Secret2", exact=True).input_value() == S2
    assert panel.get_by_text("from file id_madeup").is_visible()

    # When only the name is fixed and Save clicked again
    name.fill("stripe")
    panel.get_by_role("button", name="Save", exact=True).click()

    # Then the status says so and the store holds exactly those values
    status.get_by_text("Saved new profile 'stripe' (Secret, Secret2, Secret3 set).").wait_for(
        timeout=TIMEOUT
    )
    assert Profiles(home).secrets("stripe") == (S1, S2, KEY, None)
    # And every secret field is empty on screen
    for label in ("Secret", "Secret2", "Secret3", "Secret4"):
        assert panel.get_by_label(label, exact=True).input_value() == ""
    # And each upload button reads "Load file", without ipywidgets' "(0)" file count
    shown_labels = panel.locator(".widget-upload").evaluate_all(
        """buttons => buttons.map(b => [getComputedStyle(b, '::after').content,
                                         getComputedStyle(b).fontSize])"""
    )
    assert shown_labels == [['"Load file"', "0px"]] * 4

    # And a profile added from the CLI shows up in the list by itself (the watcher)
    added = subprocess.run(
        [str(BIN / "zingy-nb"), "profiles", "set", "github", "--stdin"],
        input=f"{OTHER}\n", text=True, capture_output=True, env=lab_server.env, timeout=60,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    listing = panel.locator("select").first
    listing.locator("option", has_text="github").wait_for(state="attached", timeout=TIMEOUT)
    shown = listing.locator("option", has_text="stripe").inner_text().replace("\xa0", " ")
    assert "stripe  ·  Secret, Secret2, Secret3  ·  updated " in shown

    # (docs/images/panel.png is a copy of this, refreshed by hand)
    assert panel.screenshot(path=str(artifacts / "panel.png"))

    # When the notebook is saved from the UI (Ctrl+S)
    before = path.stat().st_mtime_ns
    page.locator(".jp-Cell .jp-InputPrompt").first.click()
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + TIMEOUT / 1000
    while path.stat().st_mtime_ns == before or b"widget-state+json" not in path.read_bytes():
        assert time.monotonic() < deadline, "the notebook was not saved with widget state"
        time.sleep(0.2)
    content = path.read_bytes()

    # Then the file holds the panel's widget state, as of after the save...
    models = widget_models(json.loads(content))
    assert len(models["PasswordModel"]) == 4
    assert all(state.get("value", "") == "" for state in models["PasswordModel"])
    assert all(state.get("value", []) == [] for state in models["FileUploadModel"])
    assert any("Saved new profile" in s.get("value", "") for s in models["HTMLModel"])
    # ...and no secret in any encoding, with nothing left for the server's scrub to do
    for secret in SECRETS:
        for form in encodings(secret):
            assert form not in content, f"a form of a secret is in the notebook: {form[:12]!r}"
    assert b"[REDACTED]" not in content
    # And no secret reached the server's log (kernel stderr ends up there too)
    log = lab_server.log_path.read_bytes()
    assert not [s for s in SECRETS if s.encode() in log]
    assert not [e for e in page.console_errors if "widget" in e.lower()], page.console_errors
