"""Keeping a store URL's password out of what people see.

Both the URL handling (``url``) and the PostgreSQL backend (``postgres``) need this, and
neither should import the other for it.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlencode, urlsplit


def url_passwords(url: str) -> list[str]:
    """Every form of the password in a URL (userinfo or ``?password=``, raw and
    decoded), longest first, for scrubbing messages."""
    found: set[str] = set()
    try:
        parts = urlsplit(url)
        if parts.password:
            found |= {parts.password, unquote(parts.password)}
    except ValueError:
        return []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "password" and value:
            found.add(value)
    # the query value may also appear still percent-encoded in the URL itself
    found |= {unquote(v) for v in list(found)}
    return sorted((p for p in found if p), key=len, reverse=True)


def redact_url(url: str) -> str:
    """The URL as people may see it: no password, in the userinfo or the query."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<a store URL that cannot be parsed>"
    if ":" in host:
        host = f"[{host}]"
    user = f"{parts.username}@" if parts.username else ""
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"],
        safe="/",
    )
    return f"{parts.scheme}://{user}{host}{port}{parts.path}" + (f"?{query}" if query else "")


def scrub(text: str, url: str) -> str:
    """``text`` with the URL's password replaced, wherever a driver quoted it."""
    for password in url_passwords(url):
        text = text.replace(password, "***")
    return text
