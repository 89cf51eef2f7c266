"""Wiring only: read the settings, register the routes and the save-time scrub."""

from __future__ import annotations

from typing import Any

from .config import SETTINGS_KEY, ZingyNb
from .handlers import setup_handlers
from .scrub import EVENT_SCHEMA, Scrubber


def load(server_app: Any) -> None:
    """Load the extension into a ``ServerApp``: settings into ``web_app.settings``, routes."""
    config = ZingyNb(parent=server_app)
    web_app = server_app.web_app
    web_app.settings[SETTINGS_KEY] = config
    api = setup_handlers(web_app)
    scrubber = Scrubber(config, server_app.log, getattr(server_app, "event_logger", None))
    if scrubber.event_logger is not None:
        scrubber.event_logger.register_event_schema(EVENT_SCHEMA)
    server_app.contents_manager.register_pre_save_hook(scrubber.before_save)
    server_app.contents_manager.register_post_save_hook(scrubber.after_save)
    home = config.home()
    server_app.log.info(
        "zingy-nb: REST API at %s; profile store: %s",
        api,
        home if home is not None else "default (ZINGY_NB_HOME, else Jupyter's data dir)",
    )
