"""``zingyConn``: what a Zingy Cloud Flow custom-code block calls, in Python.

``zingyConn.apikey(name)`` returns a read-only ``KeyInfo`` around the gated core call
``Profiles.secrets``; outside cloud-flow that raises ``CloudFlowOnlyError``. This is the
hot path of user code: a warm call is a flow check, a cheap change check and
dictionary look-ups.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .. import flow
from ..agent import hook as agent_hook
from ..errors import UnknownCommandError, ZingyError
from ..paths import CAP_ENV, ERROR_ENV, HOME_ENV, URL_ENV
from ..rules import SLOTS, Secrets

if TYPE_CHECKING:
    from ..profiles import Profiles

COMMANDS: Final = ("Retrieve",)
ACTION: Final = "zingyConn.apikey()"


class KeyInfo(Mapping[str, "str | None"]):
    """The secrets of one profile: ``keyInfo.secret1`` or ``keyInfo["secret1"]``.

    Unset optional slots are ``None``. Read-only, and its repr never shows a value.
    """

    __slots__ = ("_name", "_values")
    _name: str
    _values: Secrets

    def __init__(self, name: str, values: Secrets) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_values", values)

    @property
    def name(self) -> str:
        return self._name

    @property
    def secret1(self) -> str:
        return self._values[0]  # type: ignore[return-value]

    @property
    def secret2(self) -> str | None:
        return self._values[1]

    @property
    def secret3(self) -> str | None:
        return self._values[2]

    @property
    def secret4(self) -> str | None:
        return self._values[3]

    def __getitem__(self, slot: str) -> str | None:
        try:
            return self._values[SLOTS.index(slot)]
        except ValueError:
            raise KeyError(f"KeyInfo has no {slot!r}; the slots are {', '.join(SLOTS)}.") from None

    def __iter__(self) -> Iterator[str]:
        return iter(SLOTS)

    def __len__(self) -> int:
        return len(SLOTS)

    def __setattr__(self, attr: str, value: object) -> None:
        raise AttributeError("KeyInfo is read-only.")

    def __delattr__(self, attr: str) -> None:
        raise AttributeError("KeyInfo is read-only.")

    def __reduce__(self) -> Any:
        raise TypeError("KeyInfo cannot be pickled: it would write secrets out.")

    def __repr__(self) -> str:
        slots = ", ".join(
            f"{slot}=<{'set' if value is not None else 'unset'}>"
            for slot, value in zip(SLOTS, self._values)
        )
        return f"KeyInfo({self._name!r}, {slots})"

    __str__ = __repr__


def _remote(home: Path, url: str) -> Profiles:
    from ..agent.remote import RemoteProfiles  # on first use: cryptography and all

    return RemoteProfiles(home, url=url)


def _stated(home: Path, url: str) -> Profiles:
    from ..agent.remote import RemoteProfiles

    return RemoteProfiles(home, url=url, stated=True)


def use_agent_if_launched() -> None:
    """In a process a zingy launcher started (a kernel, or a process it started), every
    ``get_profiles()`` store asks the agent for what needs a key. Cheap: nothing heavy
    is imported until a store is opened."""
    if agent_hook.factory is None and (os.environ.get(CAP_ENV) or os.environ.get(ERROR_ENV)):
        agent_hook.factory = _remote


def use_agent_in_kernel() -> None:
    """In a kernel (launched or not, on Linux): every store asks the agent. A kernel no
    launcher started registers itself, stating its flow and notebook (``agent.stated``)."""
    use_agent_if_launched()
    if agent_hook.factory is None and sys.platform.startswith("linux"):
        agent_hook.factory = _stated


#: Called with each newly retrieved ``KeyInfo`` (the kernel extension names values too
#: short to be redacted in the kernel log; the core has registered the values already).
RetrievalHook = Callable[[KeyInfo], None]


class ZingyConn:
    """The API Key service as Zingy custom code sees it."""

    def __init__(self, profiles: Profiles | None = None) -> None:
        self._fixed = profiles
        self._where: tuple[str | None, str | None] | None = None
        self._profiles: Profiles | None = profiles
        self._cache: dict[str, KeyInfo] = {}
        self.hooks: list[RetrievalHook] = []

    def _store(self) -> Profiles:
        if self._fixed is not None:
            return self._fixed
        where = (os.environ.get(HOME_ENV), os.environ.get(URL_ENV))
        if self._profiles is None or where != self._where:
            # Imported here: the store and cryptography load on first use, not at
            # extension load (kernel start).
            from ..profiles import get_profiles

            use_agent_if_launched()  # a launched kernel's child: its kernel's capability
            from ..agent.person import serve_locked_stores

            serve_locked_stores()  # a script on a locked store: through the agent
            self._profiles, self._where = get_profiles(), where
            self._cache.clear()
        return self._profiles

    def apikey(self, name: str) -> KeyInfo:
        """Retrieve profile ``name`` (cloud-flow only: the core call it wraps refuses
        anywhere else)."""
        try:
            profiles = self._store()
        except ZingyError:
            flow.require_cloud_flow(ACTION)  # outside cloud-flow the refusal comes first
            raise
        values = profiles.secrets(name, caller=ACTION)
        cached = self._cache.get(name)
        if cached is not None and cached._values is values:
            return cached
        info = KeyInfo(name, values)
        self._cache[name] = info
        for hook in self.hooks:
            hook(info)
        return info

    def execute(self, name: str, command: str, data: object = None) -> KeyInfo:
        """Zingy's Execute Connection Command block; the API Key service has ``Retrieve``."""
        if command not in COMMANDS:
            raise UnknownCommandError(
                f"The API Key service has no command {command!r}; the supported "
                f"command is {', '.join(repr(c) for c in COMMANDS)}."
            )
        return self.apikey(name)

    def __repr__(self) -> str:
        return f"<zingyConn: API Key service; flow mode {flow.describe()}>"


zingyConn = ZingyConn()
