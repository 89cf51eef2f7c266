"""Answering the agent's questions as JupyterLab does: list a server's open asks, and
post an answer from a browser session (a login cookie and the XSRF header, no token)."""

from __future__ import annotations

import asyncio
import json
import time
from http.cookies import SimpleCookie
from typing import Any

from jupyter_server.utils import url_path_join

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
