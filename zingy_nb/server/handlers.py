"""REST handlers under ``<base_url>/zingy-nb/api/``: profile metadata in, never values out.

Every method is authenticated (``@web.authenticated``) and authorized on the resource
``zingy-nb``; writes get the XSRF check of Jupyter's own APIs (``APIHandler``). Errors are
JSON ``{"message": ...}``: one base handler maps each ``ZingyError`` to its status code.
No response ever carries a secret value: the store API returns only metadata. No error
quotes what the client sent (a slot key, a value, a name that failed validation: any
of them may be a pasted secret), except a profile name that passed validation; an
invalid name is also masked in the request's path before anything logs it.

What widens access (allowing a notebook) is accepted only from a browser session: a
cookie-authenticated request that passed the XSRF check. A token-authenticated request
is exempt from XSRF in jupyter_server, and a kernel can make one with the server's
token, so it never widens (403). On Linux the agent then does it (``agent.widening``):
the server is no kernel, so the agent accepts it.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import origin_matches_pat, url_path_join
from tornado import web

from .. import access
from .._version import __version__
from ..errors import (
    AgentUnavailableError,
    CloudFlowOnlyError,
    DecryptionError,
    FlowModeError,
    InvalidProfileError,
    KeyUnavailableError,
    MemberKeyError,
    NotebookAccessError,
    PassphraseError,
    ProfileAccessError,
    ProfileExistsError,
    ProfileNotFoundError,
    StoreError,
    StoreLockedError,
    UnknownCommandError,
    UntrustedKeyError,
    WideningRefusedError,
    WrongPassphraseError,
    ZingyError,
)
from ..profiles import Profiles
from ..rules import NAME_RULE, SLOTS, Secret, is_valid_name
from .config import SETTINGS_KEY, ZingyNb
from .store import STORE_KEY, ServerStore, location_of

T = TypeVar("T")

#: Resource name that Jupyter authorizers see for every zingy-nb request.
AUTH_RESOURCE = "zingy-nb"

#: What logs show instead of a profile name that failed validation.
INVALID_NAME = "<invalid-name>"

#: HTTP status of each error, first match wins (subclasses before their bases).
STATUS_CODES: tuple[tuple[type[ZingyError], int], ...] = (
    (InvalidProfileError, 400),
    (FlowModeError, 400),
    (UnknownCommandError, 400),
    (CloudFlowOnlyError, 403),
    (WideningRefusedError, 403),
    (NotebookAccessError, 403),
    (ProfileAccessError, 403),
    (ProfileNotFoundError, 404),
    (ProfileExistsError, 409),
    (UntrustedKeyError, 403),
    (WrongPassphraseError, 403),
    (PassphraseError, 400),
    (StoreLockedError, 423),
    (KeyUnavailableError, 503),
    (AgentUnavailableError, 503),
    (MemberKeyError, 503),
    (StoreError, 503),
    (DecryptionError, 500),
)


def status_for(error: ZingyError) -> int:
    """The HTTP status code for a ``ZingyError`` (500 for one not listed)."""
    for cls, code in STATUS_CODES:
        if isinstance(error, cls):
            return code
    return 500


def parse_slots(body: bytes) -> dict[str, Secret]:
    """The slots of a PUT/PATCH body: a JSON object of slot names to text or null.

    Raises ``InvalidProfileError`` (400) naming what is wrong; no message echoes a value.
    """
    example = 'such as {"secret1": "..."}'
    if not body.strip():
        raise InvalidProfileError(f"The request body is empty: send a JSON object {example}.")
    try:
        data = json.loads(body)
    except ValueError as exc:
        where = (
            f" (line {exc.lineno}, column {exc.colno})"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise InvalidProfileError(
            f"The request body is not valid UTF-8 JSON{where}: send a JSON object {example}."
        ) from None
    if not isinstance(data, dict):
        raise InvalidProfileError(
            f"The request body must be a JSON object {example}, not a JSON {_json_type(data)}."
        )
    unknown = sum(key not in SLOTS for key in data)
    if unknown:
        raise InvalidProfileError(
            f"Unknown slot: the request body has {unknown} key(s) that are not slot names "
            f"(not repeated here). The slots are {', '.join(SLOTS)}."
        )
    slots: dict[str, Secret] = {}
    for key, value in data.items():
        if value is not None and not isinstance(value, str):
            raise InvalidProfileError(
                f"{key} must be a JSON string or null, not a JSON {_json_type(value)}."
            )
        slots[key] = value
    return slots


def checked_name(name: str) -> str:
    """``name`` if valid; else ``InvalidProfileError`` that does not repeat it."""
    if not is_valid_name(name):
        raise InvalidProfileError(
            f"Invalid profile name in the URL (not repeated here): use {NAME_RULE}."
        )
    return name


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages that must not echo it."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


class ZingyAPIHandler(APIHandler):
    """Base of every zingy-nb handler: the store, off the event loop, and error mapping."""

    auth_resource = AUTH_RESOURCE

    async def prepare(self) -> None:  # type: ignore[override]
        name = self.path_kwargs.get("name")
        if isinstance(name, str) and not is_valid_name(name):
            # The name may be a pasted secret: keep it out of every log line about this
            # request (tornado's access log, warnings, errors).
            request = self.request
            parts = request.path.split("/")
            at = next(
                i
                for i in range(2, len(parts) - 1)
                if parts[i - 2 : i + 1] == ["zingy-nb", "api", "profiles"]
            )
            parts[at + 1] = INVALID_NAME
            request.path = "/".join(parts)
            request.uri = request.path + (f"?{request.query}" if request.query else "")
        await super().prepare()

    @property
    def zingy_config(self) -> ZingyNb:
        config: ZingyNb = self.settings[SETTINGS_KEY]
        return config

    async def store(self, action: Callable[[Profiles], T]) -> T:
        """Run ``action`` on the store in a worker thread (``Profiles`` is thread-safe)."""
        store: ServerStore = self.settings[STORE_KEY]
        return await asyncio.to_thread(lambda: action(store.profiles()))

    def from_a_person(self, what: str) -> None:
        """Raise unless this request is a browser session's, XSRF-checked."""
        if self.token_authenticated or self.settings.get("disable_check_xsrf", False):
            raise WideningRefusedError(
                f"{what} widens access, and this request was authenticated with the "
                "server's token (which a kernel can hold) or without the XSRF check: such "
                "a request never widens. Nothing was changed. Do it in JupyterLab (the API "
                "Keys sidebar) or from a terminal outside Jupyter (`zingy-nb profiles "
                "allow`)."
            )

    async def widen(self, action: Callable[[Any], T], fallback: Callable[[Profiles], T]) -> T:
        """``action`` on the agent of the server's store (Linux), else ``fallback`` here."""
        from ..agent.harden import supported

        if not supported():
            return await self.store(fallback)
        from ..agent.client import ensure_agent

        location = location_of(self.zingy_config)

        def run() -> T:
            with ensure_agent(location) as client:
                return action(client)

        return await asyncio.to_thread(run)

    def reply(self, data: dict[str, Any]) -> None:
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ZingyError):
            self.set_status(status_for(error))
            self.finish(json.dumps({"message": str(error)}))
            return
        super().write_error(status_code, **kwargs)

    def set_cors_headers(self) -> None:
        """CORS headers only for a configured origin (``allow_origin``, or one that
        ``allow_origin_pat`` matches). jupyter_server by default echoes any ``Origin``
        of a token-authenticated request, which lets any web page that holds a token
        read the answers; zingy-nb's API answers no origin it was not told to trust."""
        origin = self.get_origin() or ""
        if self.allow_origin:
            self.set_header("Access-Control-Allow-Origin", self.allow_origin)
        elif self._origin_configured(origin):
            self.set_header("Access-Control-Allow-Origin", origin)
        else:
            return
        if self.allow_credentials:
            self.set_header("Access-Control-Allow-Credentials", "true")

    @allow_unauthenticated
    def options(self, *args: Any, **kwargs: Any) -> None:
        """A CORS preflight: jupyter_server's, without echoing an origin that is not
        configured (it echoes any when only a pattern is set)."""
        super().options(*args, **kwargs)
        origin = self.request.headers.get("Origin", "")
        if not self._origin_configured(origin):
            self.clear_header("Access-Control-Allow-Origin")

    def _origin_configured(self, origin: str) -> bool:
        if self.allow_origin:
            return self.allow_origin in ("*", origin)
        return bool(
            self.allow_origin_pat and origin and origin_matches_pat(self.allow_origin_pat, origin)
        )

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # An expected refusal is one log line, not a traceback; its text holds no secret.
        if isinstance(value, ZingyError):
            code = status_for(value)
            log = self.log.warning if code < 500 else self.log.error
            log("zingy-nb: %d %s %s: %s", code, self.request.method, self.request.path, value)
            return
        super().log_exception(typ, value, tb)


class ProfilesHandler(ZingyAPIHandler):
    """``GET profiles``: metadata of every profile, sorted by name."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        metas = await self.store(lambda p: p.list())
        self.reply({"profiles": [meta.to_json() for meta in metas]})


class ProfileHandler(ZingyAPIHandler):
    """One profile: ``GET`` metadata, ``PUT`` create or replace, ``PATCH``, ``DELETE``."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        checked_name(name)
        meta = await self.store(lambda p: p.show(name))
        self.reply(meta.to_json())

    @web.authenticated
    @authorized
    async def put(self, name: str) -> None:
        """All four slots: an absent (or null) optional slot is unset; secret1 is required."""
        checked_name(name)
        slots = parse_slots(self.request.body)
        values = [slots.get(slot) for slot in SLOTS]
        meta = await self.store(lambda p: p.set(name, *values))
        self.reply(meta.to_json())

    @web.authenticated
    @authorized
    async def patch(self, name: str) -> None:
        """Only the slots given: a string sets a slot, null clears it, absent keeps it."""
        checked_name(name)
        slots = parse_slots(self.request.body)
        meta = await self.store(lambda p: p.update(name, slots))
        self.reply(meta.to_json())

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        checked_name(name)
        await self.store(lambda p: p.delete(name))
        self.set_status(204)
        self.finish()


class NotebooksHandler(ZingyAPIHandler):
    """A profile's notebook allowances (those the caller may see).

    ``GET profiles/{name}/notebooks``; ``DELETE profiles/{name}/notebooks?notebook=ABS``
    removes one by its full path (one outside the server's root has no ``path``).
    Each is ``{"profile", "notebook", "path", "how", "created", "role"}``: ``notebook``
    is the real path kept, ``path`` the same below the server's root (null outside it),
    ``role`` the database role on a team store (else null).
    """

    def root(self) -> str:
        return os.path.realpath(self.contents_manager.root_dir)

    def described(self, notebook: str) -> dict[str, Any]:
        """``notebook`` and its root-relative ``path`` (None outside the root)."""
        root = self.root()
        inside = notebook.startswith(root.rstrip(os.sep) + os.sep)
        rel = notebook[len(root.rstrip(os.sep)) + 1 :] if inside else None
        return {"notebook": notebook, "path": rel.replace(os.sep, "/") if rel else None}

    def listed(self, name: str, found: list[Any]) -> list[dict[str, Any]]:
        return [{**a.to_json(), **self.described(a.notebook)} for a in found]

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        checked_name(name)
        found = await self.store(lambda p: (p.show(name), access.allowances(p, name))[1])
        self.reply({"profile": name, "notebooks": self.listed(name, found)})

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        checked_name(name)
        notebook = self.get_query_argument("notebook", "")
        if not os.path.isabs(notebook):
            raise InvalidProfileError(
                "Give the allowance to remove as ?notebook= followed by its full path, or "
                "use profiles/{name}/notebooks/{path} for a notebook below the root."
            )
        await self.remove(name, notebook)

    async def remove(self, name: str, notebook: str) -> None:
        role = self.get_query_argument("role", None)
        _, removed = await self.store(lambda p: access.disallow(p, name, notebook, role))
        if not removed:
            self.set_status(404)
            self.reply({"message": "That notebook has no allowance on this profile to remove."})
            return
        self.set_status(204)
        self.finish()


class NotebookHandler(NotebooksHandler):
    """One notebook by its path below the server's root, as the contents API names it:
    ``GET`` its allowances on the profile (an empty list: not allowed), ``PUT`` allows
    it (for the caller's role), ``DELETE`` removes the allowance (``?role=`` another
    role's, with manage access on a team store)."""

    def notebook_of(self, path: str) -> str:
        parts = path.split("/")
        if not path or path.startswith("/") or "\0" in path or ".." in parts:
            raise InvalidProfileError(
                "Invalid notebook path in the URL (not repeated here): give it relative to "
                "the server's root, as the contents API does, without '..'."
            )
        return access.resolve(path, self.root())

    @web.authenticated
    @authorized
    async def get(self, name: str, path: str = "") -> None:  # type: ignore[override]
        checked_name(name)
        notebook = self.notebook_of(path)
        found = await self.store(lambda p: (p.show(name), access.allowances(p, name))[1])
        mine = [a for a in found if a.notebook == notebook]
        self.reply({"profile": name, **self.described(notebook),
                    "allowances": self.listed(name, mine)})  # fmt: skip

    @web.authenticated
    @authorized
    async def put(self, name: str, path: str) -> None:
        checked_name(name)
        notebook = self.notebook_of(path)
        self.from_a_person("Allowing a notebook to read a profile")
        kept, new = await self.widen(
            lambda agent: agent.allow(name, notebook, "rest"),
            lambda p: access.allow(p, name, notebook, "rest"),
        )
        self.reply({"profile": name, **self.described(kept), "new": new})

    @web.authenticated
    @authorized
    async def delete(self, name: str, path: str = "") -> None:  # type: ignore[override]
        checked_name(name)
        await self.remove(name, self.notebook_of(path))


class StatusHandler(ZingyAPIHandler):
    """``GET status``: where the store and its key are, and how many profiles it holds."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        status = await self.store(lambda p: p.store_status())
        self.reply({**status.to_json(), "version": __version__})


class ChangesHandler(ZingyAPIHandler):
    """``GET changes``: a token that differs once the store changed (profiles or
    allowances), so the sidebar can follow it cheaply; it reveals nothing else."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        token = await self.store(lambda p: p.change_token())
        self.reply({"token": repr(token)})


def setup_handlers(web_app: Any) -> str:
    """Register every zingy-nb route on ``web_app``; returns the API's base path."""
    api = url_path_join(web_app.settings["base_url"], "zingy-nb", "api")
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(api, "profiles") + "/?", ProfilesHandler),
            (url_path_join(api, "profiles", r"(?P<name>[^/]+)"), ProfileHandler),
            (
                url_path_join(api, "profiles", r"(?P<name>[^/]+)", "notebooks") + "/?",
                NotebooksHandler,
            ),
            (
                url_path_join(api, "profiles", r"(?P<name>[^/]+)", "notebooks", r"(?P<path>.+)"),
                NotebookHandler,
            ),
            (url_path_join(api, "status"), StatusHandler),
            (url_path_join(api, "changes"), ChangesHandler),
        ],
    )
    return api
