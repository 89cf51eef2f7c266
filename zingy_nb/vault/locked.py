"""Locked custody: a key kept only wrapped with a passphrase.

``zingy-nb key protect`` wraps the store's master key (on a team store, the member's
own key: ``member-ROLE.key.locked``) with a key derived from a passphrase (Scrypt from
``cryptography``: memory-hard, with the parameters OWASP gives for interactive logins,
N=2^17, r=8, p=1) under AES-256-GCM, writes the result beside the
store (``master.key.locked``, 0600) and removes every unwrapped copy (key file, keyring
entry). From then on the key exists unwrapped only in the memory of the store's agent,
after ``zingy-nb unlock`` (or JupyterLab's Unlock dialog) gave it the passphrase, and
until ``zingy-nb lock``. What this module keeps in memory (``remember``) is that agent's
copy; any other process finds the store locked (``StoreLockedError``).

The wrapped file names its format, the KDF and its parameters, what the key is bound
to (the store id; a member key's keyring entry) and the lock-after setting; all of it is
associated data, so a file copied to another store, or edited to weaker parameters or
another setting, fails to unwrap like a wrong passphrase. The functions below take the
locked file's path; ``locked_file(home)`` is the master key's.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import KeyUnavailableError, PassphraseError, WrongPassphraseError
from ..paths import KEY_FILE
from .crypto import KEY_BYTES, NONCE_BYTES
from .private_file import write_private

LOCKED_SUFFIX: Final = ".locked"
LOCKED_FILE: Final = KEY_FILE + LOCKED_SUFFIX
FORMAT: Final = "zingy-nb-locked-key/v1"
#: OWASP Password Storage Cheat Sheet, scrypt for interactive use: N=2^17, r=8, p=1.
SCRYPT_N: Final = 2**17
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SALT_BYTES: Final = 16
#: Fewer characters than this are refused by ``protect`` (a KDF slows guessing, it
#: cannot make a short passphrase long).
MIN_PASSPHRASE: Final = 8


def locked_file(home: Path) -> Path:
    """The locked file of the master key of the store in ``home``."""
    return Path(home) / LOCKED_FILE


def pending_file(path: Path) -> Path:
    """Where a rotation keeps the new key, wrapped, until the store has committed it."""
    return path.with_name(path.name + ".next")


def is_locked(home: Path) -> bool:
    """Whether the store in ``home`` keeps its master key locked with a passphrase."""
    return locked_file(home).exists()


def _member_files(home: Path) -> list[Path]:
    """The locked member keys in ``home`` (one per role)."""
    return list(Path(home).glob("member*" + LOCKED_SUFFIX))


def member_locked(home: Path) -> bool:
    """Whether a member key in ``home`` is kept locked (some role's)."""
    return bool(_member_files(home))


def key_locked(home: Path, team: bool) -> bool:
    """Whether the key the store uses is kept locked: on a team store (``team``) the
    member's, else the master key."""
    return member_locked(home) if team else is_locked(home)


@dataclass(frozen=True)
class _Wrapped:
    store_id: str
    n: int
    r: int
    p: int
    salt: bytes
    nonce: bytes
    wrapped: bytes
    lock_after: float | None = None  # seconds without use after which the agent locks

    def header(self) -> bytes:
        """What the AEAD binds: everything but the nonce and the ciphertext."""
        fields = [FORMAT, self.store_id, "scrypt", self.n, self.r, self.p, _b64(self.salt)]
        return json.dumps([*fields, self.lock_after]).encode("utf-8")

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "store_id": self.store_id,
            "kdf": {"name": "scrypt", "n": self.n, "r": self.r, "p": self.p},
            "salt": _b64(self.salt),
            "nonce": _b64(self.nonce),
            "wrapped": _b64(self.wrapped),
            "lock_after": self.lock_after,
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _kek(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=KEY_BYTES, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def check_new(passphrase: str) -> None:
    """Refuse a passphrase too short to protect a key."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise PassphraseError(
            f"A passphrase that protects the store's key needs at least {MIN_PASSPHRASE} "
            "characters (a few words are easiest to type and to remember). Nothing was "
            "changed."
        )


def check_lock_after(seconds: object) -> float | None:
    """``seconds`` as a lock-after setting (None: never), or ``PassphraseError``."""
    if seconds is None:
        return None
    if (
        not isinstance(seconds, (int, float))
        or isinstance(seconds, bool)
        or not (1 <= seconds <= 366 * 86400)
    ):
        raise PassphraseError(
            "--lock-after is a number of seconds from 1 to a year; nothing was changed."
        )
    return float(seconds)


def protect(
    path: Path, bound: str, key: bytes, passphrase: str, lock_after: float | None = None
) -> Path:
    """Write ``key`` wrapped with ``passphrase`` to ``path``, bound to ``bound`` (the
    store id); returns ``path``. Atomic, 0600. ``lock_after``: seconds without use after
    which the agent forgets it (None: never)."""
    check_new(passphrase)
    lock_after = check_lock_after(lock_after)
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    draft = _Wrapped(bound, SCRYPT_N, SCRYPT_R, SCRYPT_P, salt, nonce, b"", lock_after)
    kek = _kek(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    done = replace(draft, wrapped=AESGCM(kek).encrypt(nonce, key, draft.header()))
    write_private(path, json.dumps(done.to_json(), indent=1) + "\n")
    return path


def _read(path: Path) -> _Wrapped:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        kdf = data["kdf"]
        if data["format"] != FORMAT or kdf["name"] != "scrypt":
            raise ValueError(data["format"])
        return _Wrapped(
            str(data["store_id"]),
            int(kdf["n"]),
            int(kdf["r"]),
            int(kdf["p"]),
            base64.urlsafe_b64decode(data["salt"]),
            base64.urlsafe_b64decode(data["nonce"]),
            base64.urlsafe_b64decode(data["wrapped"]),
            None if data.get("lock_after") is None else float(data["lock_after"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyUnavailableError(
            f"The locked key file {path} cannot be read ({type(exc).__name__}). Restore "
            "it from a backup, or import the key from a `zingy-nb key export` backup."
        ) from None


def unwrap(path: Path, bound: str, passphrase: str, length: int | None = KEY_BYTES) -> bytes:
    """The key the passphrase unwraps; ``WrongPassphraseError`` if it does not.
    ``length``: the key's, checked (None: any)."""
    found = _read(path)
    if not (2**14 <= found.n <= 2**22 and found.r >= 1 and found.p >= 1):
        raise KeyUnavailableError(
            f"The locked key file {path} names Scrypt parameters zingy-nb does not use; "
            "it was altered. Restore it from a backup."
        )
    try:
        kek = _kek(passphrase, found.salt, found.n, found.r, found.p)
        key = AESGCM(kek).decrypt(found.nonce, found.wrapped, found.header())
    except (InvalidTag, ValueError):
        key = b""
    if found.store_id != bound or not key or (length is not None and len(key) != length):
        raise WrongPassphraseError(
            f"That passphrase does not unlock the key in {path}. Nothing changed; the "
            "attempt is in the audit log (`zingy-nb audit`). Try again."
        )
    return key


def stamp(home: Path) -> int | None:
    """When a key in ``home`` was last locked (the latest locked file's mtime), or None:
    none is locked. Kernels drop what they hold when it changes."""
    times = []
    for path in (locked_file(home), *_member_files(home)):
        with contextlib.suppress(OSError):
            times.append(path.stat().st_mtime_ns)
    return max(times, default=None)


def touch(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.utime(path)


def lock_after(path: Path) -> float | None:
    """The locked key's lock-after setting, in seconds (None: never, or not locked).
    Bound into the wrapping: an edited value makes the file fail to unlock."""
    return _read(path).lock_after if path.exists() else None


# -- the agent's unlocked copy ----------------------------------------------------------
_lock = threading.Lock()
_unlocked: dict[Path, bytes] = {}


def remember(path: Path, key: bytes) -> None:
    with _lock:
        _unlocked[Path(path)] = key


def forget(path: Path) -> bool:
    """Drop the unlocked key of the locked file ``path``; whether there was one."""
    with _lock:
        return _unlocked.pop(Path(path), None) is not None


def holds(path: Path) -> bool:
    """Whether this process holds the key of ``path`` unlocked (the agent, unlocked)."""
    return unlocked(path) is not None


def unlocked(path: Path) -> bytes | None:
    with _lock:
        return _unlocked.get(Path(path))
