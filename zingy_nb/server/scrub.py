"""Save-time scrub: stored secret values never stay in a file the server saves.

Contents-manager hooks. Every stored secret value found in a saved file (outputs,
widget state, metadata, attachments, cell sources) becomes ``[REDACTED]``, and so does
the master key read from ``ZINGY_NB_MASTER_KEY`` (with ``profiles.db`` it opens every
value). Code cells also lose what ``%zingy_apikey`` lines may not hold (``magic_line``):
a secret typed inline never reaches the file. The save still succeeds, and the user is
told in the server log and, through a Jupyter event, by a JupyterLab notification.

Per save format:

- notebook models (JSON): every string, in place, before the write;
- text files: the text before the write; a ``.ipynb`` is handled as a notebook
  (string by string, then as a whole);
- base64 files (JupyterLab uploads and drag and drop, notebooks included): decoded;
  bytes that are UTF-8 text without a NUL byte are scrubbed as text and re-encoded.
  Other bytes (images, archives, compressed data) are binary and saved unchanged: a
  value inside them is not looked for;
- chunked uploads: jupyter_server runs pre-save hooks on the first chunk only, so the
  assembled file is read back after the last chunk (a post-save hook), scrubbed and
  rewritten atomically. Until that chunk arrives the partial file may hold a value. A
  file over ``c.ZingyNb.scrub_max_bytes`` is not read back (with a warning).

Values are found however they were escaped (HTML entities, JSON and repr escapes:
see ``redact``). The values come from the server's store without the flow gate
(``Profiles._redactor_of_all``, which hands out a matcher, never a value). On Linux the
agent holds them and does the matching (``agent.remote``: a notebook's strings go to it
in one batch, and it keeps one automaton until the store changes); elsewhere the server
keeps the automaton itself, rebuilt only when the store changes. Without a usable key the
stored values cannot be scrubbed: the save succeeds and a warning says so, while the
magic lines and the master or member key are still scrubbed (they need no stored value).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import os
from datetime import datetime, timezone
from typing import Any, Final, NamedTuple

from jupyter_server.services.contents.fileio import atomic_writing

from ..errors import ZingyError
from ..redact import MASK, Redactor
from ..vault import MASTER_KEY_ENV as KEY_ENV
from ..vault import decode_key
from .config import ZingyNb
from .magic_line import clean_source
from .store import ServerStore

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
        "lines": {
            "type": "integer",
            "description": "How many %zingy_apikey lines lost what may be a secret.",
        },
    },
}


_SNIFF: Final = 8192  # bytes read first to tell a binary file (a NUL byte) cheaply


def key_forms() -> list[str]:
    """Every key the environment holds, in the forms a file may show it: the master key
    and a team member's key (``ZINGY_NB_MEMBER_KEY``)."""
    from ..vault import member_key_forms

    return [*master_key_forms(), *member_key_forms()]


def master_key_forms() -> list[str]:
    """The master key from the environment as text, standard base64 and hex ([] if unset)."""
    text = os.environ.get(KEY_ENV, "").strip()
    if not text:
        return []
    forms = [text, text.rstrip("=")]
    try:
        key = decode_key(text, where=KEY_ENV)
    except ZingyError:
        return forms  # not a valid key: still never saved
    standard = base64.b64encode(key).decode("ascii")
    return [*forms, standard, standard.rstrip("="), key.hex()]


def as_text(data: bytes) -> str | None:
    """``data`` as text if it is UTF-8 without a NUL byte; ``None`` for binary data."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def is_notebook(path: str) -> bool:
    return path.lower().endswith(".ipynb")


def clean_cells(notebook: Any) -> int:
    """Clean ``%zingy_apikey`` lines in a notebook's code cells, in place; lines changed."""
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return 0
    changed = 0
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source")
        as_list = isinstance(source, list) and all(isinstance(s, str) for s in source)
        if as_list:
            text, n = clean_source("".join(source))  # type: ignore[arg-type]
        elif isinstance(source, str):
            text, n = clean_source(source)
        else:
            continue
        if n:
            cell["source"] = text.splitlines(keepends=True) if as_list else text
            changed += n
    return changed


def scrub_strings(parent: Any, key: Any, redactor: Redactor) -> int:
    """Redact strings under ``parent[key]`` in place (keeping NotebookNode types)."""
    value = parent[key]
    if isinstance(value, str):
        text, n = redactor.count(value)
        if n:
            parent[key] = text
        return n
    if isinstance(value, dict):
        return sum(scrub_strings(value, k, redactor) for k in list(value))
    if isinstance(value, list):
        return sum(scrub_strings(value, i, redactor) for i in range(len(value)))
    return 0


class Tally(NamedTuple):
    """What a scrub did: values replaced, and ``%zingy_apikey`` lines cut."""

    values: int = 0
    lines: int = 0


def scrub_notebook(notebook: Any, redactor: Redactor) -> Tally:
    """Scrub a notebook's JSON structure in place."""
    lines = clean_cells(notebook)
    values = scrub_strings({"nb": notebook}, "nb", redactor) if len(redactor) else 0
    return Tally(values, lines)


def _dump(notebook: Any) -> str:
    """A notebook as nbformat writes it (sorted keys, indent 1, UTF-8)."""
    return json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def scrub_text(text: str, path: str, redactor: Redactor) -> tuple[str, Tally]:
    """Scrub a file's text; a notebook's JSON stays valid JSON."""
    if not is_notebook(path):
        scrubbed, values = redactor.count(text)
        return scrubbed, Tally(values)
    try:
        notebook = json.loads(text)
    except ValueError:
        notebook = None
    if not isinstance(notebook, dict):  # not a notebook's JSON: plain text
        scrubbed, values = redactor.count(text)
        return scrubbed, Tally(values)
    # String by string first, as for a notebook model: a string's own escapes (an
    # output's JSON or HTML) are then one layer down, where the matcher undoes them.
    lines = clean_cells(notebook)
    strings = scrub_strings({"nb": notebook}, "nb", redactor)
    if lines or strings:
        text = _dump(notebook)
    scrubbed, values = redactor.count(text)  # then the whole text (runs across strings)
    if values:
        try:
            json.loads(scrubbed)
        except ValueError:  # a match cut through a JSON escape: the strings' result stands
            scrubbed, values = text, 0
    return scrubbed, Tally(strings + values, lines)


def base64_text(content: str) -> str | None:
    """The text a base64 file model holds; ``None`` for binary or undecodable content."""
    try:
        return as_text(base64.decodebytes(content.encode("ascii")))
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None  # the save itself refuses it


class Scrubber:
    """The save hooks; one per server."""

    def __init__(
        self, config: ZingyNb, store: ServerStore, log: Any, event_logger: Any = None
    ) -> None:
        self.config = config
        self.store = store
        self.log = log
        self.event_logger = event_logger
        self._token: object = object()
        self._redactor: Redactor | None = None
        self._uploads: set[str] = set()  # chunked uploads whose last chunk is pending

    def redactor(self) -> Redactor:
        """Every stored value and the env master key as one matcher.

        Raises ``ZingyError`` without a usable key.
        """
        profiles = self.store.profiles()
        forms = key_forms()
        token = (profiles.change_token(), tuple(forms))
        if token != self._token or self._redactor is None:
            redactor = profiles._redactor_of_all()
            redactor.register_all(forms)
            self._redactor, self._token = redactor, token
        return self._redactor

    def _redactor_for(self, path: str, *, warn: bool = True) -> Redactor:
        """``redactor()``, or without a usable key one of the master key alone."""
        try:
            return self.redactor()
        except ZingyError as exc:
            if warn:
                self.log.warning(
                    "zingy-nb: saved %s WITHOUT scrubbing stored secrets: %s", path, exc
                )
            fallback = Redactor()
            fallback.register_all(key_forms())
            return fallback

    def applies_to(self, path: str) -> bool:
        return self.config.scrub_enabled and any(
            fnmatch.fnmatch(path, pattern) for pattern in self.config.scrub_paths
        )

    def before_save(self, model: dict[str, Any], path: str, **kwargs: Any) -> None:
        """Pre-save hook: scrub the model before it is written."""
        if model.get("content") is None or not self.applies_to(path):
            return
        if model.get("chunk") is not None:
            if model["chunk"] == 1:  # a part of a file: scrubbed whole after the last one
                self._uploads.add(path)
            return
        kind, form, content = model.get("type"), model.get("format"), model["content"]
        if kind == "notebook":
            count = scrub_notebook(content, self._redactor_for(path))
        elif kind == "file" and form == "text" and isinstance(content, str):
            model["content"], count = scrub_text(content, path, self._redactor_for(path))
        elif kind == "file" and form == "base64" and isinstance(content, str):
            text = base64_text(content)
            if text is None:
                return  # binary: left alone
            scrubbed, count = scrub_text(text, path, self._redactor_for(path))
            if any(count):
                model["content"] = base64.b64encode(scrubbed.encode("utf-8")).decode("ascii")
        else:
            return
        self._report(path, count)

    def after_save(
        self, model: dict[str, Any], os_path: str, contents_manager: Any = None, **kwargs: Any
    ) -> None:
        """Post-save hook: scrub a file as written (the end of a chunked upload).

        Also run after every other save of a non-notebook file, as a safety net for
        clients that append chunks without a first one; after an ordinary save, which
        the pre-save hook scrubbed, it finds nothing and says nothing.
        """
        path = str(model.get("path", ""))
        upload = path in self._uploads  # a .ipynb upload is described as a notebook
        self._uploads.discard(path)
        if not (upload or model.get("type") == "file") or not self.applies_to(path):
            return
        limit = self.config.scrub_max_bytes
        with open(os_path, "rb") as f:
            head = f.read(_SNIFF)
            if b"\0" in head:
                return  # binary: left alone, and not read whole
            if limit and os.fstat(f.fileno()).st_size > limit:
                if upload:
                    self.log.warning(
                        "zingy-nb: saved %s WITHOUT scrubbing: it is larger than "
                        "c.ZingyNb.scrub_max_bytes (%d bytes)",
                        path, limit,
                    )  # fmt: skip
                return
            text = as_text(head + f.read())
        if text is None:
            return
        scrubbed, count = scrub_text(text, path, self._redactor_for(path, warn=upload))
        if not any(count):
            return
        data = scrubbed.encode("utf-8")
        try:
            writing = getattr(contents_manager, "atomic_writing", None)
            with (
                writing(os_path, text=False)
                if writing is not None
                else atomic_writing(os_path, text=False, log=self.log)
            ) as f:
                f.write(data)
        except Exception:
            self.log.error("zingy-nb: could not rewrite %s without its stored secrets", path)
            raise
        model["size"] = len(data)
        mtime = os.stat(os_path).st_mtime
        model["last_modified"] = datetime.fromtimestamp(mtime, tz=timezone.utc)
        self._report(path, count)

    def _report(self, path: str, count: Tally) -> None:
        if count.values:
            self.log.warning(
                "zingy-nb: replaced %d stored secret value(s) in %s by %s before saving it",
                count.values, path, MASK,
            )  # fmt: skip
        if count.lines:
            self.log.warning(
                "zingy-nb: cut %d %%zingy_apikey line(s) in %s to what the magic accepts "
                "before saving it: they held what may be a secret",
                count.lines, path,
            )  # fmt: skip
        if self.event_logger is not None and any(count):
            data: dict[str, Any] = {"path": path, "count": count.values}
            if count.lines:
                data["lines"] = count.lines
            self.event_logger.emit(schema_id=EVENT_SCHEMA_ID, data=data)
