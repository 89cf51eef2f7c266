"""Rewrite registered secret values to ``[REDACTED]`` in everything a kernel sends.

Values retrieved (or entered) in a kernel are registered here. The kernel's
``Session.send``, the one place every outgoing message passes (stream, display and
execute results, errors, replies, comm/widget messages, output from other threads),
is wrapped so each message's content, metadata and buffers are rewritten first.

Each value is matched in its common encodings too: base64 (standard and URL-safe),
URL-encoding, JSON escaping and Python repr escaping. All of them go into one compiled
Aho-Corasick automaton (``ahocorasick-rs``), rebuilt only when values are added, so a
hundred secrets cost one linear scan.
Values shorter than ``MIN_LENGTH`` are not redacted (as Airflow does): redacting
every "abc" would mangle ordinary output, and such values are not secrets worth the
name. Not covered: deliberate transformations (reversing, slicing, hashing,
re-encoding a value inside a larger blob), and output written by subprocesses
straight to the kernel process's own stdout/stderr.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Iterable
from typing import Any, Final

MASK: Final = "[REDACTED]"
MIN_LENGTH: Final = 6
_MARK: Final = "_zingy_nb_redacting"


def too_short(value: str | None) -> bool:
    """Whether a set value is below ``MIN_LENGTH``, so output redaction skips it."""
    return value is not None and 0 < len(value) < MIN_LENGTH


def short_note(slots: Iterable[str]) -> str:
    """What to tell a user whose values are too short to be redacted ('' when none).

    Said where the user looks (magic, CLI, panel, sidebar, log), never in a cell's
    output on its own, which must stay stable for nbval.
    """
    names = list(slots)
    if not names:
        return ""
    verb = "is" if len(names) == 1 else "are"
    return (
        f"{', '.join(names)} {verb} shorter than {MIN_LENGTH} characters, "
        "so not redacted from output."
    )


def variants(value: str) -> set[str]:
    """The forms of ``value`` that are redacted: itself and its common encodings."""
    raw = value.encode("utf-8", "surrogatepass")
    forms = {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
        ascii(value)[1:-1],
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value, safe=""),
        urllib.parse.quote(value),
    }
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(raw).decode("ascii")
        forms.update({text, text.rstrip("=")})
    return {f for f in forms if len(f) >= MIN_LENGTH}


def _splice(text: Any, matches: list[tuple[int, int, int]], mask: Any) -> Any:
    """``text`` with each (pattern, start, end) match replaced by ``mask``."""
    parts: list[Any] = []
    last = 0
    for _, start, end in matches:
        parts += (text[last:start], mask)
        last = end
    parts.append(text[last:])
    return text[:0].join(parts)


class Redactor:
    """The registered values of one process and the automaton that finds them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, set[str]] = {}  # value -> its variants
        self._text: Any = None  # AhoCorasick over every variant, or None
        self._bytes: Any = None

    def __len__(self) -> int:
        return len(self._values)

    def register(self, value: str | None) -> bool:
        """Add a value; False when it is too short to be redacted (or already known)."""
        return self.register_all([value]) == 1

    def register_all(self, values: Iterable[str | None]) -> int:
        """Add many values with one rebuild; returns how many were new."""
        fresh = {v for v in values if v and len(v) >= MIN_LENGTH and v not in self._values}
        if not fresh:
            return 0
        from ahocorasick_rs import AhoCorasick, BytesAhoCorasick, Implementation, MatchKind

        with self._lock:
            for value in fresh:
                self._values[value] = variants(value)
            words = sorted(set().union(*self._values.values()))
            # Leftmost-longest: an encoded form that contains another is masked whole.
            # A DFA scans fastest; for huge values (64 KiB keys) its build would not pay.
            small = sum(map(len, words)) <= 50_000
            kind = MatchKind.LeftmostLongest
            impl = Implementation.DFA if small else Implementation.ContiguousNFA
            self._text = AhoCorasick(words, matchkind=kind, implementation=impl)
            self._bytes = BytesAhoCorasick(
                [w.encode("utf-8", "surrogatepass") for w in words],
                matchkind=kind,
                implementation=impl,
            )
        return len(fresh)

    def count(self, text: str) -> tuple[str, int]:
        """``text`` redacted, and how many values were replaced."""
        automaton = self._text
        if automaton is None:
            return text, 0
        if text.isascii():  # the common case: the bytes automaton is quicker
            data = text.encode("ascii")
            found = self._bytes.find_matches_as_indexes(data)
            return (_splice(text, found, MASK), len(found)) if found else (text, 0)
        try:
            matches = automaton.find_matches_as_indexes(text)
        except UnicodeEncodeError:  # lone surrogates: match on the bytes instead
            data = text.encode("utf-8", "surrogatepass")
            found = self._bytes.find_matches_as_indexes(data)
            if not found:
                return text, 0
            return _splice(data, found, MASK.encode()).decode("utf-8", "surrogatepass"), len(found)
        return (_splice(text, matches, MASK), len(matches)) if matches else (text, 0)

    def text(self, text: str) -> str:
        return self.count(text)[0]

    def data(self, obj: Any) -> Any:
        """A copy of a JSON-like structure with every string redacted."""
        if self._text is None:
            return obj
        return self._walk(obj)

    def _walk(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {
                self._walk(k) if isinstance(k, str) else k: self._walk(v) for k, v in obj.items()
            }
        if isinstance(obj, (list, tuple)):
            return type(obj)(self._walk(v) for v in obj)
        return obj

    def buffer(self, buf: Any) -> Any:
        automaton = self._bytes
        if automaton is None:
            return buf
        data = bytes(buf)
        matches = automaton.find_matches_as_indexes(data)
        return _splice(data, matches, MASK.encode()) if matches else buf

    def message(self, msg: dict[str, Any]) -> dict[str, Any]:
        """A message dict with content, metadata and buffers redacted."""
        if self._text is None:
            return msg
        out = dict(msg)
        for key in ("content", "metadata"):
            if key in out:
                out[key] = self._walk(out[key])
        if out.get("buffers"):
            out["buffers"] = [self.buffer(b) for b in out["buffers"]]
        return out


# Re-executing this module (importlib.reload, %reload_ext) keeps the registered values.
redactor: Redactor = globals().get("redactor") or Redactor()


def register_value(value: str | None) -> bool:
    """Register a secret value with this process's redactor."""
    return redactor.register(value)


def install(session: Any) -> bool:
    """Wrap ``session.send`` once so every outgoing message is redacted.

    Handles both forms ipykernel uses: a built message dict as ``msg_or_type``
    (streams, displays, execute results) and ``content=`` with a message type.
    """
    if getattr(session.send, _MARK, False):
        return False
    original = session.send

    def send(stream: Any, msg_or_type: Any, content: Any = None, *args: Any, **kwargs: Any) -> Any:
        if redactor._text is not None:
            if isinstance(msg_or_type, dict):
                msg_or_type = redactor.message(msg_or_type)
            else:
                content = redactor.data(content)
            if kwargs.get("metadata") is not None:
                kwargs["metadata"] = redactor.data(kwargs["metadata"])
            if kwargs.get("buffers"):
                kwargs["buffers"] = [redactor.buffer(b) for b in kwargs["buffers"]]
        return original(stream, msg_or_type, content, *args, **kwargs)

    setattr(send, _MARK, True)
    send.__wrapped__ = original  # type: ignore[attr-defined]
    session.send = send
    return True
