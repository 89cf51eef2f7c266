"""Rewrite registered secret values to ``[REDACTED]`` in everything a kernel sends.

Values retrieved (or entered) in a kernel are registered here. The kernel's
``Session.send``, the one place every outgoing message passes (stream, display and
execute results, errors, replies, comm/widget messages, output from other threads),
is wrapped so each message's content, metadata and buffers are rewritten first.

The rule: no output holds a registered value whole, nor a run of ``RUN`` (16) or more
characters of a value of ``LONG`` (24) or more, raw or escaped: in the escaped forms
of ``_ESCAPES`` (``html.escape`` quote on/off, markupsafe's ``&#39;``/``&#34;``,
``json.dumps`` ensure_ascii on/off, with ``\\/`` or not, ``repr``/``ascii``), and, for
any mix of escapes, in the text with every HTML entity (named, decimal, hex) and every
JSON or Python backslash escape (``\\uXXXX`` and surrogate pairs, ``\\/``, ``\\xHH``)
undone, the spans found there mapped back to the escapes they came from.
Base64 (standard, URL-safe, padded or not) and URL-encoded forms, values of 6 to 23
characters and each line of a multi-line value are matched whole only. One mask covers
overlapping and adjacent matches, never cuts an escape (``\\uXXXX``, ``&amp;``), and
keeps a JSON document's string quotes, so it still parses. Left alone, being the same
in every value of its kind (a match holding nothing else): PEM armour lines
(``-----BEGIN ...-----``, ``-----END ...-----``) and the Google service-account key
file members in ``PUBLIC``.

Fast: registering computes a value's anchors; the next scan builds. Anchors are each
form's 9-byte grams at multiples of 8 (any 16-byte run holds one) and each whole-only
form's first 9 bytes, in one ``ahocorasick-rs`` automaton over UTF-8 bytes; a hit (rare
in ordinary output) is checked and extended in Python. Values registered since the
last full build go to a small second automaton, so a retrieve-then-print loop does not
rebuild a large one each time; after 64 of them, or once 2 MB went through more than
one automaton or an NFA, all are folded into one DFA (3x faster to scan). Only text
holding an escape of a character some value holds is scanned a second time, unescaped.

Values shorter than ``MIN_LENGTH`` are not redacted (as Airflow does): redacting every
"abc" would mangle ordinary output, and such values are not secrets worth the name.
Not covered: deliberate transformations (reversing, hashing, cutting into pieces under
16 characters, re-encoding inside a larger blob), and two escape layers of one kind
(an entity of an entity, JSON inside a JSON string) except where a caller undoes one
(the save-time scrub reads a notebook's strings).
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
import urllib.parse
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate
from typing import Any, Final

MASK: Final = "[REDACTED]"
MIN_LENGTH: Final = 6
RUN: Final = 16
LONG: Final = 24
_GRAM, _STEP = 9, 8  # _GRAM + _STEP - 1 == RUN: every RUN-byte window holds an anchor
_FEW = 8  # a hit with more candidates skips those inside its matches (low-entropy values)
_SMALL = 64  # values in the small automaton before a full rebuild
_FOLD = 2_000_000  # bytes scanned before the automata are folded into one DFA
_QUICK_DFA = 8_000  # anchor bytes up to which a DFA is built at once
_DFA_BYTES = 100_000  # anchor bytes above which a DFA costs too much memory (~40 MB)

#: Public text of Google service-account key files: a match that is only (part of)
#: one of these is left alone. PEM armour lines are matched by ``_ARMOUR``.
PUBLIC: Final = (
    '"type": "service_account"',
    '"auth_uri": "https://accounts.google.com/o/oauth2/auth"',
    '"token_uri": "https://oauth2.googleapis.com/token"',
    '"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs"',
    '"universe_domain": "googleapis.com"',
)
_ARMOUR = re.compile(r"-----(?:BEGIN|END) [A-Z0-9 ]*-----")
_SPECIAL = re.compile(r"[^\x20-\x7e]|[&<>\"'\\/]")  # characters some escaping changes
#: One escape sequence, entity or byte: a mask's ends are moved to these boundaries.
_TOKEN = re.compile(
    rb"\\(?:u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|U[0-9A-Fa-f]{8}|[\xc0-\xff][\x80-\xbf]*|[\s\S])"
    rb"|&#?\w{1,8};|[\s\S]"
)
_STRING = re.compile(rb'"(?:[^"\\]|\\[\s\S])*"')
#: One escape a viewer undoes: an HTML entity (named, decimal, hex), or a JSON or
#: Python backslash escape (``\\uXXXX`` surrogate pairs joined, ``\\/``, ``\\xHH``...).
#: Two patterns, each starting with its one literal, so a search skips ahead fast; no
#: match of one overlaps a match of the other.
_ENTITY = re.compile(rb"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_BACKSLASH = re.compile(
    rb"\\(?:u[dD][89abAB][0-9A-Fa-f]{2}\\u[dD][c-fC-F][0-9A-Fa-f]{2}"
    rb"|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|x[0-9A-Fa-f]{2}|[nrtbfva0/\\\"'])"
)
_BACKSLASHED: Final = {
    **{c: c for c in "\\\"'/"},
    **{"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v", "a": "\a", "0": "\0"},
}
_STRUCTURE = b" \t\r\n,:[]{}"


#: The escaped forms runs are checked in; each escapes character by character. repr
#: and ascii: as for a text holding both quotes (' escaped) or only ' (kept).
_ESCAPES: Final[tuple[Callable[[str], str], ...]] = (
    str,
    html.escape,
    lambda s: html.escape(s, quote=False),
    lambda s: html.escape(s).replace("&quot;", "&#34;").replace("&#x27;", "&#39;"),
    lambda s: json.dumps(s)[1:-1],
    lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
    lambda s: json.dumps(s)[1:-1].replace("/", "\\/"),
    lambda s: json.dumps(s, ensure_ascii=False)[1:-1].replace("/", "\\/"),
    lambda s: repr(s + "\"'")[1:-4],
    lambda s: repr(s + "\"'")[1:-4].replace("\\'", "'"),
    lambda s: ascii(s + "\"'")[1:-4],
    lambda s: ascii(s + "\"'")[1:-4].replace("\\'", "'"),
)


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
    note = f"{', '.join(names)} {verb} shorter than {MIN_LENGTH} characters"
    return note + ", so not redacted from output."


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def variants(value: str) -> set[str]:
    """The forms of ``value`` that are redacted whole: itself, escaped and encoded."""
    forms = {esc(value) for esc in _ESCAPES} if _SPECIAL.search(value) else {value}
    for quote in (urllib.parse.quote, urllib.parse.quote_plus):
        forms.add(quote(value, safe="", errors="surrogatepass"))
    forms.add(urllib.parse.quote(value, errors="surrogatepass"))
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(_utf8(value)).decode("ascii")
        forms.update({text, text.rstrip("=")})
    return {f for f in forms if len(f) >= MIN_LENGTH}


def _forms(unit: str) -> dict[bytes, list[int] | None]:
    """The unit's escaped forms (UTF-8), each with the byte offsets where its original
    characters start and its end (None when every character is one byte)."""
    if not _SPECIAL.search(unit):
        return {unit.encode("ascii"): None}
    out: dict[bytes, list[int] | None] = {}
    chars = set(unit)
    for esc in _ESCAPES:
        piece = {c: _utf8(esc(c)) for c in chars}
        data = b"".join(piece[c] for c in unit)
        if data not in out:
            sizes = (len(piece[c]) for c in unit)
            out[data] = None if len(data) == len(unit) else list(accumulate(sizes, initial=0))
    return out


_PUBLIC_FORMS: Final = tuple(data for text in PUBLIC for data in _forms(text))

#: (bytes, character starts or None, whole-only); anchors point into it.
_Form = tuple[bytes, "list[int] | None", bool]
_Anchor = tuple[bytes, _Form, int]  # (gram, form, offset of the gram in the form)
#: automaton, candidates per pattern, whether it is the fastest one worth building
_Tier = tuple[Any, "list[list[tuple[_Form, int]]]", bool]


def _anchors(value: str) -> list[_Anchor]:
    """What finds ``value``: run anchors of its escaped forms (when long), and the
    first bytes of each form matched whole, for it and for each of its lines."""
    out: list[_Anchor] = []
    seen: set[bytes] = set()
    if len(value) >= LONG:
        for data, starts in _forms(value).items():
            seen.add(data)
            form = (data, starts, False)
            out += [(data[m : m + _GRAM], form, m) for m in range(0, len(data) - _GRAM + 1, _STEP)]
    for unit in {value, *map(str.strip, value.splitlines())}:
        public = unit.rstrip(",") in PUBLIC or _ARMOUR.fullmatch(unit)
        if len(unit) < MIN_LENGTH or (unit != value and public):
            continue
        for text in variants(unit):
            data = _utf8(text)
            if data not in seen:
                seen.add(data)
                out.append((data[:_GRAM], (data, None, True), 0))
    return out


def _shortest(anchors: list[_Anchor]) -> int:
    """The fewest characters a match of these anchors' value can span: a whole form's
    length, or ``RUN`` (escaping and encoding only lengthen, so text needs as many)."""
    sizes = (
        len(f.decode("utf-8", "surrogatepass")) if whole else RUN for _, (f, _, whole), _ in anchors
    )
    return min(sizes, default=RUN)


def _strings(obj: Any, out: list[str], shortest: int) -> None:
    """Collect the strings of a JSON-like structure (keys too) of ``shortest`` or more
    characters, in ``_walk``'s order."""
    if isinstance(obj, str):
        if len(obj) >= shortest:
            out.append(obj)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(key, str) and len(key) >= shortest:
                out.append(key)
            _strings(value, out, shortest)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _strings(value, out, shortest)


def _build(anchors: Iterable[list[_Anchor]], dfa: bool | None) -> _Tier:
    """An automaton over many values' anchors, each pattern's candidates, and whether
    it is the best worth building. A DFA scans about 3x faster than an NFA, builds 10x
    slower: built when cheap or asked (``dfa``); ``None``: the small one, an NFA."""
    from ahocorasick_rs import BytesAhoCorasick, Implementation, MatchKind

    index: dict[bytes, list[tuple[_Form, int]]] = {}
    for gram, form, offset in (anchor for group in anchors for anchor in group):
        index.setdefault(gram, []).append((form, offset))
    for found in (found for found in index.values() if len(found) > 1):
        # Whole forms first (a cheap check), then raw forms, longest first: with many
        # candidates, those that cannot reach past the first matches are skipped.
        found.sort(key=lambda c: (not c[0][2], c[0][1] is not None, -len(c[0][0])))
    size = sum(map(len, index))
    best = dfa is not None and (size <= _QUICK_DFA or dfa or size > _DFA_BYTES)
    impl = Implementation.DFA if best and size <= _DFA_BYTES else Implementation.ContiguousNFA
    impl = Implementation.NoncontiguousNFA if dfa is None else impl
    automaton = BytesAhoCorasick(list(index), matchkind=MatchKind.Standard, implementation=impl)
    return automaton, list(index.values()), best


def _same(a: bytes, i: int, b: bytes, j: int, back: bool) -> int:
    """How many bytes ``a`` and ``b`` share going forward from (or back before) i, j."""
    n = min(i, j) if back else min(len(a) - i, len(b) - j)
    k, step = 0, 16
    while step and k < n:
        s = min(step, n - k)
        x, y = (i - k - s, j - k - s) if back else (i + k, j + k)
        if a[x : x + s] == b[y : y + s]:
            k, step = k + s, step * 2
        else:
            step = s // 2
    return k


def _check(data: bytes, p: int, form: _Form, m: int, public: tuple[bytes, ...]) -> Any:
    """The span to mask around an anchor hit at ``p`` for ``form`` (None if none)."""
    f, starts, whole = form
    if whole:
        return (p, p + len(f)) if data.startswith(f, p) else None
    i = m - _same(data, p, f, m, True)
    j = m + _GRAM + _same(data, p + _GRAM, f, m + _GRAM, False)
    if starts is not None:  # count whole original characters only
        a, b = bisect_left(starts, i), bisect_right(starts, j) - 1
        if b - a < RUN:
            return None
        i, j = starts[a], starts[b]
    elif j - i < RUN:
        return None
    d, seen = p - m, data[p - m + i : p - m + j].strip()
    if (i or j < len(f)) and seen and any(seen in text for text in public):
        return None  # public text (and whitespace) only: left alone
    return d + i, d + j


def _edge(data: bytes, x: int, start: bool) -> int:
    """``x`` moved out of any escape sequence or entity it falls inside."""
    w = max(0, x - 12)
    while w and data[w - 1] == 0x5C:  # from the start of a backslash run: escapes pair up
        w -= 1
    for token in _TOKEN.finditer(data, w, min(len(data), x + 12)):
        a, b = token.span()
        if b > x:
            return x if a >= x else a if start else b
    return x


def _unescape_one(token: bytes) -> str | None:
    """The character an escape stands for (None: not an escape after all)."""
    text = token.decode("utf-8", "surrogatepass")
    if text[0] == "&":
        char = html.unescape(text)
        return char if char != text else None
    code = text[1]
    if code in "uUx" and len(text) > 2:
        if len(text) == 12:  # a surrogate pair
            high, low = int(text[2:6], 16), int(text[8:12], 16)
            return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        point = int(text[2:], 16)
        return chr(point) if point <= 0x10FFFF else None
    return _BACKSLASHED.get(code)


class _Unescaped:
    """``data`` with every escape undone that stands for a character of ``chars`` (an
    escape of any other character cannot be part of a match), and the way back to
    ``data``'s offsets."""

    def __init__(self, data: bytes, chars: frozenset[str]) -> None:
        pieces: list[bytes] = []
        self.starts: list[int] = []  # where each undone escape begins in the result
        self.ends: list[int] = []  # ... and ends
        self.spans: list[tuple[int, int]] = []  # the escape's own span in ``data``
        last = size = 0
        found = [*_ENTITY.finditer(data), *_BACKSLASH.finditer(data)]
        known: dict[bytes, bytes | None] = {}
        for m in sorted(found, key=lambda m: m.start()) if len(found) > 1 else found:
            token = m.group()
            if token not in known:
                char = _unescape_one(token)
                known[token] = _utf8(char) if char is not None and char in chars else None
            encoded = known[token]
            if encoded is None:
                continue
            a, b = m.span()
            pieces.append(data[last:a])
            size += a - last
            self.starts.append(size)
            size += len(encoded)
            self.ends.append(size)
            self.spans.append((a, b))
            pieces.append(encoded)
            last = b
        pieces.append(data[last:])
        self.data = b"".join(pieces) if self.starts else b""

    def start(self, s: int) -> int:
        """The offset in the original of a span starting at ``s`` in the result."""
        k = bisect_right(self.starts, s) - 1
        if k < 0:
            return s
        return self.spans[k][0] if s < self.ends[k] else s - self.ends[k] + self.spans[k][1]

    def end(self, e: int) -> int:
        """The offset in the original of a span ending at ``e`` in the result."""
        k = bisect_left(self.starts, e) - 1
        if k < 0:
            return e
        return self.spans[k][1] if e < self.ends[k] else e - self.ends[k] + self.spans[k][1]


def _by_string(data: bytes, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans of a JSON document cut to the strings they cover, so it still parses: the
    quotes and punctuation between strings stay (other text there is masked if it holds
    a run); an empty string gets a mask (an empty span), so none is a run of quotes."""
    strings = [m.span() for m in _STRING.finditer(data)]
    out: list[tuple[int, int]] = []
    for s, e in spans:
        pos, k = s, bisect_right(strings, s, key=lambda string: string[1])
        while k < len(strings) and strings[k][0] < e:
            a, b = strings[k]
            if pos < a and len(data[pos:a].translate(None, _STRUCTURE)) >= RUN:
                out.append((pos, a))
            inner = (max(pos, a + 1), min(e, b - 1))
            if inner[0] < inner[1] or (a + 2 == b and s <= a and b <= e):
                out.append(inner)
            pos, k = b, k + 1
        if pos < e and len(data[pos:e].translate(None, _STRUCTURE)) >= RUN:
            out.append((pos, e))
    return out


def _splice(text: Any, spans: list[tuple[int, int]], mask: Any) -> Any:
    """``text`` with each (start, end) span replaced by ``mask``."""
    starts = [s for s, _ in spans] + [len(text)]
    return mask.join(text[a:b] for a, b in zip([0] + [e for _, e in spans], starts))


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` sorted, overlapping and touching ones joined."""
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def masked(text: str, spans: Iterable[tuple[int, int]]) -> tuple[str, int]:
    """``text`` with the union of ``spans`` replaced by ``MASK``, and how many masks:
    for spans found elsewhere (the agent's), possibly overlapping."""
    merged = _merged(spans)
    return (_splice(text, merged, MASK), len(merged)) if merged else (text, 0)


class Redactor:
    """The registered values of one process and the automata that find them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, list[_Anchor]] = {}  # value -> its anchors
        self._text: Any = None  # not None once a value is registered
        self._joined: bytes | None = b""  # every form, NUL-separated; None: to rebuild
        self._pending: list[str] = []  # registered, in no automaton yet
        self._fresh: list[str] = []  # in the small automaton
        self._big: _Tier | None = None
        self._small: _Tier | None = None
        self._scanned = 0  # bytes scanned since the last build, while a better one is due
        self._public: tuple[bytes, ...] = _PUBLIC_FORMS
        self._chars: frozenset[str] | None = frozenset()  # of every value; None: to compute
        self._shortest = RUN  # no text with fewer characters holds a match

    def __len__(self) -> int:
        return len(self._values)

    def register(self, value: str | None) -> bool:
        """Add a value; False when it is too short to be redacted (or already known)."""
        return self.register_all([value]) == 1

    def register_all(self, values: Iterable[str | None]) -> int:
        """Add many values; returns how many were new. Cheap: the next scan builds."""
        old = self._values
        computed = {v: _anchors(v) for v in values if v and len(v) >= MIN_LENGTH and v not in old}
        if not computed:
            return 0
        armour = {_utf8(a) for v in computed for a in _ARMOUR.findall(v)}
        shortest = min(map(_shortest, computed.values()), default=RUN)
        with self._lock:
            for value, anchors in computed.items():
                if value not in self._values:
                    self._values[value] = anchors
                    self._pending.append(value)
            self._shortest = min(self._shortest, shortest)
            self._public = tuple(dict.fromkeys(self._public + tuple(armour)))
            self._chars = None
            self._text = self._values
            self._joined = None
        return len(computed)

    def include(self, other: Redactor) -> int:
        """Add every value ``other`` holds (a matcher for both); returns how many were
        new. The values pass from one matcher to the other, never to the caller."""
        with other._lock:
            values = list(other._values)
        return self.register_all(values)

    def _characters(self) -> frozenset[str]:
        """Every character of every registered value (computed once after a change)."""
        chars = self._chars
        if chars is None:
            with self._lock:
                chars = self._chars = frozenset().union(*self._values)
        return chars

    def _tiers(self, size: int) -> list[_Tier]:
        """The automata to scan ``size`` bytes with, built first if values are waiting."""
        if self._pending or self._scanned > _FOLD:
            with self._lock:
                self._rebuild()
        tiers = [t for t in (self._big, self._small) if t is not None]
        if len(tiers) > 1 or not tiers[0][2]:
            self._scanned += size  # not the fastest yet: count towards building it
        return tiers

    def _rebuild(self) -> None:
        """Build what the next scan needs, under the lock. Values stay pending until
        built, so a scan in another thread waits for them instead of missing them."""
        pending, fold = self._pending, self._scanned > _FOLD
        if fold or self._big is None or len(self._fresh) + len(pending) > _SMALL:
            self._big, self._small, self._fresh = _build(self._values.values(), fold), None, []
        elif pending:
            small = _build((self._values[v] for v in self._fresh + pending), None)
            self._small, self._fresh = small, self._fresh + pending
        self._pending, self._scanned = [], 0

    def _find(self, data: bytes) -> list[tuple[int, int]]:
        """Sorted, merged byte spans of ``data`` to mask: found in it as it is and, when
        it holds an escape, in it with every escape undone (so a value shows however
        its characters were escaped, one way or mixed)."""
        tiers = self._tiers(len(data))
        found = self._scan(data, tiers)
        if b"\\" in data or b"&" in data:
            plain = _Unescaped(data, self._characters())
            if plain.data:
                found += [(plain.start(s), plain.end(e)) for s, e in self._scan(plain.data, tiers)]
        if not found:
            return []
        merged = _merged((_edge(data, s, True), _edge(data, e, False)) for s, e in found)
        if any(b'"' in data[s:e] for s, e in merged):
            try:
                json.loads(data)
            except (ValueError, RecursionError):
                return merged  # not a JSON document: no string boundaries to keep
            return _by_string(data, merged)
        return merged

    def _scan(self, data: bytes, tiers: list[_Tier]) -> list[tuple[int, int]]:
        """Byte spans of ``data`` holding a registered value or run, unsorted."""
        found: list[tuple[int, int]] = []
        last = (0, -1)  # the found span reaching furthest: hits inside it are skipped
        public = self._public
        for automaton, candidates, _ in tiers:
            for pattern, p, end in automaton.find_matches_as_indexes(data, overlapping=True):
                if last[0] <= p and end <= last[1]:
                    continue
                options = candidates[pattern]
                few, lo, hi = len(options) <= _FEW, len(data), -1  # lo, hi: masked here
                for form, offset in options:
                    if not few and lo <= p - offset and p - offset + len(form[0]) <= hi:
                        continue  # it cannot reach past what this hit masks already
                    span = _check(data, p, form, offset, public)
                    if span:
                        found.append(span)
                        last = span if span[1] >= last[1] else last
                        lo, hi = min(lo, span[0]), max(hi, span[1])
        return found

    def count(self, text: str) -> tuple[str, int]:
        """``text`` redacted, and how many masks were put in."""
        found = self.spans(text)
        return (_splice(text, found, MASK), len(found)) if found else (text, 0)

    def count_all(self, texts: Sequence[str]) -> list[tuple[str, int]]:
        """``count`` of each text: one call for a batch (a matcher that asks the agent
        makes one round trip for all of them)."""
        return [self.count(text) for text in texts]

    def text(self, text: str) -> str:
        return self.count(text)[0]

    def open_tail(self, text: str) -> int:
        """How many characters at the end of ``text`` (at most ``RUN - 1``) could begin
        a match that the next text completes: the longest suffix found inside some form
        of a registered value. Text ending in something no value holds (a newline,
        usually) gives 0, so a stream filter need not hold it back."""
        joined = self._joined
        if joined is None:
            with self._lock:
                forms = {f[0] for anchors in self._values.values() for _, f, _ in anchors}
                joined = self._joined = b"\0".join(forms)
        found = 0
        for k in range(1, min(RUN - 1, len(text)) + 1):
            if _utf8(text[-k:]) not in joined:
                break
            found = k
        return found

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` must be masked: sorted, merged ``(start, end)`` character
        ranges. ``count`` and ``text`` replace exactly these; the kernel's stream filter
        uses them to redact text that continues an earlier message."""
        if self._text is None:
            return []
        if text.isascii():  # the common case: byte offsets are character offsets
            return self._find(text.encode("ascii"))
        data, out, char, byte = _utf8(text), [], 0, 0
        for s, e in self._find(data):
            start = char + len(data[byte:s].decode("utf-8", "surrogatepass"))
            char, byte = start + len(data[s:e].decode("utf-8", "surrogatepass")), e
            out.append((start, char))
        return out

    def data(self, obj: Any) -> Any:
        """A copy of a JSON-like structure with every string redacted (``obj`` itself
        when nothing in it needs a mask)."""
        return obj if self._text is None or self._clean(obj) else self._walk(obj)

    def _clean(self, obj: Any) -> bool:
        """Whether no string of ``obj`` (key or value) holds a match, found with one
        scan: the strings long enough to hold one, joined by NUL, which no escape or
        entity takes in, so each string scans there as it does alone (its matches are
        found there too, possibly more). Most messages a kernel sends are clean: this
        spares them a scan per string and a copy."""
        strings: list[str] = []
        _strings(obj, strings, self._shortest)
        return not strings or not self._find(_utf8("\0".join(strings)))

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
        """A binary buffer with the same rule applied to its bytes (read as UTF-8)."""
        data = bytes(buf) if self._text is not None else b""
        found = self._find(data) if data else []
        return _splice(data, found, MASK.encode()) if found else buf

    def message(self, msg: dict[str, Any]) -> dict[str, Any]:
        """A message dict with content, metadata and buffers redacted."""
        if self._text is None:
            return msg
        out = dict(msg)
        for key in ("content", "metadata"):
            if key in out:
                out[key] = self.data(out[key])
        if out.get("buffers"):
            out["buffers"] = [self.buffer(b) for b in out["buffers"]]
        return out


# Re-executing this module (importlib.reload, %reload_ext) keeps the registered values.
redactor: Redactor = globals().get("redactor") or Redactor()


def register_value(value: str | None) -> bool:
    """Register a secret value with this process's redactor."""
    return redactor.register(value)
