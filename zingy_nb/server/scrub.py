"""Save-time scrub: stored secret values never reach a saved file.

A contents-manager pre-save hook. Before a notebook (or any text file) is written, every
stored secret value found in it (outputs, widget state, metadata, attachments, cell
sources) becomes ``[REDACTED]``; the save still succeeds, and the user is told in the
server log and, through a Jupyter event, by a JupyterLab notification. The values come
from the server's own store and are kept as one compiled pattern, rebuilt only when the
store changes. A server without a usable key saves unscrubbed and warns.
"""

from __future__ import annotations

import fnmatch
from typing import Any, Final

from ..errors import ZingyError
from ..profiles import Profiles, get_profiles
from ..redact import MASK, Redactor
from .config import ZingyNb

EVENT_SCHEMA_ID: Final = "https://zingy.ai/zingy-nb/events/secret-scrubbed"
EVENT_SCHEMA: Final = {
    "$id": EVENT_SCHEMA_ID,
    "version": "1",
    "title": "zingy-nb scrubbed stored secrets from a saved file",
    "personal-data": True,
    "description": "The server replaced stored secret values in a file it saved.",
    "type": "object",
    "required": ["path", "count"],
    "properties": {
        "path": {"type": "string", "description": "The saved file, relative to the root."},
        "count": {"type": "integer", "description": "How many values were replaced."},
    },
}


class Scrubber:
    """The pre-save hook; one per server."""

    def __init__(self, config: ZingyNb, log: Any, event_logger: Any = None) -> None:
        self.config = config
        self.log = log
        self.event_logger = event_logger
        self._token: object = object()
        self._redactor: Redactor | None = None

    def _profiles(self) -> Profiles:
        return get_profiles(self.config.home())

    def redactor(self) -> Redactor:
        """All stored values as one pattern; raises ``ZingyError`` without a usable key."""
        profiles = self._profiles()
        token = profiles.change_token()
        if token != self._token or self._redactor is None:
            redactor = Redactor()
            redactor.register_all(
                v for meta in profiles.list() for v in profiles.secrets(meta.name)
            )
            self._redactor, self._token = redactor, token
        return self._redactor

    def applies_to(self, path: str) -> bool:
        return self.config.scrub_enabled and any(
            fnmatch.fnmatch(path, pattern) for pattern in self.config.scrub_paths
        )

    def __call__(self, model: dict[str, Any], path: str, **kwargs: Any) -> None:
        if model.get("content") is None or not self.applies_to(path):
            return
        kind = model.get("type")
        if not (kind == "notebook" or (kind == "file" and model.get("format") == "text")):
            return
        try:
            redactor = self.redactor()
        except ZingyError as exc:
            self.log.warning("zingy-nb: saved %s WITHOUT scrubbing stored secrets: %s", path, exc)
            return
        if not len(redactor):
            return
        count = _scrub(model, "content", redactor)
        if count:
            self.log.warning(
                "zingy-nb: replaced %d stored secret value(s) in %s by %s before saving it",
                count, path, MASK,
            )  # fmt: skip
            if self.event_logger is not None:
                self.event_logger.emit(
                    schema_id=EVENT_SCHEMA_ID, data={"path": path, "count": count}
                )


def _scrub(parent: Any, key: Any, redactor: Redactor) -> int:
    """Redact strings under ``parent[key]`` in place (keeping NotebookNode types)."""
    value = parent[key]
    if isinstance(value, str):
        text, n = redactor.count(value)
        if n:
            parent[key] = text
        return n
    if isinstance(value, dict):
        return sum(_scrub(value, k, redactor) for k in list(value))
    if isinstance(value, list):
        return sum(_scrub(value, i, redactor) for i in range(len(value)))
    return 0
