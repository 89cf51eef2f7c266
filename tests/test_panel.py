"""The profiles panel, driven without a kernel through its widgets and ``get_state()``.

Typing and uploading go through ``Widget.set_state`` (the path a browser's update takes
in the kernel) and clicks through ``Button.click()``. Values are read back from the
store with a separate ``Profiles``. After every save, no widget of the panel may hold
a secret in its state: ``assert_no_secret`` walks them all (children, layouts, styles).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ipywidgets as w
import pytest

import zingy_nb
from zingy_nb import access
from zingy_nb.kernel.panel import LABELS, ProfilesPanel, show_panel
from zingy_nb.kernel.panel_access import shown_path
from zingy_nb.paths import KEY_FILE, STORE_FILE
from zingy_nb.profiles import Profiles, get_profiles
from zingy_nb.rules import MAX_VALUE_BYTES, SLOTS

CLI = str(Path(sys.executable).with_name("zingy-nb"))

# Made-up values only.
S1 = "sk_test_MADEUP_panel_one"
S2 = "pk_test_MADEUP_panel_two \u00fcn\u00efc\u00f8d\u00e9"
S3 = "MADEUP-third-slot-value"
S1_NEW = "sk_test_MADEUP_panel_rotated"
SSH_KEY = (
    "-----BEGIN MADE-UP KEY-----\r\nAAAAmadeupline1\u00e9\r\nAAAAmadeupline2\n"
    "-----END MADE-UP KEY-----\n\n"
)
ALL_SECRETS = (S1, S2, S3, S1_NEW, SSH_KEY, "AAAAmadeupline1")


# -- helpers -----------------------------------------------------------------------------
def type_into(widget: w.Widget, text: str) -> None:
    """What the browser's update message does in the kernel when a person types."""
    widget.set_state({"value": text})


def upload(widget: w.FileUpload, name: str, data: bytes) -> None:
    """What the browser's update message does in the kernel when a file is chosen."""
    entry = {
        "name": name, "type": "text/plain", "size": len(data),
        "content": memoryview(data), "last_modified": 1_700_000_000_000,
    }  # fmt: skip
    widget.set_state({"value": [entry]})


def fill(panel: ProfilesPanel, name: str, **slots: str) -> None:
    type_into(panel.name, name)
    for slot, value in slots.items():
        type_into(panel.secret_inputs[slot], value)


def widgets_of(root: w.Widget) -> Iterator[w.Widget]:
    """``root`` and every widget it refers to (children, layout, style), once each."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        yield widget
        for key in widget.keys:
            value = getattr(widget, key)
            items = value if isinstance(value, (list, tuple)) else [value]
            stack.extend(v for v in items if isinstance(v, w.Widget))


def as_bytes(obj: Any) -> bytes:
    """A widget state as bytes, buffers included raw, for substring checks."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj)
    if isinstance(obj, str):
        return obj.encode("utf-8")
    if isinstance(obj, dict):
        return b"|".join(as_bytes(k) + b"=" + as_bytes(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return b"|".join(as_bytes(v) for v in obj)
    return repr(obj).encode()


def assert_no_secret(panel: ProfilesPanel, *secrets: str) -> None:
    widgets = list(widgets_of(panel))
    assert len(widgets) > 40  # the walk really reached the form's widgets
    for widget in widgets:
        state = as_bytes(widget.get_state())
        for secret in secrets or ALL_SECRETS:
            assert secret.encode() not in state, f"{type(widget).__name__} holds a secret"
    for up in panel.uploads.values():
        assert up.value == ()
    for pw in panel.secret_inputs.values():
        assert pw.value == ""
    held = repr(vars(panel)) + panel.message + repr(panel.profiles_meta)
    for secret in secrets or ALL_SECRETS:
        assert secret not in held


def list_text(panel: ProfilesPanel) -> str:
    return repr(panel.profile_list.get_state()) + panel.summary.value


def wait_for(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture
def panel(zingy_home: Path) -> Iterator[ProfilesPanel]:
    made = ProfilesPanel(interval=0.1)
    yield made
    made.close()


@pytest.fixture
def store(zingy_home: Path) -> Profiles:
    """A second ``Profiles`` on the same home: another connection, as another process."""
    return Profiles(zingy_home)


# -- saving --------------------------------------------------------------------------------
def test_save_new_profile_stores_values_and_forgets_them(
    panel: ProfilesPanel, store: Profiles
) -> None:
    # Given a name, Secret and Secret3 typed in
    fill(panel, "stripe", secret1=S1, secret3=S3)
    assert panel.secret_inputs["secret1"].get_state()["value"] == S1  # typing reached state
    # When Save is clicked
    panel.save_button.click()
    # Then the profile holds exactly those values, and the panel holds none of them
    assert panel.message_kind == "ok", panel.message
    assert "Saved new profile 'stripe' (Secret, Secret3 set)" in panel.message
    assert store.secrets("stripe") == (S1, None, S3, None)
    assert_no_secret(panel)
    # And the list shows the profile and which slots are set, never a value
    assert panel.profile_list.value == "stripe"
    assert "Secret, Secret3" in panel.profile_list.options[0][0]
    assert [panel.slot_states[s].value for s in SLOTS] == ["set", "not set", "set", "not set"]


def test_save_says_which_values_are_too_short_to_redact(
    panel: ProfilesPanel, store: Profiles
) -> None:
    # Given a Secret2 below the redaction minimum
    fill(panel, "tiny", secret1=S1, secret2="ab12")
    # When Save is clicked
    panel.save_button.click()
    # Then it is saved, and the status line says the short value is not redacted
    assert panel.message_kind == "ok", panel.message
    assert "Note: Secret2 is shorter than 6 characters, so not redacted from output." in (
        panel.message
    )
    assert store.show("tiny").unredacted_slots == ["secret2"]
    assert_no_secret(panel)


def test_update_keeps_empty_slots_and_clear_box_clears(
    panel: ProfilesPanel, store: Profiles
) -> None:
    store.set("svc", S1, S2, S3)
    panel.refresh()
    # When the profile is selected, Secret gets a new value, Secret2 is left empty and
    # "Clear Secret3" is ticked
    panel.profile_list.set_state({"index": 0})
    assert panel.name.value == "svc"
    assert panel.secret_inputs["secret2"].placeholder == "set; empty keeps it"
    type_into(panel.secret_inputs["secret1"], S1_NEW)
    panel.clear_boxes["secret3"].set_state({"value": True})
    assert panel.slot_states["secret3"].value == "will be cleared"
    panel.save_button.click()
    # Then Secret changed, Secret2 kept, Secret3 cleared
    assert panel.message_kind == "ok", panel.message
    assert "Secret changed, Secret3 cleared" in panel.message
    assert store.secrets("svc") == (S1_NEW, S2, None, None)
    assert not any(box.value for box in panel.clear_boxes.values())
    assert_no_secret(panel)


def test_secret_cannot_be_cleared_and_unset_slots_offer_no_clear(
    panel: ProfilesPanel, store: Profiles
) -> None:
    store.set("svc", S1, None, S3)
    panel.refresh()
    type_into(panel.name, "svc")
    assert "secret1" not in panel.clear_boxes
    assert panel.clear_boxes["secret2"].disabled  # not set: nothing to clear
    assert not panel.clear_boxes["secret3"].disabled


def test_latest_entry_for_a_slot_wins(panel: ProfilesPanel, store: Profiles) -> None:
    store.set("svc", S1, S2)
    panel.refresh()
    type_into(panel.name, "svc")
    # Ticking Clear empties a typed value; typing again unticks it
    type_into(panel.secret_inputs["secret2"], "MADEUP-typed")
    panel.clear_boxes["secret2"].set_state({"value": True})
    assert panel.secret_inputs["secret2"].value == ""
    type_into(panel.secret_inputs["secret2"], S3)
    assert panel.clear_boxes["secret2"].value is False
    # A file replaces a typed value; typing replaces a loaded file
    upload(panel.uploads["secret2"], "id_madeup", SSH_KEY.encode())
    assert panel.secret_inputs["secret2"].value == ""
    type_into(panel.secret_inputs["secret2"], S3)
    panel.save_button.click()
    assert store.secrets("svc") == (S1, S3, None, None)


def test_nothing_to_change_in_an_existing_profile(panel: ProfilesPanel, store: Profiles) -> None:
    store.set("svc", S1)
    panel.refresh()
    type_into(panel.name, "svc")
    panel.save_button.click()
    assert panel.message_kind == "error"
    assert "Nothing to change in 'svc'" in panel.message


# -- uploads -------------------------------------------------------------------------------
def test_file_upload_sets_a_slot_byte_for_byte_and_leaves_no_bytes(
    panel: ProfilesPanel, store: Profiles
) -> None:
    # Given a multi-line key file (CRLF and LF, non-ASCII, trailing blank line)
    data = SSH_KEY.encode("utf-8")
    fill(panel, "ssh", secret1=S1)
    upload(panel.uploads["secret4"], "id_madeup", data)
    # Then the upload widget dropped the bytes at once, before any save
    assert panel.uploads["secret4"].value == ()
    assert data not in as_bytes(panel.uploads["secret4"].get_state())
    assert panel.slot_states["secret4"].value == "from file id_madeup"
    assert "Secret4 will be taken from id_madeup" in panel.message
    # When saved, the slot holds the file's exact bytes
    panel.save_button.click()
    assert panel.message_kind == "ok", panel.message
    (value,) = store.secrets("ssh")[3:]
    assert value is not None and value.encode("utf-8") == data
    assert_no_secret(panel)
    assert panel.slot_states["secret4"].value == "set"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "id_bad is empty"),
        (b"\xff\xfe\x00madeup", "not UTF-8 text"),
        (b"x" * (MAX_VALUE_BYTES + 1), "at most 65536 bytes"),
    ],
)
def test_unusable_file_is_refused_with_a_reason(
    panel: ProfilesPanel, store: Profiles, data: bytes, expected: str
) -> None:
    fill(panel, "ssh", secret1=S1)
    upload(panel.uploads["secret2"], "id_bad", data)
    assert panel.message_kind == "error"
    assert expected in panel.message
    assert panel.uploads["secret2"].value == ()
    panel.save_button.click()
    assert store.secrets("ssh") == (S1, None, None, None)


# -- validation and store problems -----------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "slots", "expected"),
    [
        ("bad name!", {"secret1": S1}, "Invalid profile name: use "),
        ("", {"secret1": S1}, "Invalid profile name: use "),
        ("new", {"secret2": S2}, "'new' is a new profile: Secret is required"),
        (
            "big",
            {"secret1": S1, "secret3": "x" * (MAX_VALUE_BYTES + 1)},
            "Secret3 is 65537 bytes long; the limit is 65536",  # the form's label
        ),
    ],
)
def test_invalid_input_saves_nothing_says_why_and_keeps_what_was_typed(
    panel: ProfilesPanel, store: Profiles, name: str, slots: dict[str, str], expected: str
) -> None:
    fill(panel, name, **slots)
    panel.save_button.click()
    assert panel.message_kind == "error"
    assert expected in panel.message
    assert "secret1" not in panel.message and "secret3" not in panel.message
    assert panel.message.endswith(
        "Nothing was saved; what you entered is kept: fix it and Save again."
    )
    assert store.list() == []
    assert_kept_only_where_typed(panel, slots)


def assert_kept_only_where_typed(panel: ProfilesPanel, typed: dict[str, str]) -> None:
    """Each typed value is still in its own password field, and in no other widget's
    state, the status line or the panel's attributes."""
    assert {s: panel.secret_inputs[s].value for s in typed} == typed
    for widget in widgets_of(panel):
        if widget in panel.secret_inputs.values():
            continue
        state = as_bytes(widget.get_state())
        assert [s for s, v in typed.items() if v.encode() in state] == [], type(widget).__name__
    held = repr(vars(panel)) + panel.message
    assert [s for s, v in typed.items() if v in held] == []


def test_fixing_the_name_saves_what_was_typed_without_typing_it_again(
    panel: ProfilesPanel, store: Profiles
) -> None:
    # Given a new profile typed in full, file included, under a name with a space
    fill(panel, "my service", secret1=S1, secret2=S2)
    upload(panel.uploads["secret3"], "id_madeup", S3.encode())
    panel.save_button.click()
    # Then the name is refused first, and nothing typed or loaded is lost
    assert panel.message_kind == "error" and "Invalid profile name: use " in panel.message
    assert_kept_only_where_typed(panel, {"secret1": S1, "secret2": S2})
    assert panel.slot_states["secret3"].value == "from file id_madeup"
    # When only the name is fixed and Save clicked again
    type_into(panel.name, "my-service")
    panel.save_button.click()
    # Then every value is saved, and only now are the fields emptied
    assert panel.message_kind == "ok", panel.message
    assert store.secrets("my-service") == (S1, S2, S3, None)
    assert_no_secret(panel)


@pytest.mark.parametrize("pasted", ["ghp_MADEUP pasted into Name", "sk_live_MADEUP/in/name"])
def test_a_bad_name_is_never_quoted_in_the_status_line(
    panel: ProfilesPanel, store: Profiles, pasted: str
) -> None:
    # A secret pasted into the Name field by mistake: the status line (synced to every
    # client) says what is wrong without quoting it, while typing, on Save, on Delete.
    type_into(panel.name, pasted)
    assert panel.message_kind == "error" and "Invalid profile name: use " in panel.message
    assert pasted not in panel.status.value and "MADEUP" not in panel.status.value
    type_into(panel.secret_inputs["secret1"], S1)
    panel.save_button.click()
    assert panel.message_kind == "error" and "MADEUP" not in panel.status.value
    type_into(panel.name, pasted)
    panel.delete_button.click()
    assert panel.message_kind == "error" and "MADEUP" not in panel.status.value
    assert store.list() == []


def test_typed_values_are_never_echoed_to_the_front_end(panel: ProfilesPanel) -> None:
    # ipywidgets 8 echoes a front end's update of a trait unless it is tagged so.
    for slot in SLOTS:
        for widget in (panel.secret_inputs[slot], panel.uploads[slot]):
            assert widget.trait_metadata("value", "echo_update") is False, slot
        assert panel.secret_inputs[slot].get_state()["_model_name"] == "PasswordModel"


def test_bad_name_is_flagged_while_typing_and_the_hint_goes_away(panel: ProfilesPanel) -> None:
    type_into(panel.name, "no spaces")
    assert panel.message_kind == "error" and "Invalid profile name" in panel.message
    type_into(panel.name, "no-spaces")
    assert panel.message == ""


def test_store_without_its_key_is_reported_as_a_key_problem(
    zingy_home: Path, store: Profiles
) -> None:
    store.set("svc", S1)
    (zingy_home / KEY_FILE).unlink()  # the key is lost; the store stays
    panel = ProfilesPanel(Profiles(zingy_home))
    try:
        assert [m.name for m in panel.profiles_meta] == ["svc"]  # listing needs no key
        for name in ("svc", "other"):  # an update and a new profile
            fill(panel, name, secret1=S1_NEW)
            panel.save_button.click()
            assert panel.message_kind == "error"
            assert "No master key" in panel.message and "zingy-nb key import" in panel.message
            assert_kept_only_where_typed(panel, {"secret1": S1_NEW})
    finally:
        panel.close()


def test_a_file_that_is_not_a_store_is_reported(zingy_home: Path) -> None:
    zingy_home.mkdir(parents=True)
    (zingy_home / STORE_FILE).write_bytes(b"not a database, made up " * 100)
    panel = ProfilesPanel(Profiles(zingy_home))
    try:
        assert panel.message_kind == "error"
        assert "cannot be read as a zingy-nb store" in panel.message
        fill(panel, "svc", secret1=S1)
        panel.save_button.click()  # must not raise
        assert panel.message_kind == "error"
        assert_kept_only_where_typed(panel, {"secret1": S1})
    finally:
        panel.close()


# -- deleting ------------------------------------------------------------------------------
def test_delete_asks_for_confirmation(panel: ProfilesPanel, store: Profiles) -> None:
    store.set("a", S1)
    store.set("b", S1)
    panel.refresh()
    type_into(panel.name, "a")
    # The first click only asks
    panel.delete_button.click()
    assert panel.confirming
    assert panel.message_kind == "warn" and "Delete profile 'a'" in panel.message
    assert panel.delete_button.layout.display == "none"
    assert panel.confirm_button.layout.display != "none"
    assert store.exists("a")
    # Cancel keeps the profile
    panel.cancel_button.click()
    assert not panel.confirming and store.exists("a")
    assert panel.confirm_button.layout.display == "none"
    assert "cancelled" in panel.message
    # Confirm deletes it
    panel.delete_button.click()
    panel.confirm_button.click()
    assert panel.message == "Deleted profile 'a'."
    assert not store.exists("a") and store.exists("b")
    assert [name for _, name in panel.profile_list.options] == ["b"]
    assert panel.name.value == ""


def test_changing_the_name_abandons_a_pending_delete(panel: ProfilesPanel, store: Profiles) -> None:
    store.set("a", S1)
    store.set("b", S1)
    panel.refresh()
    type_into(panel.name, "a")
    panel.delete_button.click()
    type_into(panel.name, "b")
    assert not panel.confirming
    assert store.exists("a") and store.exists("b")


def test_delete_needs_an_existing_profile(panel: ProfilesPanel) -> None:
    panel.delete_button.click()
    assert "Select a profile" in panel.message
    panel.confirm_button.click()  # hidden, but a late click must not delete anything
    assert panel.message == "Nothing to delete: click Delete first."
    type_into(panel.name, "ghost")
    panel.delete_button.click()
    assert panel.message_kind == "error" and "No profile with that name" in panel.message
    assert "ghost" not in panel.message
    assert not panel.confirming


def test_clear_empties_the_form(panel: ProfilesPanel, store: Profiles) -> None:
    fill(panel, "svc", secret1=S1, secret2=S2)
    upload(panel.uploads["secret3"], "f", b"MADEUP-file")
    panel.clear_button.click()
    assert panel.name.value == "" and panel.message == "Form cleared."
    assert_no_secret(panel, S1, S2, "MADEUP-file")
    panel.save_button.click()
    assert store.list() == []


# -- the list and outside changes ------------------------------------------------------------
def test_list_shows_metadata_never_values(panel: ProfilesPanel, store: Profiles) -> None:
    store.set("one", S1, S2)
    store.set("two", S1_NEW, None, None, SSH_KEY)
    store.set("zz-short", S1, "ab12")
    panel.refresh_button.click()
    labels = [label for label, _ in panel.profile_list.options]
    assert labels[0].startswith("one  ·  Secret, Secret2  ·  updated ")
    assert labels[1].startswith("two  ·  Secret, Secret4  ·  updated ")
    assert "not redacted" not in labels[0] + labels[1]
    # a slot too short for output redaction is named, wherever the profile came from
    assert labels[2].startswith("zz-short  ·  Secret, Secret2  ·  updated ")
    assert labels[2].endswith("  ·  not redacted: Secret2")
    assert "3 profiles" in panel.summary.value
    assert "refreshed (3)" in panel.message
    for secret in ALL_SECRETS:
        assert secret not in list_text(panel)


def test_refresh_button_sees_another_connections_write(
    panel: ProfilesPanel, store: Profiles
) -> None:
    store.set("elsewhere", S1)
    assert panel.profile_list.options == ()  # not watching: nothing moves by itself
    panel.refresh_button.click()
    assert [name for _, name in panel.profile_list.options] == ["elsewhere"]


def test_watcher_starts_on_display_and_stops_on_close(zingy_home: Path) -> None:
    panel = ProfilesPanel(interval=0.05)
    assert not panel.watching  # creating a panel starts nothing
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert panel.watching
    thread = panel._watcher.thread
    panel.close()
    assert not panel.watching and thread is not None and not thread.is_alive()


def test_watcher_picks_up_the_cli_and_this_process(panel: ProfilesPanel, zingy_home: Path) -> None:
    panel.start_watching()
    # Another process: the CLI
    result = subprocess.run(
        [CLI, "profiles", "set", "from-cli", "--stdin"],
        input=f"{S1}\n", capture_output=True, text=True, timeout=60,
        env={**os.environ, "ZINGY_NB_HOME": str(zingy_home)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    wait_for(lambda: "from-cli" in [m.name for m in panel.profiles_meta])
    # This process, through the shared instance the magic uses
    type_into(panel.name, "from-magic")
    assert panel.slot_states["secret1"].value == "required"
    get_profiles().set("from-magic", S1, S2)
    wait_for(lambda: "from-magic" in [m.name for m in panel.profiles_meta])
    # The form's slot display follows the new profile; the selection follows the name
    assert panel.profile_list.value == "from-magic"
    assert panel.slot_states["secret2"].value == "set"
    # A delete elsewhere turns the form back into a new profile's
    get_profiles().delete("from-magic")
    wait_for(lambda: panel.slot_states["secret1"].value == "required")
    assert panel.profile_list.value is None
    for secret in (S1, S2):
        assert secret not in list_text(panel)


# -- notebook access (read-only) ------------------------------------------------------------
def test_allowed_notebooks_of_the_selected_profile_are_shown_and_followed(
    panel: ProfilesPanel, store: Profiles, tmp_path: Path
) -> None:
    # Given a profile with one notebook allowed (from outside any notebook, as the CLI does)
    store.set("stripe", S1)
    store.set("other", S2)
    first, second = str(tmp_path / "first.ipynb"), str(tmp_path / "second.ipynb")
    kept, _ = access.allow(store, "stripe", first, "cli")
    panel.refresh_button.click()
    # When the profile is selected, then its allowed notebook is named
    type_into(panel.name, "stripe")
    assert os.path.basename(first) in panel.allowed.value
    assert "second.ipynb" not in panel.allowed.value
    # And another profile's list is its own
    type_into(panel.name, "other")
    assert "No notebook is allowed to read 'other' yet" in panel.allowed.value
    # And no name, or one that is not a profile, shows nothing
    for name in ("", "no-such-profile"):
        type_into(panel.name, name)
        assert panel.allowed.value == ""
    # When allowances change elsewhere, the watcher follows them (the list stays the same)
    type_into(panel.name, "stripe")
    panel.start_watching()
    access.allow(store, "stripe", second, "cli")
    wait_for(lambda: "second.ipynb" in panel.allowed.value)
    access.disallow(store, "stripe", kept)
    access.disallow(store, "stripe", second)
    wait_for(lambda: "No notebook is allowed to read 'stripe' yet" in panel.allowed.value)
    # And the panel offers nothing to allow with: the line is text, no button added
    assert isinstance(panel.allowed, w.HTML)
    assert_no_secret(panel, S1, S2)


def test_allowed_notebooks_are_named_with_little_local_detail() -> None:
    home, cwd = "/home/ann", "/home/ann/work"
    here = "/home/ann/work/this.ipynb"
    assert shown_path(here, here, cwd, home) == "this notebook"
    assert shown_path("/home/ann/work/sub/a.ipynb", here, cwd, home) == "sub/a.ipynb"
    assert shown_path("/home/ann/other/b.ipynb", here, cwd, home) == "~/other/b.ipynb"
    assert shown_path("/home/annex/c.ipynb", here, cwd, home) == "/home/annex/c.ipynb"
    assert shown_path("/srv/d.ipynb", None, cwd, home) == "/srv/d.ipynb"


# -- entry points ---------------------------------------------------------------------------
def test_show_panel_and_module_call_make_panels(zingy_home: Path) -> None:
    for made in (show_panel(), zingy_nb.panel()):  # type: ignore[operator]
        assert isinstance(made, ProfilesPanel)
        assert repr(made) == "ProfilesPanel(Zingy API Key profiles)"
        bundle = made._repr_mimebundle_()
        assert str(zingy_home) not in repr(bundle)  # a saved notebook keeps no local path
        made.stop_watching()
        assert {pw.description for pw in made.secret_inputs.values()} == set(LABELS.values())
        made.close()


def test_loading_the_extension_does_not_import_ipywidgets() -> None:
    code = (
        "import sys, zingy_nb, zingy_nb.kernel.magic, zingy_nb.kernel.extension\n"
        "assert 'ipywidgets' not in sys.modules, 'ipywidgets imported'\n"
        "assert 'zingy_nb.kernel.panel' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
