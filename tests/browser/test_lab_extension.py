"""The JupyterLab extension in headless Chromium, against a real ``jupyter lab``.

The sidebar writes through the REST API into the store the ``zingy-nb`` CLI reads; the
status bar shows the flow mode of the active kernel's kernelspec. Screenshots go to
``test-artifacts/`` (the README's copies live in ``docs/images/``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from zingy_nb.profiles import Profiles

from .conftest import goto_lab

if TYPE_CHECKING:
    from .conftest import LabServer

CLI = str(Path(sys.executable).with_name("zingy-nb"))
NAME = "stripe-browser"
SECRET = "madeup-browser-S1-Vw3qT8"
SECRET2 = "madeup-browser-S2-Jk8zP4"
TIMEOUT = 20_000  # ms: generous for a 2-core CI machine
#: The one time format of the sidebar, the panel and the CLI: UTC, to the minute.
UTC_MINUTE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$")


def cli(lab_server: LabServer, *args: str) -> Any:
    """Run ``zingy-nb ... --json`` against the server's store; returns the parsed JSON."""
    result = subprocess.run(
        [CLI, *args, "--json"],
        env=lab_server.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def open_lab(page: Page, lab_server: LabServer, path: str = "lab") -> None:
    page.set_default_timeout(TIMEOUT)
    goto_lab(page, lab_server, path)
    # The status bar item is there once the extension's plugins have activated (hidden
    # while the active widget has no kernel).
    page.locator(".zingy-nb-flow-status").wait_for(state="attached")


def open_sidebar(page: Page) -> Any:
    """Open the API Keys sidebar the way a person does: the command palette.

    The modal palette closes whenever focus leaves it, and a busy 2-core machine can
    still be moving focus when it opens, so the whole gesture is retried, never a lone
    keystroke (the shortcut only ever opens the palette, so a repeat cannot close it).
    """
    palette = page.locator(".lm-CommandPalette-input")
    item = page.locator(".lm-CommandPalette-item[data-command='zingy-nb:open-sidebar']")
    sidebar = page.locator("#zingy-nb-sidebar")
    for attempt in range(5):
        try:
            if not palette.is_visible():
                page.keyboard.press("Control+Shift+C")
            palette.fill("Open API Keys", timeout=5000)
            item.click(timeout=5000)
            sidebar.wait_for(state="visible", timeout=5000)
            break
        except PlaywrightTimeoutError:
            if attempt == 4:
                raise
    expect(sidebar.get_by_label("Profile name")).to_be_focused()
    return sidebar


def zingy_errors(page: Page) -> list[str]:
    return [text for text in page.console_errors if "zingy" in text.lower()]


def utc_minute(iso: str) -> str:
    """The server's ISO time as the sidebar must show it (a time without a zone is UTC)."""
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def toolbar_button(container: Any, title: str) -> Any:
    """The JupyterLab toolbar icon button named ``title`` in ``container``, checked.

    Its accessible name (role-based locators find it) and its tooltip both say what it
    does; it shows an icon and no text. JupyterLab renders it as a ``jp-button`` web
    component: the tooltip is on that element, the role on the button in its shadow root.
    """
    button = container.get_by_role("button", name=title, exact=True)
    expect(button).to_be_enabled()
    host = container.get_by_title(title, exact=True)
    expect(host).to_have_class(re.compile(r"\bjp-ToolbarButtonComponent\b"))
    expect(host.locator("svg")).to_have_count(1)
    expect(host).to_have_text("")
    return button


def write_notebook(root: Path, name: str, kernel: str, display_name: str) -> None:
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "first",
                "metadata": {},
                "outputs": [],
                "source": "print('hello')",
            }
        ],
        "metadata": {
            "kernelspec": {"name": kernel, "display_name": display_name, "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / name).write_text(json.dumps(notebook))


def test_sidebar_saves_a_profile_the_cli_sees_then_deletes_it(
    lab_server: LabServer, page: Page, artifacts: Path
) -> None:
    # Given JupyterLab with the API Keys sidebar open and no profiles
    open_lab(page, lab_server)
    sidebar = open_sidebar(page)
    expect(sidebar.get_by_text("No profiles yet.")).to_be_visible()

    # When a profile is typed in (name, Secret, Secret2) and saved
    sidebar.get_by_label("Profile name").fill(NAME)
    sidebar.get_by_label("Secret", exact=True).fill(SECRET)
    sidebar.get_by_label("Secret2", exact=True).fill(SECRET2)
    sidebar.get_by_role("button", name="Save").click()

    # Then the sidebar lists it with the two slots set, and empties the password fields
    expect(sidebar.get_by_role("status")).to_have_text(f'Saved new profile "{NAME}".')
    row = sidebar.locator(f'.zingy-nb-profile[data-name="{NAME}"]')
    expect(row.locator('[data-slot="secret2"]')).to_have_attribute("data-set", "true")
    expect(row.locator('[data-slot="secret3"]')).to_have_attribute("data-set", "false")
    # (an unset slot is an empty outline, not struck through as if deleted)
    for slot, border in (("secret2", "solid"), ("secret3", "dashed")):
        pill = row.locator(f'[data-slot="{slot}"]')
        expect(pill).to_have_css("text-decoration-line", "none")
        expect(pill).to_have_css("border-top-style", border)
    for label in ("Secret", "Secret2"):
        expect(sidebar.get_by_label(label, exact=True)).to_have_value("")
    # And the CLI sees it in the server's store, with exactly the typed values
    assert [(p["name"], p["slots"]) for p in cli(lab_server, "profiles", "list")] == [
        (NAME, {"secret1": True, "secret2": True, "secret3": False, "secret4": False})
    ]
    store = Profiles(lab_server.env["ZINGY_NB_HOME"])
    assert store.secrets(NAME) == (SECRET, SECRET2, None, None)
    # And the page never holds a value
    html = page.content()
    assert SECRET not in html and SECRET2 not in html

    # And the row's actions are JupyterLab toolbar icon buttons named after the profile
    edit_title, delete_title = f'Edit profile "{NAME}"', f'Delete profile "{NAME}"'
    edit = toolbar_button(row, edit_title)
    delete = toolbar_button(row, delete_title)
    expect(row.get_by_role("button")).to_have_count(2)
    expect(
        sidebar.locator("button.jp-mod-styled", has_text=re.compile("Edit|Delete"))
    ).to_have_count(0)
    toolbar_button(sidebar, "Refresh the profile list")
    # And its time reads as in the panel: UTC to the minute, whatever the browser's zone
    (listed,) = cli(lab_server, "profiles", "list")
    shown = row.locator("time")
    expect(shown).to_have_text(UTC_MINUTE)
    expect(shown).to_have_text(utc_minute(listed["updated"]))
    # And the store's long path is cut with an ellipsis, and whole in its tooltip
    store_path = cli(lab_server, "key", "status")["store"]
    path = sidebar.locator(".zingy-nb-store-path")
    expect(path).to_have_attribute("title", store_path)
    expect(path).to_have_text(store_path)
    for prop, value in (("text-overflow", "ellipsis"), ("white-space", "nowrap")):
        expect(path).to_have_css(prop, value)
    expect(path).to_have_css("overflow-x", "hidden")
    assert path.evaluate("node => node.scrollWidth > node.clientWidth"), "the path is not cut"
    # And with no kernel in the main area, the status bar shows no flow
    expect(page.locator(".zingy-nb-flow-status")).to_be_hidden()
    page.mouse.move(0, 0)
    page.screenshot(path=str(artifacts / "sidebar.png"))

    # When the form is cleared, then the row's Edit button is clicked
    sidebar.get_by_role("button", name="Clear form").click()
    expect(sidebar.get_by_role("form")).to_contain_text("New profile")
    edit.click()
    # Then the form edits that profile
    expect(sidebar.get_by_role("form")).to_contain_text(f'Edit profile "{NAME}"')
    expect(sidebar.get_by_label("Profile name")).to_have_value(NAME)

    # When the profile is deleted from its row, confirming the dialog
    delete.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f'Delete the profile "{NAME}"')
    dialog.get_by_role("button", name="Delete").click()

    # Then it is gone from the sidebar and from the store
    expect(sidebar.get_by_role("status")).to_have_text(f'Deleted profile "{NAME}".')
    expect(row).to_have_count(0)
    assert cli(lab_server, "profiles", "list") == []
    assert SECRET not in page.content()
    log = lab_server.log_path.read_text(errors="replace")
    assert SECRET not in log and SECRET2 not in log
    assert zingy_errors(page) == [], page.console_errors


def test_sidebar_keeps_what_was_typed_until_a_save_succeeds(
    lab_server: LabServer, page: Page
) -> None:
    # Given the sidebar, with a name holding a space and two secrets typed in
    open_lab(page, lab_server)
    sidebar = open_sidebar(page)
    sidebar.get_by_label("Profile name").fill("my service")
    sidebar.get_by_label("Secret", exact=True).fill(SECRET)
    sidebar.get_by_label("Secret2", exact=True).fill(SECRET2)
    # When Save is clicked
    sidebar.get_by_role("button", name="Save").click()
    # Then the name is refused first, nothing is saved, and the secrets are still there
    status = sidebar.get_by_role("status")
    expect(status).to_have_text(re.compile(r"^A profile name may only contain letters"))
    expect(sidebar.get_by_label("Secret", exact=True)).to_have_value(SECRET)
    expect(sidebar.get_by_label("Secret2", exact=True)).to_have_value(SECRET2)
    assert cli(lab_server, "profiles", "list") == []
    # When the name is fixed but Secret (required for a new profile) is emptied
    sidebar.get_by_label("Profile name").fill("my-service")
    sidebar.get_by_label("Secret", exact=True).fill("")
    sidebar.get_by_role("button", name="Save").click()
    # Then that is refused too, and Secret2 is kept
    expect(status).to_have_text('"my-service" is a new profile: enter its Secret, then Save.')
    expect(sidebar.get_by_label("Secret2", exact=True)).to_have_value(SECRET2)
    # When Secret is typed again and saved
    sidebar.get_by_label("Secret", exact=True).fill(SECRET)
    sidebar.get_by_role("button", name="Save").click()
    # Then the profile holds both values, and only now is the form emptied
    expect(status).to_have_text('Saved new profile "my-service".')
    for label in ("Secret", "Secret2"):
        expect(sidebar.get_by_label(label, exact=True)).to_have_value("")
    store = Profiles(lab_server.env["ZINGY_NB_HOME"])
    assert store.secrets("my-service") == (SECRET, SECRET2, None, None)
    store.delete("my-service")  # the module's server is shared: leave its store empty
    assert zingy_errors(page) == [], page.console_errors


def test_sidebar_follows_the_store_while_it_is_shown(lab_server: LabServer, page: Page) -> None:
    # Given the sidebar open on an empty store
    open_lab(page, lab_server)
    sidebar = open_sidebar(page)
    expect(sidebar.get_by_text("No profiles yet.")).to_be_visible()
    home = lab_server.env["ZINGY_NB_HOME"]
    # When a profile is saved from the CLI (another process)
    subprocess.run(
        [CLI, "profiles", "set", "from-cli", "--stdin"], input=f"{SECRET}\n",
        env=lab_server.env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    # Then it appears without Refresh being pressed
    row = sidebar.locator('.zingy-nb-profile[data-name="from-cli"]')
    expect(row).to_have_count(1, timeout=10_000)
    # And a change of its slots elsewhere shows, and so does its deletion
    Profiles(home).update("from-cli", {"secret3": SECRET2})
    expect(row.locator('[data-slot="secret3"]')).to_have_attribute("data-set", "true")
    Profiles(home).delete("from-cli")
    expect(row).to_have_count(0, timeout=10_000)
    expect(sidebar.get_by_text("No profiles yet.")).to_be_visible()

    # When the sidebar is closed (its tab clicked again)
    asked: list[str] = []
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="zingy-nb-sidebar"]').click()
    expect(sidebar).to_be_hidden()
    page.on("request", lambda request: asked.append(request.url))
    time.sleep(5)
    # Then it asks the server nothing: it follows the store only while it is shown
    assert [url for url in asked if "zingy-nb/api" in url] == []
    assert zingy_errors(page) == [], page.console_errors


def test_sidebar_names_slots_too_short_to_be_redacted(lab_server: LabServer, page: Page) -> None:
    # Given a profile saved from the CLI whose Secret2 is below the redaction minimum
    subprocess.run(
        [CLI, "profiles", "set", "short-cli", "--stdin"], input=f"{SECRET}\nab12\n",
        env=lab_server.env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    # When the sidebar is opened
    open_lab(page, lab_server)
    sidebar = open_sidebar(page)
    # Then its row says so, and marks the slot
    row = sidebar.locator('.zingy-nb-profile[data-name="short-cli"]')
    expect(row.get_by_role("note")).to_have_text(
        "Secret2 is too short to be redacted from kernel output."
    )
    expect(row.locator('[data-slot="secret2"]')).to_have_attribute("data-unredacted", "true")
    expect(row.locator('[data-slot="secret1"]')).not_to_have_attribute("data-unredacted", "true")
    # When a new profile with a short Secret3 is saved from the sidebar
    sidebar.get_by_label("Profile name").fill("short-ui")
    sidebar.get_by_label("Secret", exact=True).fill(SECRET2)
    sidebar.get_by_label("Secret3", exact=True).fill("xy9")
    sidebar.get_by_role("button", name="Save").click()
    # Then the status line says so too
    expect(sidebar.get_by_role("status")).to_have_text(
        'Saved new profile "short-ui". Secret3 is too short to be redacted from kernel output.'
    )
    assert {p["name"]: p["unredacted"] for p in cli(lab_server, "profiles", "list")} == {
        "short-cli": ["secret2"],
        "short-ui": ["secret3"],
    }
    # (the module's server is shared: leave its store empty for the next test)
    for name in ("short-cli", "short-ui"):
        Profiles(lab_server.env["ZINGY_NB_HOME"]).delete(name)


def test_status_bar_follows_the_kernels_flow_mode(
    lab_server: LabServer, page: Page, artifacts: Path
) -> None:
    # Given a notebook whose kernelspec is the cloud-flow one
    write_notebook(
        lab_server.root_dir, "flow.ipynb", "zingy-cloud-flow", "Python 3 (Zingy Cloud Flow)"
    )
    # When it is opened
    open_lab(page, lab_server, "lab/tree/flow.ipynb")
    # Then the status bar says Cloud Flow
    item = page.locator(".zingy-nb-flow-status")
    expect(item).to_have_attribute("data-flow", "cloud-flow")
    expect(item).to_have_text("Cloud Flow")
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Python 3 (Zingy Cloud Flow) | Idle")
    page.locator("#jp-main-statusbar").screenshot(path=str(artifacts / "statusbar.png"))

    # When the Launcher becomes the active tab (File, New Launcher)
    page.get_by_role("menuitem", name="File", exact=True).click()
    page.get_by_role("menuitem", name="New Launcher").click()
    expect(page.get_by_role("tab", name="Launcher")).to_have_attribute("aria-selected", "true")
    # Then the status bar shows no flow: the Launcher has no kernel
    expect(item).to_be_hidden()
    # When the notebook's tab is active again, then its flow is back
    page.get_by_role("tab", name="flow.ipynb").click()
    expect(item).to_be_visible()
    expect(item).to_have_text("Cloud Flow")

    # When the kernel is changed to page-flow (Kernel menu, Change Kernel…), then to a plain one
    for display_name, mode, label in (
        ("Python 3 (Zingy Page Flow)", "page-flow", "Page Flow"),
        ("Python 3 (ipykernel)", "none", "No flow"),
    ):
        page.get_by_role("menuitem", name="Kernel", exact=True).click()
        page.get_by_role("menuitem", name="Change Kernel…").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_role("combobox").select_option(label=display_name)
        dialog.get_by_role("button", name="Select").click()
        # Then the status bar follows
        expect(item).to_have_attribute("data-flow", mode)
        expect(item).to_have_text(label)
    assert zingy_errors(page) == [], page.console_errors


def test_a_save_the_server_scrubbed_is_announced_in_lab(lab_server: LabServer, page: Page) -> None:
    # Given a stored secret pasted into a notebook's cell
    pasted = "madeup-browser-PASTED-Qz7Lm2"
    store = Profiles(lab_server.env["ZINGY_NB_HOME"])
    store.set("pasted", pasted)
    write_notebook(
        lab_server.root_dir, "pasted.ipynb", "zingy-page-flow", "Python 3 (Zingy Page Flow)"
    )
    path = lab_server.root_dir / "pasted.ipynb"
    notebook = json.loads(path.read_text())
    notebook["cells"][0]["source"] = f"token = {pasted!r}"
    path.write_text(json.dumps(notebook))
    # When it is opened and saved from the UI (Ctrl+S)
    open_lab(page, lab_server, "lab/tree/pasted.ipynb")
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Python 3 (Zingy Page Flow) | Idle")
    page.locator(".jp-Cell .jp-InputPrompt").first.click()
    page.keyboard.press("Control+s")
    # Then the file on disk has the mask, not the value
    deadline = time.monotonic() + TIMEOUT / 1000
    while pasted in path.read_text():
        assert time.monotonic() < deadline, "the notebook was not saved (or not scrubbed)"
        time.sleep(0.2)
    assert "token = '[REDACTED]'" in json.loads(path.read_text())["cells"][0]["source"]
    # And JupyterLab shows the server's warning
    expect(
        page.get_by_text('Saved "pasted.ipynb" with 1 stored secret value replaced by [REDACTED].')
    ).to_be_visible(timeout=TIMEOUT)
    store.delete("pasted")
    assert zingy_errors(page) == [], page.console_errors


def test_saving_keeps_magic_lines_as_typed_unless_they_hold_a_secret(
    lab_server: LabServer, page: Page
) -> None:
    # Given a notebook with magic lines the magic refuses: two typos, one pasted secret
    typos = ['%zingy_apikey show "my service"', "%zingy_apikey set my service"]
    pasted = "%zingy_apikey set stripe sk_live_MADEUP_inline_9Qz"
    write_notebook(
        lab_server.root_dir, "magic.ipynb", "zingy-page-flow", "Python 3 (Zingy Page Flow)"
    )
    path = lab_server.root_dir / "magic.ipynb"
    notebook = json.loads(path.read_text())
    first = notebook["cells"][0]
    notebook["cells"] = [
        {**first, "id": f"c{i}", "source": source} for i, source in enumerate([*typos, pasted])
    ]
    path.write_text(json.dumps(notebook))
    # When it is opened and saved from the UI (Ctrl+S)
    open_lab(page, lab_server, "lab/tree/magic.ipynb")
    expect(page.locator("#jp-main-statusbar")).to_contain_text(
        "Python 3 (Zingy Page Flow) | Idle", timeout=TIMEOUT
    )
    page.locator(".jp-Cell .jp-InputPrompt").first.click()
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + TIMEOUT / 1000
    while "MADEUP_inline" in path.read_text():
        assert time.monotonic() < deadline, "the notebook was not saved (or not scrubbed)"
        time.sleep(0.2)
    # Then the typos are saved as typed, and only the line with the secret is cut
    sources = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]
    assert sources == [*typos, "%zingy_apikey set stripe"]
    # And the notification says what was done: a line cut, no stored value replaced
    expect(
        page.get_by_text(
            'Saved "magic.ipynb" with 1 %zingy_apikey line cut to what the magic accepts '
            "(it held what may be a secret)."
        )
    ).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text("replaced by [REDACTED]")).to_have_count(0)
    assert zingy_errors(page) == [], page.console_errors


def test_the_launcher_offers_the_javascript_flow_kernels(
    lab_server: LabServer, page: Page, artifacts: Path
) -> None:
    # Given the kernelspecs installed with Deno present (the javascript extra)
    from zingy_nb import kernels

    if kernels.deno_executable() is None:  # pragma: no cover - the suite installs Deno
        raise AssertionError("the test environment has no Deno: install the test extras")
    # When JupyterLab opens on its Launcher
    open_lab(page, lab_server)
    cards = page.locator(".jp-LauncherCard[data-category='Notebook']")
    # Then both JavaScript flow kernels are there beside the Python ones, with their logos
    for name in ("JavaScript (Zingy Cloud Flow)", "JavaScript (Zingy Page Flow)",
                 "Python 3 (Zingy Cloud Flow)", "Python 3 (Zingy Page Flow)"):  # fmt: skip
        card = cards.filter(has=page.locator(".jp-LauncherCard-label", has_text=name))
        expect(card).to_have_count(1)
        expect(card.locator("img")).to_have_attribute("src", re.compile(r"logo"))
    page.locator(".jp-Launcher-body").screenshot(path=str(artifacts / "launcher-js.png"))
    # And a notebook on the JavaScript cloud-flow kernel shows its flow in the status bar
    write_notebook(lab_server.root_dir, "flow.ts.ipynb", "zingy-js-cloud-flow",
                   "JavaScript (Zingy Cloud Flow)")  # fmt: skip
    open_lab(page, lab_server, "lab/tree/flow.ts.ipynb")
    item = page.locator(".zingy-nb-flow-status")
    expect(item).to_have_attribute("data-flow", "cloud-flow")
    expect(page.locator("#jp-main-statusbar")).to_contain_text(
        "JavaScript (Zingy Cloud Flow) | Idle"
    )
    assert zingy_errors(page) == [], page.console_errors
