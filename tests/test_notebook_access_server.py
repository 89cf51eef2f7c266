"""Notebook access through a real Jupyter server (pytest-jupyter), on both store backends.

Kernels are started as JupyterLab starts them, through the sessions API, so the server
itself sets ``JPY_SESSION_NAME``; they run the installed "Zingy Cloud Flow" kernelspec.
A test talks to a kernel with a client on the connection the server's kernel manager
gives; the kernel's launcher registered it with the store's agent, which asks through
the server, and the test answers as JupyterLab does (a browser session's POST).
Renames and deletions go through the contents API, whose events move the allowances.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests import asks, postgres
from tests.asks import answered, notebook, open_asks
from tests.postgres import Backend

pg_server = postgres.pg_server
store_backend = postgres.store_backend
jp_server_config, front_end, log_in = asks.jp_server_config, asks.front_end, asks.log_in
cloud_kernelspec, sessions = asks.cloud_kernelspec, asks.sessions
jp_runtime_dir = asks.jp_runtime_dir

SECRET = "sk_test_MADEUP_server_access_1"
RETRIEVE = "print(zingyConn.apikey('stripe').name)"


@pytest.fixture
def backend(store_backend: Backend) -> Backend:
    store_backend.profiles().set("stripe", SECRET)
    return store_backend


@pytest.fixture
def store_home(backend: Backend) -> Path:
    return backend.home


async def rename(jp_fetch: Any, jp_serverapp: Any, old: str, new: str) -> None:
    await jp_fetch("api", "contents", old, method="PATCH", body=json.dumps({"path": new}))
    await jp_serverapp.event_logger.gather_listeners()


def kept(backend: Backend) -> set[tuple[str, str]]:
    return {(a.notebook, a.how) for a in backend.profiles().store.allowances("stripe")}


# -- kernels through the sessions API -------------------------------------------------------
async def test_a_notebook_is_asked_and_its_allowance_follows_a_rename(
    backend: Backend,
    sessions: Any,
    front_end: Any,
    log_in: Any,
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_root_dir: Path,
) -> None:
    browser = await log_in()
    # Given a notebook opened as JupyterLab opens one
    pay = notebook(jp_root_dir, "work/pay.ipynb")
    first = await sessions("work/pay.ipynb")
    # When it first retrieves a profile it was never allowed, the agent asks through the
    # server (not the kernel's stdin), and the browser allows
    ran = await answered(first, jp_fetch, browser, "allow", pay, RETRIEVE)
    assert ran.ename is None and ran.stdout.strip() == "stripe", ran.reply
    assert ran.prompts == [] and SECRET not in json.dumps(ran.reply)
    # Then Allow is remembered: no question again, in this kernel or in a new one
    assert (await first.run(RETRIEVE)).stdout.strip() == "stripe"
    assert await open_asks(jp_fetch, 0) == []
    assert kept(backend) == {(pay, "prompt")}

    # Given another notebook, when the user denies, the cell fails and nothing is kept
    other_nb = notebook(jp_root_dir, "other.ipynb")
    other = await sessions("other.ipynb")
    denied = await answered(other, jp_fetch, browser, "deny", other_nb, RETRIEVE)
    assert denied.ename == "NotebookAccessError" and "denied" in denied.evalue
    assert kept(backend) == {(pay, "prompt")}

    # When the first notebook is renamed through Jupyter
    await rename(jp_fetch, jp_serverapp, "work/pay.ipynb", "work/paid.ipynb")
    paid = os.path.realpath(jp_root_dir / "work/paid.ipynb")
    # Then its allowance moved with it: its running kernel (registered under the old
    # path) and a new kernel for the new name read without being asked
    assert kept(backend) == {(paid, "prompt")}
    assert (await first.run(RETRIEVE, allow_stdin=False)).stdout.strip() == "stripe"
    renamed = await sessions("work/paid.ipynb")
    assert (await renamed.run(RETRIEVE, allow_stdin=False)).stdout.strip() == "stripe"
    # and the other notebook is still asked
    again = await answered(other, jp_fetch, browser, "deny", other_nb, RETRIEVE)
    assert again.ename == "NotebookAccessError"

    audit = {(e.outcome, e.notebook) for e in backend.profiles().store.audit("stripe")}
    assert {("asked", pay), ("allowed", pay)} <= audit
    assert ("denied", other_nb) in audit


async def test_the_kernel_cannot_answer_its_own_question(
    backend: Backend, sessions: Any, front_end: Any, jp_fetch: Any, jp_root_dir: Path
) -> None:
    nb = notebook(jp_root_dir, "self.ipynb")
    me = await sessions("self.ipynb")
    # the question waits in the agent, not on the kernel's stdin: answering there, or
    # posting with the server's token (which a kernel can read), does not allow it
    cell = asyncio.ensure_future(me.run(RETRIEVE, answer="allow"))
    (ask,) = await open_asks(jp_fetch)
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch(
            "zingy-nb", "api", "asks", ask["id"], method="POST",
            body=json.dumps({"answer": "allow"}),
        )  # fmt: skip
    assert refused.value.code == 403
    assert [a["id"] for a in await open_asks(jp_fetch)] == [ask["id"]]
    front_end.stop()  # nobody left to ask: the question is given up
    ran = await cell
    assert ran.ename == "NotebookAccessError" and ran.prompts == [], ran.reply
    assert kept(backend) == set()
    assert nb not in {a.notebook for a in backend.profiles().store.allowances("stripe")}


async def test_with_no_front_end_a_notebook_is_refused_at_once_with_the_command(
    backend: Backend, sessions: Any, front_end: Any, jp_root_dir: Path
) -> None:
    front_end.stop()
    nb = notebook(jp_root_dir, "headless.ipynb")
    headless = await sessions("headless.ipynb")
    ran = await headless.run(RETRIEVE, allow_stdin=False)
    assert ran.ename == "NotebookAccessError" and ran.prompts == []
    assert f"zingy-nb profiles allow stripe {nb}" in ran.evalue


# -- following files -------------------------------------------------------------------------
async def test_folder_moves_carry_allowances_deletes_drop_them_copies_get_none(
    backend: Backend, jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    store = backend.profiles().store
    a = notebook(jp_root_dir, "team/a.ipynb")
    b = notebook(jp_root_dir, "team/deep/b.ipynb")
    for nb in (a, b):
        store.allow("stripe", nb, "cli")
    # a folder rename moves what is inside it
    await rename(jp_fetch, jp_serverapp, "team", "squad")
    moved = {os.path.realpath(jp_root_dir / p) for p in ("squad/a.ipynb", "squad/deep/b.ipynb")}
    assert {nb for nb, _ in kept(backend)} == moved
    # a copy is another notebook: nothing is allowed for it
    await jp_fetch(
        "api", "contents", "squad", method="POST",
        body=json.dumps({"copy_from": "squad/a.ipynb"}),
    )  # fmt: skip
    await jp_serverapp.event_logger.gather_listeners()
    assert {nb for nb, _ in kept(backend)} == moved
    # a deleted notebook takes its allowance with it
    await jp_fetch("api", "contents", "squad", "a.ipynb", method="DELETE")
    await jp_serverapp.event_logger.gather_listeners()
    assert {nb for nb, _ in kept(backend)} == {os.path.realpath(jp_root_dir / "squad/deep/b.ipynb")}


# -- the REST API ----------------------------------------------------------------------------
async def api(jp_fetch: Any, method: str, *path: str, **kwargs: Any) -> Any:
    if method == "PUT":
        kwargs.setdefault("body", b"")
    return await jp_fetch("zingy-nb", "api", *path, method=method, raise_error=False, **kwargs)


@pytest.fixture
def short_runtime(jp_runtime_dir: Path) -> Iterator[None]:
    """Allowing goes through the store's agent, whose socket lives below the runtime
    folder; the agent is stopped at the end."""
    yield
    from tests.isolation import stop_agents

    stop_agents(jp_runtime_dir)


@pytest.fixture
def browser(
    jp_serverapp: Any, http_server_client: Any, jp_base_url: str, short_runtime: None
) -> Any:
    """``await browser()``: the headers of a browser session (login cookie and XSRF
    token, no token), as JupyterLab sends them: the only kind of request that allows."""
    from tests.test_server_api import _cookie_login

    async def login() -> dict[str, str]:
        cookies = await _cookie_login(
            http_server_client, jp_base_url, jp_serverapp.identity_provider.token
        )
        return {
            "Authorization": "",
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
            "X-XSRFToken": cookies["_xsrf"],
        }

    return login


def body(response: Any) -> Any:
    return json.loads(response.body)


async def test_rest_lists_allows_and_removes_notebooks(
    backend: Backend, jp_fetch: Any, jp_root_dir: Path, browser: Any
) -> None:
    session = await browser()
    pay = notebook(jp_root_dir, "work/pay.ipynb")
    listed = await api(jp_fetch, "GET", "profiles", "stripe", "notebooks")
    assert listed.code == 200 and body(listed) == {"profile": "stripe", "notebooks": []}
    # PUT from a browser session allows a notebook named as the contents API names it
    put = await api(
        jp_fetch, "PUT", "profiles", "stripe", "notebooks", "work", "pay.ipynb", headers=session
    )
    assert put.code == 200
    assert body(put) == {
        "profile": "stripe",
        "notebook": pay,
        "path": "work/pay.ipynb",
        "new": True,
    }
    assert body(await api(jp_fetch, "PUT", "profiles", "stripe", "notebooks", "work", "pay.ipynb", headers=session))["new"] is False  # fmt: skip
    assert kept(backend) == {(pay, "rest")}
    # one outside the root (allowed from the CLI) is listed with no path
    backend.profiles().store.allow("stripe", "/elsewhere/x.ipynb", "cli")
    items = body(await api(jp_fetch, "GET", "profiles", "stripe", "notebooks"))["notebooks"]
    assert [(i["notebook"], i["path"], i["how"]) for i in items] == [
        ("/elsewhere/x.ipynb", None, "cli"),
        (pay, "work/pay.ipynb", "rest"),
    ]
    assert items[1]["role"] == ("alice" if backend.kind == "postgres" else None)
    one = body(await api(jp_fetch, "GET", "profiles", "stripe", "notebooks", "work", "pay.ipynb"))
    assert one["path"] == "work/pay.ipynb" and [a["how"] for a in one["allowances"]] == ["rest"]
    # DELETE removes it; a second time there is nothing to remove
    gone = await api(jp_fetch, "DELETE", "profiles", "stripe", "notebooks", "work", "pay.ipynb")
    assert gone.code == 204
    again = await api(jp_fetch, "DELETE", "profiles", "stripe", "notebooks", "work", "pay.ipynb")
    assert again.code == 404
    outside = await api(
        jp_fetch, "DELETE", "profiles", "stripe", "notebooks", params={"notebook": "/elsewhere/x.ipynb"}
    )  # fmt: skip
    assert outside.code == 204 and kept(backend) == set()


async def test_rest_errors_name_nothing_the_client_sent(
    backend: Backend, jp_fetch: Any, caplog: pytest.LogCaptureFixture, browser: Any
) -> None:
    session = await browser()
    missing = await api(jp_fetch, "PUT", "profiles", "nope", "notebooks", "x.ipynb", headers=session)  # fmt: skip
    assert missing.code == 404
    escape = await api(jp_fetch, "PUT", "profiles", "stripe", "notebooks", "a", "..", "..", "etc.ipynb")  # fmt: skip
    assert escape.code in (400, 404)  # the URL normaliser may already refuse it
    token = "sk_live_MADEUPpastedHere"
    bad = await api(jp_fetch, "PUT", "profiles", f"{token}!", "notebooks", "x.ipynb")
    assert bad.code == 400 and token not in bad.body.decode()
    assert token not in caplog.text
    no_path = await api(jp_fetch, "DELETE", "profiles", "stripe", "notebooks")
    assert no_path.code == 400


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_rest_needs_the_token(backend: Backend, jp_fetch: Any, method: str) -> None:
    response = await api(
        jp_fetch, method, "profiles", "stripe", "notebooks", "x.ipynb", headers={"Authorization": ""}
    )  # fmt: skip
    assert response.code == 403
    assert kept(backend) == set()
