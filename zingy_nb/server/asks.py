"""This server as the agent's front end: the agent's consent questions, for JupyterLab.

At start a background thread connects to the agent of the server's store (starting it
if needed; never delaying the server's start), registers as its front end and mirrors
the open questions. Once connected, a lost connection is retried without starting an
agent: when the agent restarts (a kernel's launcher starts it again), the server
reconnects; an agent stopped on purpose stays stopped. The server shuts the connection
on stop. Linux only: elsewhere kernels keep asking on their stdin.

REST, under ``<base_url>/zingy-nb/api/``:

- ``GET asks``: ``{"connected", "asks": [{"id", "kind", "profile", "notebook",
  "path"}]}``, ``kind`` ``access`` (may the notebook read the profile?) or ``unlock``
  (a retrieval waits for the store's key, locked with a passphrase; the rest null),
  ``path`` the notebook below the server's root (null outside it);
- ``POST asks/{id}`` with ``{"answer": "allow"|"deny"}``: 204, or 404 when the question
  is no longer open. Answering is a person's act: only a browser session may
  (cookie-authenticated, XSRF-checked). A token-authenticated request, which a kernel
  can make with the server's token and which jupyter_server exempts from the XSRF
  check, gets 403 and the question stays open.
- ``POST unlock`` with ``{"passphrase": "..."}``: 204 once the agent unlocked the key
  (waiting retrievals go on), 403 for a wrong passphrase (audited by the agent) or a
  token-authenticated request, as for answers.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from tornado import web

from ..agent.client import AgentClient, FrontEndLink, connect, ensure_agent
from ..agent.harden import supported
from ..agent.location import StoreLocation
from ..errors import (
    AgentUnavailableError,
    InvalidProfileError,
    NotebookAccessError,
    PassphraseError,
    ZingyError,
)
from .config import SETTINGS_KEY, ZingyNb
from .handlers import ZingyAPIHandler
from .store import location_of

#: Key of the ``AgentAsks`` instance in ``web_app.settings``.
ASKS_KEY: Final = "zingy_nb_asks"
#: Seconds between attempts to reach the agent, at first and at most.
RETRY_FIRST: Final = 0.5
RETRY_MAX: Final = 2.0
TOKEN_REFUSED = (
    "Notebook-access questions are answered by a person in JupyterLab, not with the "
    "server's token (a kernel can read it): answer in the dialog JupyterLab shows. "
    "Nothing was answered."
)


@dataclass(frozen=True)
class Ask:
    """An open question of the agent: may ``notebook`` read ``profile``? Or, of kind
    ``unlock``: will a person unlock the store's key?"""

    id: str
    profile: str | None
    notebook: str | None
    kind: str = "access"


class AgentAsks:
    """The server's front-end connection to its agent, and the open questions."""

    def __init__(self, location: StoreLocation, log: Any) -> None:
        self.location = location
        self.log = log
        self._lock = threading.Lock()
        self._asks: dict[str, Ask] = {}
        self._link: FrontEndLink | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if supported() and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="zingy-nb asks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Close the connection and end the thread (the agent then forgets this end)."""
        self._stopping.set()
        with self._lock:
            link, self._link = self._link, None
        if link is not None:
            link.close()
        if self._thread is not None:
            self._thread.join(timeout=2)  # mid-start it lets go of the link by itself

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._link is not None

    def pending(self) -> list[Ask]:
        with self._lock:
            return list(self._asks.values())

    def answer(self, ask_id: str, answer: str) -> bool:
        """Relay a person's answer; whether the question was open here."""
        with self._lock:
            link, open_here = self._link, self._asks.pop(ask_id, None)
        if link is None or open_here is None:
            return False
        link.answer(ask_id, answer)
        return True

    def _run(self) -> None:
        reach: Callable[[StoreLocation], AgentClient] = ensure_agent
        delay, refused = RETRY_FIRST, False
        while not self._stopping.is_set():
            try:
                link = self._register(reach)
            except AgentUnavailableError as exc:
                self.log.debug("zingy-nb: the agent is not reachable yet: %s", exc)
            except (ZingyError, OSError) as exc:  # refused: say why, once
                if not refused:
                    self.log.warning("zingy-nb: the agent refused this server: %s", exc)
                refused = True
            else:
                with self._lock:
                    if self._stopping.is_set():
                        link.close()
                        return
                    self._link = link
                self.log.info("zingy-nb: asking notebook-access questions for the agent")
                delay, reach = RETRY_FIRST, connect
                for event in link.events():
                    self._apply(event)
                with self._lock:
                    self._link = None
                    self._asks.clear()
                link.close()
            self._stopping.wait(delay)
            delay = min(RETRY_MAX, delay * 2)

    def _register(self, reach: Callable[[StoreLocation], AgentClient]) -> FrontEndLink:
        client = reach(self.location)
        try:
            return client.frontend()
        except BaseException:
            client.close()
            raise

    def _apply(self, event: dict[str, Any]) -> None:
        ask_id = event.get("ask")
        if not isinstance(ask_id, str):
            return
        with self._lock:
            if event.get("event") == "settled":
                self._asks.pop(ask_id, None)
            elif event.get("event") == "locked":
                self._asks[ask_id] = Ask(ask_id, None, None, "unlock")
            elif event.get("event") == "ask":
                profile, notebook = event.get("profile"), event.get("notebook")
                if isinstance(profile, str) and isinstance(notebook, str):
                    self._asks[ask_id] = Ask(ask_id, profile, notebook)


class AsksHandler(ZingyAPIHandler):
    """``GET asks``: the agent's open questions, for JupyterLab's dialog."""

    @property
    def asks(self) -> AgentAsks:
        found: AgentAsks = self.settings[ASKS_KEY]
        return found

    def relative(self, notebook: str | None) -> str | None:
        if notebook is None:
            return None
        root = os.path.realpath(self.contents_manager.root_dir).rstrip(os.sep)
        inside = notebook.startswith(root + os.sep)
        return notebook[len(root) + 1 :].replace(os.sep, "/") if inside else None

    @web.authenticated
    @authorized
    async def get(self) -> None:
        found = [
            {"id": a.id, "kind": a.kind, "profile": a.profile, "notebook": a.notebook,
             "path": self.relative(a.notebook)}
            for a in self.asks.pending()
        ]  # fmt: skip
        self.reply({"connected": self.asks.connected, "asks": found})


class AskHandler(AsksHandler):
    """``POST asks/{id}``: a person's answer, from a browser session only."""

    @web.authenticated
    @authorized
    async def post(self, ask_id: str) -> None:
        if self.token_authenticated:
            raise NotebookAccessError(TOKEN_REFUSED)
        answer = _answer_of(self.request.body)
        if not self._is_access(ask_id) or not self.asks.answer(ask_id, answer):
            self.set_status(404)
            self.reply({"message": "That question is no longer open: nothing was answered."})
            return
        self.log.info("zingy-nb: a notebook-access question was answered: %s", answer)
        self.set_status(204)
        self.finish()

    def _is_access(self, ask_id: str) -> bool:
        return any(a.id == ask_id and a.kind == "access" for a in self.asks.pending())


class UnlockHandler(ZingyAPIHandler):
    """``POST unlock``: a person's passphrase for the store's locked key."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.from_a_person("Unlocking the store's key")
        passphrase = _passphrase_of(self.request.body)
        await self.widen(lambda c: c.unlock(passphrase), lambda p: p.unlock(passphrase))
        self.log.info("zingy-nb: the store's key was unlocked from JupyterLab")
        self.set_status(204)
        self.finish()


def _field_of(body: bytes, name: str) -> object:
    """Field ``name`` of a JSON object body, or None for any other body."""
    try:
        return json.loads(body).get(name)
    except (ValueError, AttributeError):
        return None


def _passphrase_of(body: bytes) -> str:
    passphrase = _field_of(body, "passphrase")
    if not isinstance(passphrase, str) or not passphrase:
        raise PassphraseError('Send {"passphrase": "..."}; nothing was unlocked.')
    return passphrase


def _answer_of(body: bytes) -> str:
    answer = _field_of(body, "answer")
    if answer not in ("allow", "deny"):
        raise InvalidProfileError('Send {"answer": "allow"} or {"answer": "deny"}.')
    return str(answer)


def setup_asks(web_app: Any, server_app: Any) -> Callable[[], None]:
    """Start the front-end connection and register its routes; returns what stops it."""
    config: ZingyNb = web_app.settings[SETTINGS_KEY]
    asks = AgentAsks(location_of(config), server_app.log)
    web_app.settings[ASKS_KEY] = asks
    api = url_path_join(web_app.settings["base_url"], "zingy-nb", "api")
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(api, "asks") + "/?", AsksHandler),
            (url_path_join(api, "asks", r"(?P<ask_id>[0-9a-f]{1,64})"), AskHandler),
            (url_path_join(api, "unlock"), UnlockHandler),
        ],
    )
    asks.start()
    return asks.stop
