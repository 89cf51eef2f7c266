"""The leak rule, checked independently of the redactor that enforces it.

Nothing a client receives and nothing zingy-nb's server writes may contain a registered
value whole, nor any run of 16 or more consecutive characters of a registered value of
24 or more characters, in raw text or after HTML (named, decimal and hex entities), JSON
(``\\uXXXX``, ``\\/``) and repr unescaping; base64 and URL-encoded forms, also escaped,
count as whole values. Bytes (files) are read in UTF-8, UTF-16 and UTF-32. A multi-line value is judged line by line (PEM
armour lines, the same in every key, are left alone). Consecutive stream messages of one
request are joined first, as a front end joins them.

This is brute force on purpose: every 16-character window of every value is looked for
in every decoding of every text. It shares no code with ``zingy_nb.redact``.

A secret no process registered (a key made on the spot and printed) cannot be looked for
by value; ``shapes`` finds those by their form instead.
"""

from __future__ import annotations

import base64
import html
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RUN = 16
LONG = 24
SHORTEST = 6
_ARMOUR = re.compile(r"^-----(BEGIN|END) [A-Z0-9 ]+-----$")
_BACKSLASH = re.compile(
    r"\\(u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"  # a surrogate pair
    r"|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|.)",
    re.S,
)
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "/": "/", "0": "\0"}


@dataclass(frozen=True)
class Leak:
    """Where a value showed; ``what`` describes the match without repeating the value."""

    where: str
    label: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.label} {self.what}"


def _unbackslash(text: str) -> str:
    """JSON and Python-repr escapes undone (a lenient decoder: unknown escapes stay)."""

    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if len(code) == 11:  # uD83D\uDE00: one character
            high, low = int(code[1:5], 16), int(code[7:11], 16)
            return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        if code[0] in "uUx" and len(code) > 1:
            try:
                return chr(int(code[1:], 16))
            except ValueError:
                return m.group(0)
        return _SIMPLE.get(code, code)

    return _BACKSLASH.sub(one, text)


def decodings(text: str) -> list[str]:
    """The text as a viewer may see it: raw, HTML-unescaped (named, decimal and hex
    entities), backslash-unescaped (JSON and Python: ``\\uXXXX`` and surrogate pairs,
    ``\\/``, ``\\xHH``...), and both ways round."""
    forms = [text]
    for decode in (html.unescape, _unbackslash):
        forms += [decode(f) for f in forms]
    forms.append(html.unescape(_unbackslash(html.unescape(text))))
    return list(dict.fromkeys(forms))


#: Encodings a file may hold text in besides UTF-8 (a pickled numpy string array keeps
#: UTF-32), each with its code unit's width: text may start at any offset modulo it.
_WIDE = (("utf-16-le", 2), ("utf-16-be", 2), ("utf-32-le", 4), ("utf-32-be", 4))


def byte_views(data: bytes) -> list[str]:
    """Bytes as text every way a file may hold it: UTF-8, and UTF-16 and UTF-32 of both
    byte orders at every alignment (what is not text in one reading is U+FFFD there)."""
    views = [data.decode("utf-8", "replace")]
    for encoding, width in _WIDE:
        views += [data[skip:].decode(encoding, "replace") for skip in range(width)]
    return views


def _pieces(value: str) -> list[str]:
    lines = [ln.rstrip("\r") for ln in value.split("\n")] if "\n" in value else [value]
    return [ln for ln in lines if len(ln) >= SHORTEST and not _ARMOUR.match(ln.strip())]


def _whole_encodings(value: str) -> set[str]:
    raw = value.encode("utf-8")
    forms = {urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value, safe="")}
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        text = enc(raw).decode("ascii")
        forms |= {text, text.rstrip("=")}
    return {f for f in forms if f != value and len(f) >= SHORTEST}


def find(text: str, values: Mapping[str, str], where: str) -> list[Leak]:
    """Every breach of the rule in ``text``; ``values`` maps a label to a secret."""
    found: list[Leak] = []
    views = decodings(text)
    for label, value in values.items():
        if len(value) < SHORTEST:
            continue
        if any(form in view for form in _whole_encodings(value) for view in views):
            found.append(Leak(where, label, "base64- or URL-encoded whole"))
        for piece in _pieces(value):
            if any(piece in view for view in views):
                found.append(Leak(where, label, f"whole ({len(piece)} characters)"))
                continue
            if len(piece) < LONG:
                continue
            for i in range(len(piece) - RUN + 1):
                window = piece[i : i + RUN]
                if any(window in view for view in views):
                    found.append(Leak(where, label, f"run of {RUN}+ from offset {i}"))
                    break
    return found


def _texts(obj: Any) -> Iterable[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _texts(k)
            yield from _texts(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _texts(v)


def message_texts(msg: Mapping[str, Any]) -> list[str]:
    """Every string a client receives in a message: content, metadata, buffers, and the
    whole message serialised (what goes over the wire)."""
    parts = [*_texts(msg.get("content", {})), *_texts(msg.get("metadata", {}))]
    parts.append(json.dumps({"c": msg.get("content"), "m": msg.get("metadata")}, default=str))
    for buf in msg.get("buffers") or []:
        parts.append(bytes(buf).decode("utf-8", "replace"))
    return parts


def find_shapes(text: str, shapes: Mapping[str, re.Pattern[str]], where: str) -> list[Leak]:
    """A secret of a known form in ``text``, whatever its value; ``shapes`` maps a label
    to that form."""
    return [Leak(where, label, "by its form") for label, rx in shapes.items() if rx.search(text)]


def scan_messages(
    messages: Sequence[tuple[str, Mapping[str, Any]]],
    values: Mapping[str, str],
    shapes: Mapping[str, re.Pattern[str]] | None = None,
) -> list[Leak]:
    """Check ``(channel, message)`` pairs; stream texts are also joined per request."""
    found: list[Leak] = []
    joined: dict[tuple[str, str], list[str]] = {}
    for channel, msg in messages:
        where = f"{channel}/{msg.get('msg_type') or msg.get('header', {}).get('msg_type')}"
        for text in message_texts(msg):
            found += find(text, values, where) + find_shapes(text, shapes or {}, where)
        if msg.get("msg_type") == "stream":
            parent = msg.get("parent_header", {}).get("msg_id", "")
            joined.setdefault((parent, msg["content"]["name"]), []).append(msg["content"]["text"])
    for (_, name), texts in joined.items():
        if len(texts) > 1:
            where = f"iopub/stream {name}, joined"
            found += find("".join(texts), values, where)
            found += find_shapes("".join(texts), shapes or {}, where)
    return sorted(set(found), key=str)
