"""What widens access, done by the agent for a person, never for a kernel.

Allowing a notebook to read a profile, turning the notebook-access check ``off``,
exporting or importing a key and granting a role access widen what code can read; so
they are accepted only from a process that is not a registered kernel nor one of its
descendants, judged from the peer's process ancestry (``SO_PEERCRED`` and ``/proc``:
``Capabilities._enclosing``), never from anything the peer says or has in its
environment. Narrowing (disallow, ``ask``, revoke) is accepted from anyone. The agent
signs what it writes (the vault's MAC), so a row a kernel writes straight into the store
counts for nothing. A child of an unconfined kernel that double-forks away from it is no
longer seen as its descendant (docs/agent.md lists that gap); in a confined kernel it
stays one (docs/confinement.md). Setting a passphrase (protect, rotate) and unlocking are
a person's too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import access
from ..errors import (
    InvalidProfileError,
    PassphraseError,
    WideningRefusedError,
    WrongPassphraseError,
)
from ..rules import validate_name
from ..store.base import ACCESS_OFF, LEVELS
from ..vault import check_lock_after

if TYPE_CHECKING:
    from collections.abc import Callable

    from .ops import Agent

#: How an allowance says it came to be; anything else a client sends is "cli".
_HOW = ("cli", "rest")


def _from_a_person(agent: Agent, peer_pid: int, what: str) -> None:
    """Raise unless ``peer_pid`` is outside every kernel the agent registered."""
    kernel = agent.kernels._enclosing(peer_pid)
    if kernel is not None:
        agent.log(f"refused {what.lower()} to pid {peer_pid}, under kernel {kernel.proc.pid}")
        raise WideningRefusedError.for_action(what)


def _text(request: dict[str, Any], field: str) -> str:
    value = request.get(field)
    if not isinstance(value, str) or not value or "\0" in value:
        raise InvalidProfileError(f"The request needs {field} as text; nothing was changed.")
    return value


def _name(request: dict[str, Any]) -> str:
    return validate_name(_text(request, "name"))


def allow(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    _from_a_person(agent, peer_pid, "Allowing a notebook to read a profile")
    how = request.get("how") if request.get("how") in _HOW else "cli"
    notebook = _text(request, "notebook")
    if not notebook.startswith("/"):
        raise InvalidProfileError("The agent takes a notebook's absolute path; nothing changed.")
    with agent._lock:
        path, new = access.allow(agent.profiles, _name(request), notebook, str(how))
    agent.log(f"allowed a notebook for pid {peer_pid}")
    return {"path": path, "new": new}


def disallow(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    role = request.get("role")
    if role is not None and not isinstance(role, str):
        raise InvalidProfileError("A role is text; nothing was changed.")
    notebook = _text(request, "notebook")
    if not notebook.startswith("/"):
        raise InvalidProfileError("The agent takes a notebook's absolute path; nothing changed.")
    with agent._lock:
        path, removed = access.disallow(agent.profiles, _name(request), notebook, role)
    return {"path": path, "removed": removed}


def follow(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    """A notebook or folder renamed (``new``) or deleted (``new`` null) in Jupyter: its
    allowances move with it, or go. A move widens what the new path may read."""
    old, new = _text(request, "old"), request.get("new")
    if new is not None:
        new = _text(request, "new")
    if not old.startswith("/") or not (new is None or new.startswith("/")):
        raise InvalidProfileError("The agent takes notebooks' absolute paths; nothing changed.")
    if new is not None:
        _from_a_person(agent, peer_pid, "Moving a notebook's allowances")
    with agent._lock:
        count = (
            agent.profiles.move_notebooks(old, new)
            if new is not None
            else agent.profiles.forget_notebooks(old)
        )
    return {"count": count}


def set_setting(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    value = _text(request, "value")
    if value == ACCESS_OFF:
        _from_a_person(agent, peer_pid, "Turning notebook-access off")
    with agent._lock:
        access.set_setting(agent.profiles, value)
    return {"value": value}


def export_key(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    _from_a_person(agent, peer_pid, "Exporting the master key")
    with agent._lock:
        text = agent.profiles.export_key()
    agent.log(f"exported the key for pid {peer_pid}")
    return {"key": text}


def import_key(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    _from_a_person(agent, peer_pid, "Importing a master key")
    text = request.get("key")
    if not isinstance(text, str):
        raise InvalidProfileError("The key to import is text; nothing was changed.")
    with agent._lock:
        saved = agent.profiles.import_key(text)
    return {"where": saved.where}


def _passphrase(request: dict[str, Any]) -> str:
    text = request.get("passphrase")
    if not isinstance(text, str) or not text or "\0" in text:
        raise PassphraseError("A passphrase is text, not empty; nothing was changed.")
    return text


def protect(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    """Lock the store's key with a passphrase; this agent keeps it unlocked. A kernel
    may not: it would choose the passphrase that opens every profile."""
    _from_a_person(agent, peer_pid, "Protecting the key with a passphrase")
    passphrase = _passphrase(request)
    after = check_lock_after(request.get("lock_after"))
    with agent._lock:
        where = agent.profiles.protect_key(passphrase, after)
    agent.log(f"protected the key for pid {peer_pid}")
    return {"where": where}


def _typed(agent: Agent, peer_pid: int, call: Callable[[], str]) -> str:
    """``call()``, which checks a typed passphrase, under the agent's lock; a wrong one
    is logged (who, never the text) and raised."""
    with agent._lock:
        try:
            return call()
        except WrongPassphraseError:
            agent.log(f"a wrong passphrase from pid {peer_pid}")
            raise


def rotate(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    """Re-encrypt under a new key, locked with the passphrase (checked) where the key is
    locked. A kernel may not: it would choose the passphrase of the new key."""
    _from_a_person(agent, peer_pid, "Rotating the key")
    passphrase = None if request.get("passphrase") is None else _passphrase(request)
    key_id = _typed(agent, peer_pid, lambda: agent.profiles.rotate_key(passphrase))
    agent.log(f"rotated the key for pid {peer_pid}")
    return {"key_id": key_id}


def unlock(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    """Unwrap the locked key into this agent (a person typed the passphrase)."""
    _from_a_person(agent, peer_pid, "Unlocking the key")
    passphrase = _passphrase(request)
    key_id = _typed(agent, peer_pid, lambda: agent.profiles.unlock(passphrase))
    agent.log(f"unlocked for pid {peer_pid}")
    agent.frontends.settle_unlock()  # retrievals waiting for it go on
    return {"key_id": key_id}


def lock(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    """Forget the unlocked key: it narrows, so anyone who reaches the agent may."""
    was = agent.lock()
    agent.log(f"locked for pid {peer_pid}")
    return {"was_unlocked": was}


def grant(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    _from_a_person(agent, peer_pid, "Granting a role access to a profile")
    level = request.get("level")
    if level not in LEVELS:
        raise InvalidProfileError(f"A level is {', '.join(LEVELS)}; nothing was changed.")
    with agent._lock:
        agent.profiles.store.grant(_name(request), _text(request, "role"), str(level))
        agent.profiles._changed()
    return {}


def revoke(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    with agent._lock:
        revoked = agent.profiles.store.revoke(_name(request), _text(request, "role"))
        agent.profiles._changed()
    return {"revoked": revoked, "member_keys": agent.profiles.vault.kind == "member"}


def person(agent: Agent, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
    """Whether the caller may widen what it does itself (publishing or trusting a
    member key): refused under a kernel, as the ops above."""
    what = request.get("what")
    _from_a_person(agent, peer_pid, what if what in _PERSONAL else "Widening access")
    return {}


#: What a CLI command may name in ``person`` (anything else is not quoted back).
_PERSONAL = ("Publishing a member key", "Trusting a member's key")


OPS = {
    "person": person,
    "allow": allow,
    "disallow": disallow,
    "follow": follow,
    "set_setting": set_setting,
    "export_key": export_key,
    "import_key": import_key,
    "grant": grant,
    "revoke": revoke,
    "protect": protect,
    "rotate": rotate,
    "unlock": unlock,
    "lock": lock,
}
