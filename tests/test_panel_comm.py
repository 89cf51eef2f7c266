"""The panel driven the way a browser drives it: comm messages to a real kernel.

ipywidgets 8 answers each update from a front end with an ``echo_update`` message on
IOPub, which every client of the kernel receives (a second tab, ``jupyter console
--existing``, Voila). A typed secret must never come back out that way, nor in any
other message: every IOPub message is read, before and after Save, and searched for
the typed value and for every 16-character run of it. The secret is new to the kernel
(nothing has registered it with the redactor before Save), so only the panel itself
can keep it in.
"""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kernels import TIMEOUT, Kernel, kernel_env, running_kernel
from tests.leaks.scanner import message_texts, scan_messages
from zingy_nb.profiles import Profiles

# Made-up values only, unique per run.
TYPED = f"sk_live_MADEUP_typed_in_browser_{uuid.uuid4().hex}"
FILE_TEXT = (
    f"-----BEGIN MADE-UP KEY-----\nghp_MADEUP_{uuid.uuid4().hex}\n-----END MADE-UP KEY-----\n"
)
NAME = "comm-profile"


def leaks(messages: list[dict[str, Any]], *secrets: str) -> list[str]:
    """What the leak table's scanner finds of the secrets in these IOPub messages."""
    values = {f"value {i}": secret for i, secret in enumerate(secrets)}
    return [str(leak) for leak in scan_messages([("iopub", m) for m in messages], values)]


class Browser:
    """Sends what a front end sends for a widget, and reads IOPub like every client."""

    def __init__(self, kernel: Kernel) -> None:
        self.kc = kernel.kc
        self.seen: list[dict[str, Any]] = []

    def send(self, comm_id: str, data: dict[str, Any], buffers: list[bytes] = ()) -> None:
        """One comm_msg; returns once the kernel is idle again after handling it."""
        msg = self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        msg["buffers"] = list(buffers)
        self.kc.shell_channel.send(msg)
        self.read_until_idle(msg["header"]["msg_id"])

    def update(self, comm_id: str, state: dict[str, Any], **kw: Any) -> None:
        self.send(comm_id, {"method": "update", "state": state, "buffer_paths": []}, **kw)

    def click(self, comm_id: str) -> None:
        self.send(comm_id, {"method": "custom", "content": {"event": "click"}})

    def read_until_idle(self, msg_id: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            msg = self.kc.get_iopub_msg(timeout=TIMEOUT)
            self.seen.append(msg)
            if (
                msg["msg_type"] == "status"
                and msg["parent_header"].get("msg_id") == msg_id
                and msg["content"]["execution_state"] == "idle"
            ):
                return
        raise AssertionError("the kernel did not finish handling a comm message")

    def drain(self, seconds: float) -> None:
        """Everything IOPub carries for a while (the panel's watcher sends on its own)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.seen.append(self.kc.get_iopub_msg(timeout=left))
            except queue.Empty:
                return


def models(messages: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(comm id, initial state) of every widget model the kernel opened."""
    return [
        (m["content"]["comm_id"], m["content"]["data"]["state"])
        for m in messages
        if m["msg_type"] == "comm_open" and m["content"].get("target_name") == "jupyter.widget"
    ]


def comm_of(opened: list[tuple[str, dict[str, Any]]], model: str, **match: str) -> str:
    """The one model of this kind whose state has the given values."""
    (comm_id,) = [
        cid
        for cid, state in opened
        if state.get("_model_name") == model and all(state.get(k) == v for k, v in match.items())
    ]
    return comm_id


@pytest.fixture
def kernel(zingy_home: Path, tmp_path: Path) -> Iterator[Kernel]:
    # Entering profiles is editor work, allowed in page-flow kernels too.
    env = kernel_env(flow="page-flow", home=zingy_home, IPYTHONDIR=str(tmp_path / "ipython"))
    with running_kernel(env) as started:
        started.ok("%load_ext zingy_nb")
        yield started


def test_typed_and_uploaded_secrets_never_come_back_out_on_iopub(
    kernel: Kernel, zingy_home: Path
) -> None:
    # Given a panel displayed in a real kernel, its models opened on IOPub
    shown = kernel.ok("%zingy_apikey panel")
    assert any(m["msg_type"] == "execute_result" for m in shown.messages), shown.describe()
    opened = models(shown.messages)
    assert len(opened) > 40, "the panel's widget models were not opened on IOPub"
    secret1 = comm_of(opened, "PasswordModel", description="Secret")
    upload2 = comm_of(
        opened,
        "FileUploadModel",
        tooltip="Load Secret2 from a file, kept exactly (e.g. an SSH key)",
    )
    name = comm_of(opened, "TextModel", description="Name")
    save = comm_of(opened, "ButtonModel", description="Save")
    browser = Browser(kernel)

    # When a person types the secret (keystroke by keystroke), loads a file and a name
    for end in (20, 30, len(TYPED)):
        browser.update(secret1, {"value": TYPED[:end]})
    data = FILE_TEXT.encode("utf-8")
    entry = {"name": "id_madeup", "type": "text/plain", "size": len(data),
             "last_modified": 1_700_000_000_000}  # fmt: skip
    browser.send(
        upload2,
        {"method": "update", "state": {"value": [entry]},
         "buffer_paths": [["value", 0, "content"]]},
        buffers=[data],
    )  # fmt: skip
    browser.update(name, {"value": NAME})
    before_save = list(browser.seen)

    # Then nothing the kernel sent so far holds either value, though echoes do flow
    echoes = [m for m in before_save if m["content"].get("data", {}).get("method") == "echo_update"]
    assert any(NAME in "".join(message_texts(m)) for m in echoes), (
        "no echo seen: the check would be empty"
    )
    assert leaks(before_save, TYPED, FILE_TEXT) == []

    # When Save is clicked, and the panel's watcher has had time to send its refresh
    browser.click(save)
    browser.drain(2.5)
    after_save = browser.seen[len(before_save) :]

    # Then the save happened, and nothing sent after it holds either value
    assert any("Saved new profile" in "".join(message_texts(m)) for m in after_save), (
        "no save reported"
    )
    assert leaks(after_save, TYPED, FILE_TEXT) == []
    profiles = Profiles(zingy_home)
    try:
        assert profiles.show(NAME).slots_set == (True, True, False, False)
        assert profiles.secrets(NAME) == (TYPED, FILE_TEXT, None, None)
    finally:
        profiles.store.close()
