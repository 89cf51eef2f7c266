"""``zingy_nb.panel()`` / ``%zingy_apikey panel``: manage profiles from an ipywidgets panel.

A thin shell over the profiles API, like the magic and the CLI. It never loads a stored
value into a widget, and a value it is given (typed into a password field or read from a
``FileUpload``) lives in widget state only until it is saved: a successful Save sets the
password fields to ``""``, and a file's bytes are dropped from the upload widget as soon
as they are read (its text stays in the kernel only), so a notebook saved afterwards
holds no secret. A Save that fails (the name is checked first) keeps what was typed, to
be fixed and saved again: the password fields then hold only what the browser sent them.
Neither is ever sent back out (no ``echo_update``, see ``slot_field.SecretInput``), and
no status text quotes what was typed, so other clients of the kernel never see it.
Entering profiles is editor work, allowed in every kernel: there is no flow check.

ipywidgets is imported here only, so loading the extension stays cheap.
"""

from __future__ import annotations

import html
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

import ipywidgets as w
from traitlets import Bool, Instance, List, Unicode, observe

from .. import redact
from ..errors import InvalidProfileError, ProfileNotFoundError, ZingyError
from ..profiles import Profiles, get_profiles
from ..rules import NAME_RULE, SLOTS, ProfileMeta, utc_minutes, validate_name, validate_value
from ..store.sqlite import SQLiteStore
from .change_watch import ChangeWatcher
from .panel_access import AllowedNotebooks
from .slot_field import DESCRIPTION, LABELS, LOAD_STYLE, SlotField, fixed

__all__ = ["LABELS", "ProfilesPanel", "show_panel"]

_COLORS = {
    "ok": "var(--jp-success-color1, #2e7d32)",
    "error": "var(--jp-error-color1, #c62828)",
    "warn": "var(--jp-warn-color1, #ef6c00)",
    "info": "var(--jp-ui-font-color1, inherit)",
}


def _checked_name(text: str) -> str:
    """The Name field's text as a valid name; the error never quotes it (a secret pasted
    into the wrong field must not reach the synced status line)."""
    try:
        return validate_name(text)
    except InvalidProfileError:
        raise InvalidProfileError(f"Invalid profile name: use {NAME_RULE}.") from None


def _checked_values(values: dict[str, str]) -> None:
    """Each value as ``Profiles`` will check it, named by the label the form shows."""
    for slot, value in values.items():
        validate_value(LABELS[slot], value)


def _wording(exc: ZingyError) -> str:
    if isinstance(exc, ProfileNotFoundError):
        return "No profile with that name; the list above shows them."
    return str(exc)


def _slots(meta: ProfileMeta) -> str:
    names = [LABELS[s] for s, on in zip(SLOTS, meta.slots_set) if on]
    return ", ".join(names)


def _label(meta: ProfileMeta) -> str:
    text = f"{meta.name}  ·  {_slots(meta)}  ·  updated {utc_minutes(meta.updated)}"
    short = [LABELS[s] for s in meta.unredacted_slots]
    return f"{text}  ·  not redacted: {', '.join(short)}" if short else text


class ProfilesPanel(w.VBox):
    """Profile list, entry form and status line in one box.

    State lives in traits (``profiles_meta``, ``confirming``, ``message``) and in the
    child widgets; ``@observe`` handlers re-render from them, so the panel can be
    driven and checked without a kernel through its widgets and ``get_state()``.

    Changes made elsewhere (the magic, the CLI, other kernels) are picked up by a
    daemon thread that polls a change token about once a second. It starts only when
    the panel is first displayed and stops on ``close()``. It watches through a
    ``Profiles`` of its own: SQLite's ``data_version`` moves only for commits made on
    *other* connections, so watching the shared ``get_profiles()`` connection would
    miss the magic's writes in this very kernel. ipywidgets 8 sends trait changes made
    on another thread fine; one lock serialises the watcher with the button handlers.
    """

    profiles_meta: List[ProfileMeta] = List(
        Instance(ProfileMeta), help="Every profile's metadata, as last read."
    )
    confirming = Bool(False, help="Delete was clicked and awaits Confirm / Cancel.")
    message = Unicode("", help="The status line's text (never a secret).")
    message_kind = Unicode("info", help="ok, error, warn or info.")

    def __init__(self, profiles: Profiles | None = None, *, interval: float = 1.0) -> None:
        self.profiles = profiles if profiles is not None else get_profiles()
        # Its own connection to the same store (see above); other backends are shared.
        shared = not isinstance(self.profiles.store, SQLiteStore)
        self._reader = self.profiles if shared else Profiles(self.profiles.home)
        self._lock = threading.RLock()
        self._watcher = ChangeWatcher(
            self._reader.store.change_token,
            lambda: self._guard(self.refresh),
            interval=interval,
            name="zingy-nb-panel-watch",
        )
        self._syncing = False
        self._to_delete = ""
        self._bad_name = ""

        self.title = w.HTML(
            "<b>Zingy API Key profiles</b> <span style='opacity:.7'>values are never "
            f"shown; leave a secret empty to keep it</span>{LOAD_STYLE}"
        )
        self.summary = w.HTML()
        self.allowed = AllowedNotebooks()  # read-only: allowing happens outside the kernel
        self.profile_list = w.Select(
            description="Profiles",
            options=[],
            rows=5,
            style=DESCRIPTION,
            layout=w.Layout(width="640px"),
        )
        self.refresh_button = self._button(
            "Refresh", lambda: self.refresh(announce=True),
            tooltip="Read the profile list again",
        )  # fmt: skip
        self.name = w.Text(
            description="Name", placeholder="profile name, e.g. stripe", style=DESCRIPTION,
            layout=fixed("360px"),
        )  # fmt: skip
        self.fields = {slot: SlotField(slot) for slot in SLOTS}
        self.secret_inputs = {s: f.password for s, f in self.fields.items()}
        self.uploads = {s: f.upload for s, f in self.fields.items()}
        self.slot_states = {s: f.state for s, f in self.fields.items()}
        self.clear_boxes = {s: f.clear_box for s, f in self.fields.items() if f.clear_box}
        for slot, field in self.fields.items():
            field.password.observe(self._on(self._typed, slot), "value")
            field.upload.observe(self._on(self._uploaded, slot), "value")
            if field.clear_box is not None:
                field.clear_box.observe(self._on(self._ticked, slot), "value")
        self.save_button = self._button("Save", self.save, button_style="primary")
        self.delete_button = self._button("Delete", self.ask_delete)
        self.confirm_button = self._button(
            "Confirm delete", self.confirm_delete, button_style="danger"
        )
        self.cancel_button = self._button("Cancel", self.cancel_delete)
        self.clear_button = self._button("Clear", self.clear_form, tooltip="Empty the form")
        self.status = w.HTML()
        self.profile_list.observe(self._on(self._selected), "value")
        self.name.observe(self._on(self._named), "value")
        actions = [self.save_button, self.delete_button, self.confirm_button,
                   self.cancel_button, self.clear_button]  # fmt: skip
        super().__init__(
            [self.title, w.HBox([self.profile_list, self.refresh_button]), self.summary,
             self.allowed, self.name, *self.fields.values(), w.HBox(actions), self.status],
            layout=w.Layout(padding="6px", border="1px solid var(--jp-border-color2, #ccc)"),
        )  # fmt: skip
        self.add_class("zingy-nb-panel")
        self._render_buttons()
        self._guard(self.refresh)
        self._render_slots()

    def __repr__(self) -> str:
        # Also the text/plain a saved notebook keeps: no local path, nothing that varies.
        return "ProfilesPanel(Zingy API Key profiles)"

    # -- rendering (traits -> widgets) ------------------------------------------------
    @observe("profiles_meta")
    def _render_list(self, _: Any = None) -> None:
        metas: list[ProfileMeta] = self.profiles_meta
        self._syncing = True
        try:
            self.profile_list.options = [(_label(m), m.name) for m in metas]
            current = self.name.value.strip()
            self.profile_list.value = current if current in self._names() else None
        finally:
            self._syncing = False
        self.summary.value = (
            f"<span style='opacity:.7'>{len(metas)} profile{'s' * (len(metas) != 1)}"
            "; select one to update or delete it</span>"
            if metas
            else "<span style='opacity:.7'>No profiles yet: fill in the form and Save.</span>"
        )
        self._render_slots()

    @observe("confirming")
    def _render_buttons(self, _: Any = None) -> None:
        asking = "inline-flex" if self.confirming else "none"
        self.confirm_button.layout.display = self.cancel_button.layout.display = asking
        self.delete_button.layout.display = "none" if self.confirming else "inline-flex"

    @observe("message", "message_kind")
    def _render_status(self, _: Any = None) -> None:
        mark = {"ok": "✓ ", "error": "✗ ", "warn": "⚠ "}.get(self.message_kind, "")
        self.status.value = (
            f"<span style='color:{_COLORS.get(self.message_kind, 'inherit')}'>"
            f"{mark}{html.escape(self.message)}</span>"
            if self.message
            else ""
        )

    def _render_slots(self) -> None:
        meta = self._meta(self.name.value.strip())
        for i, field in enumerate(self.fields.values()):
            field.render(None if meta is None else meta.slots_set[i])

    def _render_allowed(self) -> None:
        name = self.name.value.strip()
        self.allowed.show(self._reader, name if self._meta(name) else None)

    def _say(self, kind: str, text: str) -> None:
        with self.hold_trait_notifications():
            self.message_kind, self.message = kind, text

    # -- events from the widgets ------------------------------------------------------
    def _guard(self, action: Callable[..., None], **kw: Any) -> None:
        """Run a handler; every failure becomes a status message, never a traceback.

        Only ``ZingyError`` text is shown (it never holds a secret); anything else is
        named by type alone, since its text could quote a value.
        """
        with self._lock:
            try:
                action(**kw)
            except ZingyError as exc:
                self._say("error", _wording(exc))
            except Exception as exc:
                self._say(
                    "error",
                    f"Unexpected {type(exc).__name__}; nothing was changed. "
                    "Try again, or use %zingy_apikey or the zingy-nb CLI.",
                )

    def _button(self, text: str, action: Callable[[], None], **kw: Any) -> w.Button:
        button = w.Button(description=text, **kw)
        button.on_click(lambda _: self._guard(action))
        return button

    def _on(self, handler: Callable[..., None], *args: Any) -> Callable[[Any], None]:
        """A trait observer that runs ``handler(*args, change)`` through ``_guard``."""
        return lambda change: self._guard(lambda: handler(*args, change))

    def _selected(self, change: Any) -> None:
        if not self._syncing and change.new is not None:
            self.name.value = change.new

    def _named(self, change: Any) -> None:
        name = change.new.strip()
        if self.confirming and name != self._to_delete:
            self.confirming = False
        self._syncing = True
        try:
            self.profile_list.value = name if name in self._names() else None
        finally:
            self._syncing = False
        for box in self.clear_boxes.values():
            box.value = False
        self._render_slots()
        self._render_allowed()
        bad_name = ""
        if name:
            try:
                _checked_name(name)
            except ZingyError as exc:
                bad_name = str(exc)
        if bad_name:
            self._say("error", bad_name)
        elif self.message == self._bad_name:
            self._say("info", "")
        self._bad_name = bad_name

    def _typed(self, slot: str, change: Any) -> None:
        if change.new:  # the latest entry for a slot wins
            self.fields[slot].typed()
            self._render_slots()

    def _ticked(self, slot: str, change: Any) -> None:
        if change.new:
            self.fields[slot].ticked()
        self._render_slots()

    def _uploaded(self, slot: str, change: Any) -> None:
        if change.new:
            try:
                name = self.fields[slot].take_upload(change.new[0])
            finally:
                self._render_slots()
            self._say("info", f"{LABELS[slot]} will be taken from {name} when you click Save.")

    # -- actions (also callable from code and tests) ------------------------------------
    def refresh(self, *, announce: bool = False) -> None:
        """Read the profile list again (metadata only: no key is needed)."""
        with self._lock:
            self.profiles_meta = self._reader.list()
            self._render_allowed()  # allowances change the store's token, not the list
            if announce:
                self._say("info", f"Profile list refreshed ({len(self.profiles_meta)}).")

    def save(self) -> None:
        """Create or update the named profile, then forget every value given.

        An existing profile gets ``Profiles.update`` with only the slots given (an empty
        field keeps its slot; a ticked Clear box clears it); a new one needs Secret.
        The name is checked before anything else. Only a successful save empties the
        fields; after an error what was typed or loaded is kept, to fix and save again.
        """
        with self._lock:
            values = {s: v for s, f in self.fields.items() if (v := f.value())}
            clears = [s for s, f in self.fields.items() if f.clearing and s not in values]
            try:
                name = _checked_name(self.name.value.strip())
                _checked_values(values)
                text = self._write(name, values, clears)
            except ZingyError as exc:
                kept = "; what you entered is kept: fix it and Save again" if values else ""
                return self._say("error", f"{_wording(exc)} Nothing was saved{kept}.")
            self._forget_values()
            for box in self.clear_boxes.values():
                box.value = False  # Profiles registered the values it wrote for redaction
            note = redact.short_note(LABELS[s] for s, v in values.items() if redact.too_short(v))
            if note:
                text += f" Note: {note}"
            self.refresh()
            self._say("ok", text + " The secret fields were cleared.")

    def _write(self, name: str, values: dict[str, str], clears: list[str]) -> str:
        if self.profiles.exists(name):
            changes: dict[str, str | None] = {**values, **dict.fromkeys(clears)}
            if not changes:
                raise InvalidProfileError(
                    f"Nothing to change in {name!r}: type a new value, load a file, or "
                    "tick a Clear box."
                )
            meta = self.profiles.update(name, changes)
            done = ", ".join(
                f"{LABELS[s]} {'changed' if v else 'cleared'}" for s, v in changes.items()
            )
            return f"Updated profile {name!r} ({done}); set now: {_slots(meta)}."
        if "secret1" not in values:
            raise InvalidProfileError(
                f"{name!r} is a new profile: Secret is required (type it or load it from a file)."
            )
        meta = self.profiles.set(name, *(values.get(s) for s in SLOTS))
        return f"Saved new profile {name!r} ({_slots(meta)} set)."

    def ask_delete(self) -> None:
        """First click on Delete: ask for confirmation instead of deleting."""
        name = self.name.value.strip()
        if not name:
            return self._say("error", "Select a profile in the list (or type its name) first.")
        self.profiles.show(_checked_name(name))  # not found -> how to list them
        self._to_delete, self.confirming = name, True
        self._say(
            "warn",
            f"Delete profile {name!r} and all its secrets? This cannot be "
            "undone: click Confirm delete, or Cancel.",
        )

    def confirm_delete(self) -> None:
        name, self._to_delete, self.confirming = self._to_delete, "", False
        if not name:
            return self._say("error", "Nothing to delete: click Delete first.")
        self.profiles.delete(name)
        self._clear_fields()
        self.refresh()
        self._say("ok", f"Deleted profile {name!r}.")

    def cancel_delete(self) -> None:
        self._to_delete, self.confirming = "", False
        self._say("info", "Delete cancelled; nothing was changed.")

    def clear_form(self) -> None:
        """Empty the form (name, values, files, Clear boxes); the store is untouched."""
        self._clear_fields()
        self._say("info", "Form cleared.")

    def _clear_fields(self) -> None:
        self._forget_values()
        self.name.value = ""
        for box in self.clear_boxes.values():
            box.value = False
        self.confirming = False

    def _forget_values(self) -> None:
        for field in self.fields.values():
            field.forget()
        self._render_slots()

    def _names(self) -> list[str]:
        return [m.name for m in self.profiles_meta]

    def _meta(self, name: str) -> ProfileMeta | None:
        return next((m for m in self.profiles_meta if m.name == name), None)

    # -- watching for outside changes ---------------------------------------------------
    def start_watching(self) -> None:
        """Start the change watcher (idempotent). Displaying the panel calls this."""
        self._watcher.start()

    def stop_watching(self) -> None:
        self._watcher.stop()

    @property
    def watching(self) -> bool:
        return self._watcher.alive

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        self.start_watching()
        return super()._repr_mimebundle_(**kwargs)

    def close(self) -> None:
        """Stop the watcher and close every widget of the panel."""
        self.stop_watching()
        for child in _descendants(self):
            child.close()
        super().close()
        if self._reader is not self.profiles:
            self._reader.store.close()


def _descendants(box: w.Box) -> list[w.Widget]:
    found: list[w.Widget] = []
    for child in box.children:
        if isinstance(child, w.Box):
            found.extend(_descendants(child))
        found.append(child)
    return found


def show_panel(profiles: Profiles | None = None) -> ProfilesPanel:
    """A new panel; Jupyter shows it when it is a cell's last expression (else ``display`` it)."""
    return ProfilesPanel(profiles)


class _CallableModule(types.ModuleType):
    """Lets ``zingy_nb.panel`` (this module, as ``zingy_nb`` hands it out) be called."""

    def __call__(self, profiles: Profiles | None = None) -> ProfilesPanel:
        return show_panel(profiles)


sys.modules[__name__].__class__ = _CallableModule
