"""Where a key lives: the environment, the OS keyring, or a key file.

One custody for both kinds of key (``Custody``, given a ``KeyKind``): the store's master
key (``KeyLocator`` below) and a team member's private key (``member_custody``). Lookup
order: the kind's environment variable (``ZINGY_NB_MASTER_KEY``); the OS keyring through
``keyring`` (service ``zingy-nb``, one entry per key); a 0600 key file beside the store,
used only when no keyring backend exists at all, and announced once per home when a key
file is really read or written. A keyring that exists but fails (locked, dismissed
prompt, D-Bus error) is an error, never a reason to fall back or to make a new key.

A rotation writes the new key as a *pending* entry first and promotes it only after the
store committed it, so a crash at any point leaves a key that opens every profile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .. import redact
from ..errors import KeyUnavailableError, StoreLockedError, ZingyError
from ..notices import announce_once
from ..paths import KEY_ENV, KEY_FILE
from . import locked
from .crypto import decode_key, encode_key
from .private_file import write_private

if TYPE_CHECKING:
    from ..store.base import Store

#: Beside the key file: the key-file notice was given for this store.
ANNOUNCED_FILE: Final = ".key-file-announced"

ENV_VAR: Final = KEY_ENV
LOCKED_WHERE: Final = "the agent (unlocked with the passphrase)"
SERVICE: Final = "zingy-nb"


@dataclass(frozen=True)
class MasterKey:
    """A key and where it came from; its repr never shows the key."""

    key: bytes = field(repr=False)
    source: str  # "env", "keyring", "file" or "locked"
    where: str


def env_key() -> MasterKey | None:
    """The key in ``ZINGY_NB_MASTER_KEY``, registered for redaction like any secret."""
    text = os.environ.get(ENV_VAR)
    if not text:
        return None
    redact.register_value(text)
    return MasterKey(decode_key(text, where=ENV_VAR), "env", ENV_VAR)


@dataclass(frozen=True)
class KeyKind:
    """What differs between kinds of key in custody: how messages name them."""

    name: str  # in keyring errors: "the master key", "your member key"
    error: type[ZingyError]  # raised for a key file that cannot be used
    file_label: str  # how errors name its file: "The key file"
    restore: str  # what to do when the key file cannot be read
    keyring_hint: str  # what to do when the keyring fails
    marker: str  # beside the file: its notice was given (once per home)
    topic: str  # ``announce_once`` topic
    notice: str  # the notice, with ``{path}`` for the key file


MASTER_KEY: Final = KeyKind(
    name="the master key",
    error=KeyUnavailableError,
    file_label="The key file",
    restore="Restore it from your key backup with `zingy-nb key import`.",
    keyring_hint=(
        "Unlock the keyring (for example log in to the desktop session or unlock "
        "gnome-keyring) and try again; zingy-nb never falls back to another key while a "
        "keyring exists."
    ),
    marker=ANNOUNCED_FILE,
    topic="key-file",
    notice=(
        "no OS keyring is available; the master key is kept in {path} (mode 0600). Anyone "
        "who can read that file and the store can read your secrets: prefer a keyring or "
        "ZINGY_NB_MASTER_KEY."
    ),
)


class _Keyring:
    """The OS keyring, imported only when a key must come from it (import is slow)."""

    def __init__(self, kind: KeyKind = MASTER_KEY) -> None:
        self.kind = kind
        self._backend: Any = None
        self._absent: bool | None = None

    def _load(self) -> None:
        if self._absent is not None:
            return
        import keyring
        from keyring.backends import fail, null

        try:
            backend = keyring.get_keyring()
        except Exception as exc:  # a broken PYTHON_KEYRING_BACKEND, for one
            raise KeyUnavailableError(
                f"The OS keyring could not be set up ({type(exc).__name__}: {exc}). "
                "Fix the keyring configuration, or set ZINGY_NB_MASTER_KEY."
            ) from None
        self._backend = backend
        self._absent = isinstance(backend, (fail.Keyring, null.Keyring))

    @property
    def absent(self) -> bool:
        """True only when no keyring backend exists at all (headless, CI)."""
        self._load()
        return bool(self._absent)

    @property
    def name(self) -> str:
        self._load()
        return f"OS keyring ({self._backend.name})"

    def _failed(self, what: str, exc: Exception) -> KeyUnavailableError:
        return KeyUnavailableError(
            f"The OS keyring failed to {what} {self.kind.name} ({type(exc).__name__}: "
            f"{exc}). {self.kind.keyring_hint}"
        )

    def _call(self, what: str, fn: Any, *args: str) -> Any:
        from keyring.errors import NoKeyringError

        try:
            return fn(SERVICE, *args)
        except NoKeyringError:
            self._absent = True
            return _NO_KEYRING
        except Exception as exc:
            raise self._failed(what, exc) from None

    def get(self, entry: str) -> str | object | None:
        self._load()
        return self._call("read", self._backend.get_password, entry)

    def set(self, entry: str, value: str) -> object:
        self._load()
        return self._call("save", self._backend.set_password, entry, value)

    def delete(self, entry: str) -> None:
        from keyring.errors import NoKeyringError, PasswordDeleteError

        self._load()
        try:
            self._backend.delete_password(SERVICE, entry)
        except (PasswordDeleteError, NoKeyringError):
            pass
        except Exception as exc:
            raise self._failed("delete", exc) from None


_NO_KEYRING: Final = object()


@dataclass(frozen=True)
class Kept:
    """A key's text and where it was kept; its repr never shows the text."""

    text: str = field(repr=False)
    source: str  # "keyring" or "file"
    where: str  # the keyring's name, or the file's path


class Custody:
    """Keeps one kind of key in the OS keyring (an entry per key) or, only where no
    keyring backend exists, in 0600 files in ``home``. The kind's environment variable
    is its locator's to read first; custody never writes one."""

    def __init__(self, home: Path, kind: KeyKind) -> None:
        self.home = Path(home)
        self.kind = kind
        self._keyring = _Keyring(kind)

    def uses_keyring(self) -> bool:
        return not self._keyring.absent

    def describe(self, path: Path) -> str:
        """Where a key is (or would be) kept when not in the environment; never the key."""
        if self.uses_keyring():
            return self._keyring.name
        return f"key file {path}"

    def _announce(self, path: Path) -> None:
        """Say where the key is, once per home rather than per process (a lab server and
        each of its kernels would repeat it): a marker beside the key file records that
        it was said. Called only once a key file was really read or written."""
        try:
            os.close(
                os.open(self.home / self.kind.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            )
        except OSError:  # said already (FileExistsError), or no folder
            return
        announce_once(self.kind.topic, self.kind.notice.format(path=path))

    def load(self, entry: str, path: Path) -> Kept | None:
        """The key kept under ``entry`` (keyring) or in ``path`` (file); None if absent."""
        if not self._keyring.absent:
            text = self._keyring.get(entry)
            if text is not _NO_KEYRING:
                if text is None:
                    return None
                return Kept(str(text), "keyring", self._keyring.name)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        if st.st_mode & 0o077:
            raise self.kind.error(
                f"{self.kind.file_label} {path} can be read by other users (mode "
                f"{st.st_mode & 0o777:o}). Run `chmod 600 {path}` and try again."
            )
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise self.kind.error(
                f"{self.kind.file_label} {path} cannot be read ({type(exc).__name__}). "
                f"{self.kind.restore}"
            ) from None
        self._announce(path)
        return Kept(text, "file", str(path))

    def save(self, entry: str, path: Path, text: str, *, replace: bool = True) -> Kept:
        """Keep ``text`` in the keyring, or in ``path`` where none exists.

        With ``replace=False`` a key file already at ``path`` wins and is returned
        instead, so processes creating one store at once all use one key.
        """
        if not self._keyring.absent:
            if self._keyring.set(entry, text) is not _NO_KEYRING:
                return Kept(text, "keyring", self._keyring.name)
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not write_private(path, text + "\n", replace=replace):
            existing = self.load(entry, path)
            if existing is None:
                raise self.kind.error(
                    f"{self.kind.file_label} {path} disappeared while it was being read. Try again."
                )
            return existing
        self._announce(path)
        return Kept(text, "file", str(path))

    def discard(self, entry: str, path: Path) -> None:
        if not self._keyring.absent:
            self._keyring.delete(entry)
        if self._keyring.absent:
            path.unlink(missing_ok=True)


class KeyLocator:
    """Reads and writes the master key of the store in ``home``."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self._custody = Custody(self.home, MASTER_KEY)

    @property
    def key_file(self) -> Path:
        return self.home / KEY_FILE

    def _file(self, pending: bool) -> Path:
        return self.home / (KEY_FILE + (".next" if pending else ""))

    @staticmethod
    def _entry(store_id: str, pending: bool) -> str:
        return f"store:{store_id}" + (":next" if pending else "")

    def uses_keyring(self) -> bool:
        return self._custody.uses_keyring()

    def describe(self) -> str:
        if env_key() is not None:
            return ENV_VAR
        if locked.is_locked(self.home):
            return f"locked key file {locked.locked_file(self.home)} (passphrase)"
        return self._custody.describe(self.key_file)

    @staticmethod
    def _key(kept: Kept, key: bytes | None = None) -> MasterKey:
        if key is None:
            key = decode_key(kept.text, where=kept.where)
        return MasterKey(key, kept.source, kept.where)

    def load(self, store_id: str, *, pending: bool = False) -> MasterKey | None:
        """The saved key of a store (or its pending rotation key); None if absent. A
        locked key is the agent's unlocked copy, else ``StoreLockedError``."""
        if locked.is_locked(self.home):
            if pending:
                return None  # a locked store keeps no pending key
            key = locked.unlocked(locked.locked_file(self.home))
            if key is None:
                raise StoreLockedError.for_store(str(self.home))
            return MasterKey(key, "locked", LOCKED_WHERE)
        kept = self._custody.load(self._entry(store_id, pending), self._file(pending))
        return None if kept is None else self._key(kept)

    def save(
        self, store_id: str, key: bytes, *, pending: bool = False, keep_existing: bool = False
    ) -> MasterKey:
        """Keep ``key`` for the store: in the keyring, or the key file where none exists.

        ``keep_existing`` is for a new store: a key file already in the home wins and is
        returned instead, so processes creating the store at once all use one key.
        """
        if locked.is_locked(self.home):
            raise KeyUnavailableError(
                f"The key of the store at {self.home} is locked with a passphrase, and a "
                "new key is not written under locked custody yet. Nothing was changed."
            )
        text = encode_key(key)
        kept = self._custody.save(
            self._entry(store_id, pending), self._file(pending), text, replace=not keep_existing
        )
        return self._key(kept, key if kept.text == text else None)

    def discard_pending(self, store_id: str) -> None:
        self._custody.discard(self._entry(store_id, True), self._file(True))

    def discard_unwrapped(self, store_id: str) -> None:
        """Remove every unwrapped copy of the key (keyring entries, key files): the
        locked key file holds it now."""
        for pending in (False, True):
            entry, path = self._entry(store_id, pending), self._file(pending)
            self._custody.discard(entry, path)
            path.unlink(missing_ok=True)  # one left from before a keyring existed too


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
    from ..store.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        return KeyLocator(home)
    return TeamKeyLocator(home, store.location)
