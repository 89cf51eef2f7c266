"""Which store a process uses: the embedded SQLite file, or a team store by URL.

``ZINGY_NB_STORE_URL=postgresql://...`` (or a ``url`` given by an entry point, such as
the server's trait) puts ``Profiles`` on a PostgreSQL team store; without it the
embedded store in ``ZINGY_NB_HOME`` stays the default. The driver (psycopg 3, the
``postgres`` extra) is imported only when such a URL is used. A team store has no
master key: each member has their own (``team_vault``). A URL's password never
leaves this module: ``Store.location`` and every message use ``redact_url``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from ..errors import KeyUnavailableError, StoreError
from ..paths import STORE_FILE, URL_ENV
from ..vault.custody import ENV_VAR, KeyLocator, MasterKey
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


class TeamKeyLocator(KeyLocator):
    """The old shared master key of a team store made before member keys, read only to
    convert it (``zingy-nb store upgrade``): ``ZINGY_NB_MASTER_KEY`` or the OS keyring,
    never a file. A key file "beside the store" has no meaning for a database server,
    and one left in a home folder would be the whole team's key on disk.
    """

    def __init__(self, home: Path, location: str) -> None:
        super().__init__(home)
        self.location = location

    def describe(self) -> str:
        described = super().describe()
        if described.startswith("key file"):
            return f"{ENV_VAR} (no OS keyring here; a team store never uses a key file)"
        return described

    def load(self, store_id: str, *, pending: bool = False) -> MasterKey | None:
        if not self.uses_keyring():
            return None
        return super().load(store_id, pending=pending)

    def save(
        self, store_id: str, key: bytes, *, pending: bool = False, keep_existing: bool = False
    ) -> MasterKey:
        if not self.uses_keyring():
            raise KeyUnavailableError(
                f"The team store at {self.location} needs its key in {ENV_VAR} or an OS "
                "keyring; zingy-nb never writes a team key to a file. Set "
                f"{ENV_VAR} (for example in the JupyterHub spawner environment)."
            )
        return super().save(store_id, key, pending=pending, keep_existing=keep_existing)

    def discard_pending(self, store_id: str) -> None:
        if self.uses_keyring():
            super().discard_pending(store_id)


def key_locator(store: Store, home: Path) -> KeyLocator:
    """Where the key of ``store`` lives: team stores never fall back to a key file."""
    from .sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        return KeyLocator(home)
    return TeamKeyLocator(home, store.location)
