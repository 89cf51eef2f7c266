"""Rewrite registered secret values to ``[REDACTED]`` in everything a kernel sends.

Values retrieved (or entered) in a kernel are registered here. The kernel's
``Session.send``, the one place every outgoing message passes (stream, display and
execute results, errors, replies, comm/widget messages, output from other threads),
is wrapped so each message's content, metadata and buffers are rewritten first.

Each value is matched in its common encodings too: base64 (standard and URL-safe),
URL-encoding, JSON escaping and Python repr escaping. All of them go into one compiled
pattern, rebuilt only when a value is added, so a hundred secrets cost one scan.
Values shorter than ``MIN_LENGTH`` are not redacted (as Airflow does): redacting
every "abc" would mangle ordinary output, and such values are not secrets worth the
name. Not covered: deliberate transformations (reversing, slicing, hashing,
re-encoding a value inside a larger blob), and output written by subprocesses
straight to the kernel process's own stdout/stderr.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.parse
from collections.abc import Iterable
from typing import Any, Final

MASK: Final = "[REDACTED]"
MIN_LENGTH: Final = 6
_MARK: Final = "_zingy_nb_redacting"


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


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex matching any of ``words``, shaped as a trie so it scans quickly.

    Runs of single-child nodes become one literal, so a 64 KiB value is one escaped
    string, not 64 Ki nested groups. Pathological nesting falls back to a plain
    longest-first alternation (same matches, slower scan).
    """
    words = sorted(set(words))
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = []
        for ch, child in sorted(node.items()):
            if not ch:
                continue
            run = [ch]
            while len(child) == 1 and "" not in child:  # a chain: one literal
                ((nxt, child),) = child.items()
                run.append(nxt)
            branches.append(re.escape("".join(run)) + build(child))
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if ends else body

    try:
        source = build(trie)
        re.compile(source)
        return source
    except (RecursionError, re.error, OverflowError):
        return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


class Redactor:
    """The registered values of one process and the pattern that finds them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._text: re.Pattern[str] | None = None
        self._bytes: re.Pattern[bytes] | None = None

    def __len__(self) -> int:
        return len(self._values)

    def register(self, value: str | None) -> bool:
        """Add a value; False when it is too short to be redacted (or already known)."""
        return self.register_all([value]) == 1

    def register_all(self, values: Iterable[str | None]) -> int:
        """Add many values with one pattern rebuild; returns how many were new."""
        fresh = {v for v in values if v and len(v) >= MIN_LENGTH and v not in self._values}
        if not fresh:
            return 0
        with self._lock:
            self._values |= fresh
            words = set().union(*(variants(v) for v in self._values))
            # Longest first wins at any position: the trie prefers longer matches.
            source = _trie_pattern(words)
            self._text = re.compile(source)
            self._bytes = re.compile(source.encode("utf-8", "surrogatepass"))
        return len(fresh)

    def text(self, text: str) -> str:
        pattern = self._text
        return text if pattern is None else pattern.sub(MASK, text)

    def count(self, text: str) -> tuple[str, int]:
        """``text`` redacted, and how many values were replaced."""
        pattern = self._text
        return (text, 0) if pattern is None else pattern.subn(MASK, text)

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
        pattern = self._bytes
        if pattern is None:
            return buf
        data = bytes(buf)
        return pattern.sub(MASK.encode(), data) if pattern.search(data) else buf

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
