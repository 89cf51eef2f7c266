"""A store row for a profile's values: sealed by the cipher, with the slots that are set
and those too short to be redacted in clear (both ``Profiles`` and key rotation write
rows)."""

from __future__ import annotations

from datetime import datetime

from .. import redact
from ..rules import Secrets
from ..store.base import Row
from .crypto import Cipher


def sealed_row(
    name: str, values: Secrets, created: datetime, updated: datetime, cipher: Cipher
) -> Row:
    """A row for ``values``: which slots are set, which are too short to be redacted."""
    return Row(
        name,
        tuple(v is not None for v in values),  # type: ignore[arg-type]
        tuple(redact.too_short(v) for v in values),  # type: ignore[arg-type]
        created,
        updated,
        cipher.key_id,
        cipher.seal(name, values),
    )
