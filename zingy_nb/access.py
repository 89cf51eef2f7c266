"""Notebook access: a notebook reads a profile only after the user allowed it.

- **Identity.** A kernel the Jupyter server starts for a notebook gets the notebook's
  absolute path in ``JPY_SESSION_NAME``. When the kernel extension loads it fixes this
  process's identity once: that path's ``realpath``, if it names an existing file. A
  rename while the kernel runs does not change it; ``%reload_ext`` does not re-read it.
  A process without one (a script, the CLI, the server, nbval or papermill kernels, a
  console, a kernel started by a runner, which sets ``ZINGY_NB_VIA``) is not checked.
- **The check** (``judge``) runs inside ``Profiles.secrets``, cold only: the profile
  keeps an allowance for this notebook (or had one under the path this kernel started
  with, before Jupyter moved it), or the store's ``notebook-access`` setting is ``off``.
  Either counts only if its MAC verifies (``Store.notebook_check`` checks it with the
  vault's key): a row written straight into the store is ignored, as if absent.
  Otherwise the shell's asker (the kernel's stdin channel, ``kernel.access_prompt``)
  asks the user: Allow records the allowance; Deny, any other answer or none within the
  time limit raises ``NotebookAccessError``, and nothing is remembered. Where nobody can
  be asked (a client that sends cells with stdin off) it is refused with the command
  that allows it. Asks, allows, denials and refusals are audited with the notebook.
- **Managing** allowances happens outside the notebook being judged: the CLI, the REST
  API, JupyterLab. The functions below refuse in a process with a notebook identity, so
  a notebook has no API to allow itself. On Linux widening goes through the agent
  (``agent.widening``), which refuses a registered kernel and every process it started,
  judged from process ancestry. Code that can read the key itself can still sign.
- **Following.** The server reports renames and deletions through Jupyter
  (``follow_contents_event``): allowances move with a notebook or folder, and go with it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from .audit import audit_log
from .errors import InvalidProfileError, NotebookAccessError
from .paths import SESSION_ENV, identity_from_env, resolve
from .rules import validate_name
from .store.base import ACCESS_OFF, ACCESS_SETTINGS, Allowance, Transaction, utcnow

if TYPE_CHECKING:
    from .profiles import Profiles

# What an asker answers.
ALLOW: Final = "allow"
DENY: Final = "deny"
NO_ANSWER: Final = "no-answer"

# Audit outcomes (beside ``retrieved`` and ``refused``).
ASKED: Final = "asked"
ALLOWED: Final = "allowed"
DENIED: Final = "denied"
UNANSWERED: Final = "unanswered"
NOT_ALLOWED: Final = "not-allowed"

# How an allowance came to be (``Allowance.how``).
HOW_PROMPT: Final = "prompt"
HOW_CREATED: Final = "created"


class Asker(Protocol):
    """What a shell offers the check: whether someone can be asked now, and asking."""

    timeout: float

    def can_ask(self) -> bool: ...

    def ask(self, name: str, notebook: str) -> str:
        """``ALLOW``, ``DENY`` or ``NO_ANSWER`` (after ``timeout`` seconds)."""
        ...


class _AccessState:
    """Per-process state; one instance for the life of the process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ask_lock = threading.Lock()  # one question at a time
        self.decided = False
        self.notebook: str | None = None
        self.session_name: str | None = None
        self.started: datetime = utcnow()
        self.asker: Asker | None = None


# Re-executing this module (importlib.reload, %reload_ext) keeps the process's state.
_state: _AccessState = globals().get("_state") or _AccessState()


def init_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """Fix this process's notebook identity, once; returns it."""
    with _state.lock:
        if not _state.decided:
            env = os.environ if environ is None else environ
            _state.notebook = identity_from_env(env)
            _state.session_name = env.get(SESSION_ENV) or None
            _state.started = utcnow()
            _state.decided = True
        return _state.notebook


def notebook() -> str | None:
    """This process's notebook identity (None: not checked)."""
    return _state.notebook


def where() -> str | None:
    """The notebook to name in audit entries: the identity, else the raw session name."""
    return _state.notebook or _state.session_name


def set_asker(asker: Asker | None) -> None:
    _state.asker = asker


def created(txn: Transaction, name: str) -> None:
    """A profile was created in this process: its notebook, if any, may read it."""
    if _state.notebook is not None:
        txn.allow_notebook(name, _state.notebook, HOW_CREATED)


def judge(profiles: Profiles, name: str, nb: str) -> None:
    """Return if ``nb`` may read ``name`` now (asking if it must); else raise
    ``NotebookAccessError``. Never called with a lock held: asking may take a while."""
    store = profiles.store
    check = store.notebook_check(name, nb, _state.started)
    if not check.exists or check.allowed or check.setting == ACCESS_OFF:
        return
    with _state.ask_lock:
        check = store.notebook_check(name, nb, _state.started)  # answered meanwhile?
        if not check.exists or check.allowed or check.setting == ACCESS_OFF:
            return
        asker = _state.asker
        if asker is None or not asker.can_ask():
            audit_log.noted(profiles, name, NOT_ALLOWED)
            raise NotebookAccessError.for_notebook(
                name,
                nb,
                "it was never allowed, and nobody can be asked here (this client runs "
                "cells with stdin off, as nbclient, papermill and nbval do)",
            )
        audit_log.noted(profiles, name, ASKED)
        answer = asker.ask(name, nb)
        if answer == ALLOW:
            store.allow(name, nb, HOW_PROMPT)
            audit_log.noted(profiles, name, ALLOWED)
            return
        if answer == NO_ANSWER:
            audit_log.noted(profiles, name, UNANSWERED)
            why = f"nobody answered within {asker.timeout:g} s"
        else:
            audit_log.noted(profiles, name, DENIED)
            why = "it was denied (a denial is not remembered: the next run asks again)"
        raise NotebookAccessError.for_notebook(name, nb, why)


# -- managing allowances, from outside the notebook ---------------------------------------
def _outside() -> None:
    if _state.notebook is not None:
        raise NotebookAccessError(
            "Allowances are managed outside the notebook they judge: use `zingy-nb "
            "profiles allow|disallow` in a terminal, or JupyterLab. Nothing was changed."
        )


def notebook_path(notebook: str) -> str:
    """A notebook named by a person (relative to the current folder), as kept."""
    if not notebook or "\0" in notebook:
        raise InvalidProfileError("A notebook path is needed (a file name or a full path).")
    return resolve(notebook)


def allow(profiles: Profiles, name: str, notebook: str, how: str) -> tuple[str, bool]:
    """Allow ``notebook`` (resolved like an identity) to read ``name``; returns the path
    kept and whether it is new."""
    _outside()
    path = notebook_path(notebook)
    return path, profiles.store.allow(validate_name(name), path, how)


def disallow(
    profiles: Profiles, name: str, notebook: str, role: str | None = None
) -> tuple[str, bool]:
    """Remove an allowance; returns the path and whether there was one."""
    _outside()
    path = notebook_path(notebook)
    return path, profiles.store.disallow(validate_name(name), path, role)


def allowances(profiles: Profiles, name: str | None = None) -> list[Allowance]:
    return profiles.store.allowances(None if name is None else validate_name(name))


def setting(profiles: Profiles) -> str:
    return profiles.store.access_setting()


def set_setting(profiles: Profiles, value: str) -> None:
    _outside()
    if value not in ACCESS_SETTINGS:
        raise InvalidProfileError(f"notebook-access is {' or '.join(ACCESS_SETTINGS)}.")
    profiles.store.set_access_setting(value)


def follow_contents_event(profiles: Profiles, root: str, data: Mapping[str, Any]) -> int:
    """Apply one Jupyter contents event (root-relative paths) to the allowances; returns
    how many changed. A copy is another notebook: it is asked on its own."""
    action, path = data.get("action"), data.get("path")
    if not isinstance(path, str):
        return 0
    if action == "rename" and isinstance(data.get("source_path"), str):
        old = resolve(str(data["source_path"]).strip("/"), root)
        return profiles.move_notebooks(old, resolve(path.strip("/"), root))
    if action == "delete":
        return profiles.forget_notebooks(resolve(path.strip("/"), root))
    return 0
