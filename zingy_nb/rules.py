"""What a profile is: its name rule, its four secret slots and its metadata.

Nothing here touches storage or keys, so every entry point validates the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final

from .errors import InvalidProfileError

SLOTS: Final = ("secret1", "secret2", "secret3", "secret4")
#: How people see the slots (as in Zingy's profile settings).
LABELS: Final = {
    "secret1": "Secret",
    "secret2": "Secret2",
    "secret3": "Secret3",
    "secret4": "Secret4",
}
REQUIRED_SLOT: Final = "secret1"
MAX_NAME_LENGTH: Final = 128
MAX_VALUE_BYTES: Final = 64 * 1024
NAME_RULE: Final = (
    "1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit"
)
_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)

#: A slot value as stored: set (a non-empty string) or unset (``None``).
Secret = str | None
#: The four slot values, in slot order.
Secrets = tuple[Secret, Secret, Secret, Secret]
#: One flag per slot, in slot order.
SlotFlags = tuple[bool, bool, bool, bool]
NO_SLOTS: Final[SlotFlags] = (False, False, False, False)


def validate_name(name: object) -> str:
    """Return ``name`` if it follows the name rule, else raise ``InvalidProfileError``."""
    if not isinstance(name, str):
        raise InvalidProfileError(
            f"A profile name must be text, not {type(name).__name__}. Use {NAME_RULE}."
        )
    if not _NAME_RE.fullmatch(name):
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise InvalidProfileError(f"Invalid profile name {shown!r}: use {NAME_RULE}.")
    return name


def validate_slot(slot: object) -> str:
    """Return ``slot`` if it names one of the four slots."""
    if slot not in SLOTS:
        raise InvalidProfileError(f"Unknown slot {slot!r}: the slots are {', '.join(SLOTS)}.")
    return slot  # type: ignore[return-value]


def validate_value(slot: str, value: object) -> str:
    """Return a settable slot value or raise; the message never echoes the value."""
    if not isinstance(value, str):
        raise InvalidProfileError(f"{slot} must be text, not {type(value).__name__}.")
    if value == "":
        raise InvalidProfileError(f"{slot} is empty: give it a value, or leave the slot unset.")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidProfileError(
            f"{slot} is not valid Unicode text (it holds a lone surrogate): "
            "paste the value again from its source."
        ) from None
    if size > MAX_VALUE_BYTES:
        raise InvalidProfileError(
            f"{slot} is {size} bytes long; the limit is {MAX_VALUE_BYTES} bytes (64 KiB)."
        )
    return value


def validate_secrets(values: Secrets) -> Secrets:
    """Check a full set of four slots: ``secret1`` set, every set slot valid."""
    if values[0] is None:
        raise InvalidProfileError("secret1 is required: every profile needs its main secret.")
    for slot, value in zip(SLOTS, values):
        if value is not None:
            validate_value(slot, value)
    return values


@dataclass(frozen=True)
class ProfileMeta:
    """What may be shown about a profile anywhere: never a value."""

    name: str
    slots_set: SlotFlags
    created: datetime
    updated: datetime
    #: Set slots whose value is too short for output redaction (``redact.MIN_LENGTH``);
    #: shown wherever profiles are listed, so nobody relies on a redaction that is off.
    unredacted: SlotFlags = NO_SLOTS

    def is_set(self, slot: str) -> bool:
        return self.slots_set[SLOTS.index(validate_slot(slot))]

    @property
    def unredacted_slots(self) -> list[str]:
        return [s for s, on in zip(SLOTS, self.unredacted) if on]

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "slots": dict(zip(SLOTS, self.slots_set)),
            "unredacted": self.unredacted_slots,
            "created": self.created.isoformat(),
            "updated": self.updated.isoformat(),
        }

    def describe_slots(self) -> str:
        return ", ".join(s for s, on in zip(SLOTS, self.slots_set) if on)


def utc_minutes(when: datetime) -> str:
    """The one way zingy-nb shows a time to people (panel, magic, CLI, sidebar alike)."""
    return f"{when.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"


def is_valid_name(name: str) -> bool:
    """Whether ``name`` passes ``validate_name``, for callers that must not repeat an
    invalid name (it may be a pasted secret) in their own message."""
    try:
        validate_name(name)
    except InvalidProfileError:
        return False
    return True
