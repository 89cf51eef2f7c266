"""Answering the agent's questions as JupyterLab does: list a server's open asks, and
post an answer from a browser session (a login cookie and the XSRF header, no token).

The fixtures ``jp_server_config``, ``front_end`` and ``log_in`` give a real server
(pytest-jupyter) on the test module's ``store_home`` fixture, connected to that store's
agent as its front end; ``sessions`` opens notebooks on it as JupyterLab does, with the
"Zingy Cloud Flow" kernelspec (``cloud_kernelspec``). A module takes them by name
(``front_end = asks.front_end``).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking import BlockingKernelClient
from jupyter_server.utils import url_path_join
from traitlets.config import Config

from tests.kernels import Replied
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


# -- notebook sessions as JupyterLab opens them ---------------------------------------
@pytest.fixture
def cloud_kernelspec(jp_environ: Any) -> str:
    """The "Python 3 (Zingy Cloud Flow)" kernelspec, installed where this server looks."""
    from zingy_nb.kernels import install

    install(user=True)
    return "zingy-cloud-flow"


@dataclass
class Ran(Replied):
    """One cell: its reply, what it printed, and the stdin prompts it showed."""

    reply: dict[str, Any]
    prompts: list[str] = field(default_factory=list)
    stdout: str = ""


class Session:
    """A notebook session on the server, and a client on its kernel."""

    def __init__(self, session_id: str, client: BlockingKernelClient) -> None:
        self.id = session_id
        self.kc = client

    def _run(self, code: str, answer: str | None, allow_stdin: bool) -> Ran:
        ran = Ran({})

        def on_stdin(msg: dict[str, Any]) -> None:
            ran.prompts.append(msg["content"]["prompt"])
            if answer is not None:
                self.kc.input(answer)

        def on_output(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                ran.stdout += msg["content"]["text"]

        reply = self.kc.execute_interactive(
            code, allow_stdin=allow_stdin, stdin_hook=on_stdin, output_hook=on_output, timeout=120
        )
        ran.reply = reply["content"]
        return ran

    async def run(self, code: str, *, answer: str | None = None, allow_stdin: bool = True) -> Ran:
        return await in_thread(lambda: self._run(code, answer, allow_stdin))


async def in_thread(fn: Any) -> Any:
    """Run a blocking client call off the server's loop. Not ``asyncio.to_thread``: it
    copies the context, where jupyter_core keeps the running loop for ``run_sync``."""
    return await asyncio.get_running_loop().run_in_executor(None, fn)


@pytest.fixture
def sessions(jp_fetch: Any, jp_serverapp: Any, cloud_kernelspec: str) -> Iterator[Any]:
    """``await open_session(path)``: a session started through the sessions API (its
    kernel is shut down with the server, by pytest-jupyter's cleanup)."""
    opened: list[Session] = []

    async def open_session(path: str) -> Session:
        response = await jp_fetch(
            "api", "sessions", method="POST",
            body=json.dumps({"path": path, "name": os.path.basename(path), "type": "notebook",
                             "kernel": {"name": cloud_kernelspec}}),
        )  # fmt: skip
        model = json.loads(response.body)
        km = jp_serverapp.kernel_manager.get_kernel(model["kernel"]["id"])
        kc = BlockingKernelClient()
        kc.load_connection_info(km.get_connection_info())
        kc.start_channels()
        session = Session(model["id"], kc)
        opened.append(session)
        await in_thread(lambda: kc.wait_for_ready(timeout=60))
        return session

    yield open_session
    for session in opened:
        session.kc.stop_channels()


async def answered(
    session: Session,
    jp_fetch: Any,
    browser: Browser,
    answer: str,
    notebook: str,
    code: str,
    *,
    allow_stdin: bool = True,
) -> Ran:
    """Run ``code``, which retrieves profile ``stripe``; answer the question it raises
    from the browser session, as JupyterLab's dialog does."""
    cell = asyncio.ensure_future(session.run(code, allow_stdin=allow_stdin))
    (ask,) = await open_asks(jp_fetch)
    assert (ask["profile"], ask["notebook"]) == ("stripe", notebook), ask
    response = await browser.post(f"zingy-nb/api/asks/{ask['id']}", {"answer": answer})
    assert response.code == 204, response.body
    return await cell


@pytest.fixture
def jp_runtime_dir() -> Path:
    """Short: the store's agent keeps its socket below it."""
    return Path(tempfile.mkdtemp(prefix="r", dir=os.environ["JUPYTER_RUNTIME_DIR"]))
