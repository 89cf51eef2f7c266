"""The keys: how a profile is sealed and opened, and with whose key.

One interface (``base.Vault``), two key models: the embedded store's master key
(``master``, kept by ``custody``) and a team store's member keys (``member``: key pairs
and wraps in ``member_keys``, custody in ``member_custody``, pinned keys in ``trust``).
Both seal with ``crypto.Cipher`` (``sealing``). Code outside this package uses the names
below; the store chooses the vault (``open_vault``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any, cast

from ..paths import MEMBER_KEY_ENV
from .base import KeyStatus, Vault
from .crypto import decode_key, encode_key, new_key
from .custody import ENV_VAR as MASTER_KEY_ENV
from .custody import MasterKey
from .locked import check_lock_after, is_locked, key_locked, lock_after
from .locked import check_new as check_passphrase
from .locked import holds as holds_unlocked_key
from .locked import stamp as locked_stamp
from .private_file import write_private

if TYPE_CHECKING:
    from pathlib import Path

    from ..store.base import Store
    from ..store.postgres_members import MemberKeyStore
    from .member_custody import member_key_forms
    from .member_keys import MemberKeyPair, MemberPublicKey
    from .trust import Trust

#: The member-key names, imported on first use: the member-key model pulls in more of
#: ``cryptography`` (X25519, Ed25519, HPKE) than the embedded store needs, and
#: ``%load_ext zingy_nb`` must stay quick (a kernel's start waits for it).
_MEMBER_NAMES = {
    "member_key_forms": "member_custody",
    "MemberKeyPair": "member_keys",
    "MemberPublicKey": "member_keys",
    "Trust": "trust",
}


def __getattr__(name: str) -> Any:
    module = _MEMBER_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


__all__ = [
    "MASTER_KEY_ENV",
    "MEMBER_KEY_ENV",
    "KeyStatus",
    "MasterKey",
    "MemberKeyPair",
    "MemberPublicKey",
    "Trust",
    "Vault",
    "check_lock_after",
    "check_passphrase",
    "decode_key",
    "encode_key",
    "holds_unlocked_key",
    "is_locked",
    "key_locked",
    "lock_after",
    "locked_stamp",
    "member_key_forms",
    "new_key",
    "open_vault",
    "write_private",
]


def open_vault(store: Store, home: Path) -> Vault:
    """The vault of ``store``, as the store says: member keys on a team store that has
    them, else the master key (``home`` holds the key file, pins and member keys). The
    store signs and checks allowances and its setting with it (``Store.signer``)."""
    vault: Vault
    if store.member_keys:
        from .member import MemberKeyVault

        vault = MemberKeyVault(cast("MemberKeyStore", store), home)
    else:
        from .master import MasterKeyVault

        vault = MasterKeyVault(store, home)
    store.signer = vault
    return vault
