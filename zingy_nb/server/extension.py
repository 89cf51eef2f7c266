"""Wiring only: read the settings, register the routes, the save-time scrub, the
listener that keeps notebook allowances with notebooks renamed or deleted in Jupyter,
and the agent's front end (``asks``), stopped with the server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

from .. import access
from ..errors import ZingyError
from ..store.url import store_url
from ..store.url_password import redact_url
from .asks import setup_asks
from .config import SETTINGS_KEY, ZingyNb
from .handlers import setup_handlers
from .scrub import EVENT_SCHEMA, Scrubber
from .store import STORE_KEY, ServerStore

#: The contents manager's events: ``rename``, ``delete`` and ``copy`` carry
#: root-relative paths (``path``, and ``source_path`` for the first and last).
CONTENTS_EVENTS: Final = "https://events.jupyter.org/jupyter_server/contents_service/v1"


def follow_notebooks(server_app: Any, store: ServerStore) -> None:
    """Move or drop allowances when a file or folder is renamed or deleted in Jupyter."""
    event_logger = getattr(server_app, "event_logger", None)
    if event_logger is None:
        return

    async def listener(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        if data.get("action") not in ("rename", "delete"):
            return
        root = server_app.contents_manager.root_dir
        try:
            await asyncio.to_thread(
                lambda: access.follow_contents_event(store.profiles(), root, data)
            )
        except ZingyError as exc:  # the file operation itself succeeded: say so, go on
            server_app.log.warning(
                "zingy-nb: notebook allowances could not follow a %s: %s", data["action"], exc
            )

    event_logger.add_listener(schema_id=CONTENTS_EVENTS, listener=listener)


def load(server_app: Any) -> None:
    """Load the extension into a ``ServerApp``: settings into ``web_app.settings``, routes."""
    config = ZingyNb(parent=server_app)
    web_app = server_app.web_app
    web_app.settings[SETTINGS_KEY] = config
    store = web_app.settings[STORE_KEY] = ServerStore(config)
    api = setup_handlers(web_app)
    scrubber = Scrubber(config, store, server_app.log, getattr(server_app, "event_logger", None))
    if scrubber.event_logger is not None:
        scrubber.event_logger.register_event_schema(EVENT_SCHEMA)
    server_app.contents_manager.register_pre_save_hook(scrubber.before_save)
    server_app.contents_manager.register_post_save_hook(scrubber.after_save)
    follow_notebooks(server_app, store)
    stop_on_cleanup(server_app, setup_asks(web_app, server_app))
    stop_on_cleanup(server_app, store.close)
    server_app.log.info("zingy-nb: REST API at %s; profile store: %s", api, describe_store(config))


def stop_on_cleanup(server_app: Any, stop: Callable[[], None]) -> None:
    """Call ``stop`` when the server cleans up its extensions (a module-style extension
    such as this one gets no stop hook of its own)."""
    cleanup = server_app.cleanup_extensions

    async def cleanup_extensions() -> None:
        await asyncio.to_thread(stop)
        await cleanup()

    server_app.cleanup_extensions = cleanup_extensions


def describe_store(config: ZingyNb) -> str:
    """The store this server's REST API uses, as the log may show it: a team store's URL
    without its password, else the embedded store's folder (or how it is found)."""
    url = store_url()
    if url:
        return f"team store {redact_url(url)}"
    home = config.home()
    if home is not None:
        return str(home)
    return "embedded, default folder (ZINGY_NB_HOME, else Jupyter's data dir)"
