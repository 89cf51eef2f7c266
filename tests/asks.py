"""Answering the agent's questions as JupyterLab does: list a server's open asks, and
post an answer from a browser session (a login cookie and the XSRF header, no token).

The fixtures ``jp_server_config``, ``front_end`` and ``log_in`` give a real server
(pytest-jupyter) on the test module's ``store_home`` fixture, connected to that store's
agent as its front end; a module takes them by name (``front_end = asks.front_end``).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.utils import url_path_join
from traitlets.config import Config

from zingy_nb.server.asks import ASKS_KEY, AgentAsks

WAIT = 90.0  # generous: a loaded 2-core machine


async def open_asks(jp_fetch: Any, count: int = 1) -> list[dict[str, Any]]:
    """The server's open questions, once there are ``count``."""
    deadline = time.monotonic() + WAIT
    while True:
        found = json.loads((await jp_fetch("zingy-nb", "api", "asks")).body)["asks"]
        if len(found) >= count:
            return list(found)
        assert time.monotonic() < deadline, f"no question reached the server: {found}"
        await asyncio.sleep(0.05)


def notebook(root: Path, path: str) -> str:
    """An empty notebook written at ``path`` below the server's root; its real path, by
    which the agent names it in a question."""
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return os.path.realpath(target)


class Browser:
    """A browser session on the server: a login cookie and the XSRF cookie, no token."""

    def __init__(self, client: Any, base_url: str, cookies: dict[str, str]) -> None:
        self.client, self.base_url, self.cookies = client, base_url, cookies

    @classmethod
    async def log_in(cls, client: Any, base_url: str, token: str) -> Browser:
        cookies: dict[str, str] = {}
        for path in (f"login?next={base_url}", f"api/status?token={token}"):
            response = await client.fetch(
                url_path_join(base_url, path), raise_error=False, follow_redirects=False
            )
            for header in response.headers.get_list("Set-Cookie"):
                parsed: SimpleCookie = SimpleCookie(header)
                cookies.update({key: morsel.value for key, morsel in parsed.items()})
        assert "_xsrf" in cookies and len(cookies) >= 2, cookies
        return cls(client, base_url, cookies)

    async def post(self, path: str, body: dict[str, Any], xsrf: bool = True) -> Any:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if xsrf:
            headers["X-XSRFToken"] = self.cookies["_xsrf"]
        return await self.client.fetch(
            url_path_join(self.base_url, path),
            method="POST",
            body=json.dumps(body),
            headers=headers,
            raise_error=False,
        )


@pytest.fixture
def jp_server_config(store_home: Path) -> Config:
    """The zingy-nb extension on ``store_home``, every request authenticated."""
    return Config(
        {
            "ServerApp": {
                "jpserver_extensions": {"zingy_nb": True},
                "allow_unauthenticated_access": False,
            },
            "ZingyNb": {"store_home": str(store_home)},
        }
    )


@pytest.fixture
def front_end(jp_serverapp: Any, store_home: Path) -> Iterator[AgentAsks]:
    """The server's connection to its store's agent, once connected; stopped at the
    test's end, before the agent is, so that it does not start the agent again."""
    asks: AgentAsks = jp_serverapp.web_app.settings[ASKS_KEY]
    deadline = time.monotonic() + WAIT
    while not asks.connected:
        assert time.monotonic() < deadline, "the server did not connect to its agent"
        time.sleep(0.05)
    try:
        yield asks
    finally:
        asks.stop()


@pytest.fixture
def log_in(http_server_client: Any, jp_base_url: str, jp_serverapp: Any) -> Any:
    """``await log_in()``: a new browser session."""
    token = jp_serverapp.identity_provider.token
    return lambda: Browser.log_in(http_server_client, jp_base_url, token)
