"""One secret slot of the panel's form: a password field, a file upload, a state label
and (except for Secret) a Clear box, with the rule that the latest entry wins."""

from __future__ import annotations

from typing import Any

import ipywidgets as w
from traitlets import Unicode

from ..errors import InvalidProfileError
from ..rules import LABELS, MAX_VALUE_BYTES

DESCRIPTION = {"description_width": "90px"}
LOAD_FILE = "Load file"
#: ipywidgets' upload button always shows its file count ("Load file (0)"), though the
#: panel empties it as soon as a file is read: the panel's CSS shows the label alone.
LOAD_CLASS = "zingy-nb-load"
LOAD_STYLE = (
    f"<style>.zingy-nb-panel .{LOAD_CLASS}{{font-size:0}}"
    f".zingy-nb-panel .{LOAD_CLASS}::after{{content:'{LOAD_FILE}';"
    "font-size:var(--jp-widgets-font-size,13px)}</style>"
)


def fixed(width: str) -> w.Layout:
    return w.Layout(width=width, flex="0 0 auto")


def file_text(name: str, data: bytes, label: str) -> str:
    """An uploaded file's text as a slot value, or an error naming what to do."""
    if not data:
        raise InvalidProfileError(f"{name} is empty: {label} was not loaded.")
    if len(data) > MAX_VALUE_BYTES:
        raise InvalidProfileError(
            f"{name} is {len(data)} bytes; a slot holds at most "
            f"{MAX_VALUE_BYTES} bytes (64 KiB). {label} was not loaded."
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidProfileError(
            f"{name} is not UTF-8 text, so {label} was not loaded. "
            "Encode binary keys as text (e.g. base64 or PEM) first."
        ) from None


class SecretInput(w.Password):
    """A password field whose typed value never leaves the kernel again.

    ipywidgets 8 answers every update from a browser with an ``echo_update`` message on
    IOPub carrying the new value, to every client of the kernel (a second tab, a
    console, Voila), unless the trait is tagged ``echo_update=False``; ``Password``'s
    value is not (``FileUpload``'s is). The front end is the stock ``PasswordModel``.
    """

    value = Unicode(help="The typed value (kept in the kernel, never echoed)").tag(
        sync=True, echo_update=False
    )


class SlotField(w.HBox):
    """The widgets of one slot. A typed value, a loaded file and a ticked Clear box
    exclude each other: whichever was given last wins. A file's bytes leave the upload
    widget as soon as they are read; its text is kept here until ``forget()``.
    """

    def __init__(self, slot: str) -> None:
        self.slot, self.label = slot, LABELS[slot]
        self.password = SecretInput(
            description=self.label, style=DESCRIPTION, layout=fixed("360px")
        )
        self.upload = w.FileUpload(
            description=LOAD_FILE, multiple=False, icon="",
            tooltip=f"Load {self.label} from a file, kept exactly (e.g. an SSH key)",
            layout=fixed("130px"),
        )  # fmt: skip
        self.upload.add_class(LOAD_CLASS)
        self.state = w.Label(layout=fixed("110px"))
        self.clear_box: w.Checkbox | None = None
        self.file_text: str | None = None
        self.file_name: str | None = None
        children: list[w.Widget] = [self.password, self.upload, self.state]
        if slot != "secret1":  # every profile keeps its main secret
            self.clear_box = w.Checkbox(
                description=f"Clear {self.label}", indent=False, layout=fixed("140px")
            )
            children.append(self.clear_box)
        super().__init__(children)

    @property
    def clearing(self) -> bool:
        return self.clear_box is not None and bool(self.clear_box.value)

    def value(self) -> str | None:
        """What Save writes for this slot: the typed value, else the file's text."""
        return self.password.value or self.file_text

    def typed(self) -> None:
        self.drop_file()
        self.untick()

    def ticked(self) -> None:
        self.password.value = ""
        self.drop_file()

    def take_upload(self, entry: dict[str, Any]) -> str:
        """Read an upload's one file; returns its name. The upload widget is emptied."""
        self.upload.value = ()
        name = str(entry.get("name", "file"))
        text = file_text(name, bytes(entry["content"]), self.label)
        self.password.value = ""
        self.untick()
        self.file_text, self.file_name = text, name
        return name

    def drop_file(self) -> None:
        self.file_text = self.file_name = None

    def untick(self) -> None:
        if self.clear_box is not None:
            self.clear_box.value = False

    def forget(self) -> None:
        """Drop every value given, in the kernel and (through the sync) in the browser."""
        self.password.value = ""
        self.upload.value = ()
        self.drop_file()

    def render(self, is_set: bool | None) -> None:
        """Show the hint and state for a profile where the slot is set, unset, or new (None)."""
        if is_set is None:
            hint = "required" if self.slot == "secret1" else "optional"
        else:
            hint = "set; empty keeps it" if is_set else "not set; optional"
        state = hint.split(";")[0]
        if self.file_name is not None:
            state = f"from file {self.file_name}"
        elif self.clearing:
            state = "will be cleared"
        self.password.placeholder = hint
        self.state.value = state
        if self.clear_box is not None:
            self.clear_box.disabled = not is_set
