"""Which store a process uses: the embedded SQLite file, or a team store by URL.

``ZINGY_NB_STORE_URL=postgresql://...`` (or a ``url`` given by an entry point, such as
the server's trait) puts ``Profiles`` on a PostgreSQL team store; without it the
embedded store in ``ZINGY_NB_HOME`` stays the default. The driver (psycopg 3, the
``postgres`` extra) is imported only when such a URL is used. A team store has no
master key: each member has their own (``vault.member``). A URL's password never
leaves this module: ``Store.location`` and every message use ``redact_url``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from ..errors import StoreError
from ..paths import STORE_FILE, URL_ENV
from .base import Store
from .url_password import redact_url

POSTGRES_SCHEMES: Final = ("postgresql", "postgres")


def store_url() -> str | None:
    """``ZINGY_NB_STORE_URL``, or None when it is unset or empty."""
    return os.environ.get(URL_ENV) or None


def open_store(url: str | None, home: Path) -> Store:
    """The store for ``url`` (a ``postgresql://`` URL), or the embedded one in ``home``."""
    if not url:
        from .sqlite import SQLiteStore

        return SQLiteStore(Path(home) / STORE_FILE)
    scheme = url.split(":", 1)[0].lower()
    if scheme not in POSTGRES_SCHEMES:
        raise StoreError(
            f"{URL_ENV} must be a postgresql:// URL, not {redact_url(url)!r}. Unset it "
            "to use the embedded store."
        )
    from .postgres_members import MemberKeyStore

    # Every team store has member keys (schema 3 on): a store still at the shared-key
    # schema answers "run `zingy-nb store upgrade`" at its first use.
    return MemberKeyStore(url)
