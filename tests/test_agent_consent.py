"""Consent in the agent (issue #22, item 3): the agent asks a person, through the Jupyter
server connected as its front end, and never takes the answer from a kernel.

A real Jupyter server (pytest-jupyter) with the zingy-nb extension starts the agent of
its store in the background and registers as its front end. Kernels are stood in for by
small Python processes (``tests.peers``) that register with the agent for a notebook and
retrieve: the agent judges them by their pid (``SO_PEERCRED``). Answers are posted the
way JupyterLab does (a login cookie and the XSRF header) or the way a kernel could
(the server's token). Every process a test starts, agents included, is stopped at its
end: the server's connection first, so that it does not start the agent again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests import asks
from tests.agents import gone
from tests.asks import notebook, open_asks
from tests.peers import Peer, peer_script
from zingy_nb import access
from zingy_nb.agent import StoreLocation, connect, ensure_agent
from zingy_nb.agent.frontend import FrontEnds
from zingy_nb.agent.location import LOG, PID_FILE, agent_pid, is_agent
from zingy_nb.errors import NotebookAccessError
from zingy_nb.kernel.access_prompt import TIMEOUT_S
from zingy_nb.profiles import Profiles
from zingy_nb.server.asks import RETRY_MAX, AgentAsks
from zingy_nb.vault import MASTER_KEY_ENV, encode_key, new_key

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux agent")

WAIT = 90.0  # generous: a loaded 2-core machine
SECRET = "sk_test_MADEUP_consent_1"
OTHER = "gh_MADEUP_consent_2"
jp_server_config, front_end, log_in = asks.jp_server_config, asks.front_end, asks.log_in


class Store:
    """One test's store and agent folder, and the processes the test started."""

    def __init__(self, home: Path, script: Path) -> None:
        self.home = home
        self.location = StoreLocation(home)
        self.script = script
        self.peers: list[Peer] = []
        self.agents: set[int] = set()

    def profiles(self) -> Profiles:
        return Profiles(self.home)

    def peer(self) -> Peer:
        peer = Peer(self.script, keep=True)
        self.peers.append(peer)
        return peer

    def kernel(self, notebook: str | None) -> tuple[Peer, str]:
        """A registered cloud-flow kernel for ``notebook``, and its capability."""
        peer = self.peer()
        answer = peer.ask(do="register", notebook=notebook)
        assert answer["ok"], answer
        return peer, answer["cap"]

    def stop(self) -> None:
        for peer in self.peers:
            peer.stop()
        found = agent_pid(self.location.folder())
        if found is not None:
            self.agents.add(found)
        for pid in self.agents:
            if is_agent(pid):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + WAIT
            while not gone(pid):
                assert time.monotonic() < deadline, f"agent {pid} did not stop"
                time.sleep(0.05)


@pytest.fixture
def jp_runtime_dir() -> Path:
    """A short runtime folder (the agent's socket path is limited to 107 bytes)."""
    return Path(tempfile.mkdtemp(prefix="c", dir=os.environ["JUPYTER_RUNTIME_DIR"]))


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    home = tmp_path / "zingy"
    monkeypatch.setenv("ZINGY_NB_HOME", str(home))
    monkeypatch.setenv(MASTER_KEY_ENV, encode_key(new_key()))
    profiles = Profiles(home)
    profiles.set("stripe", SECRET)
    profiles.set("github", OTHER)
    found = Store(home, peer_script(tmp_path))
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture
def store_home(store: Store) -> Path:
    return store.home


# -- asked through the server -----------------------------------------------------------
async def test_allowed_by_a_browser_session(
    store: Store, front_end: AgentAsks, log_in: Any, jp_fetch: Any, jp_root_dir: Path
) -> None:
    browser = await log_in()
    # Given a kernel registered for a notebook that was never allowed
    nb = notebook(jp_root_dir, "work/pay.ipynb")
    kernel, cap = store.kernel(nb)
    # When it retrieves, the question reaches the server, naming the notebook by its path
    kernel.send(do="retrieve", cap=cap, name="stripe")
    (ask,) = await open_asks(jp_fetch)
    assert (ask["profile"], ask["notebook"], ask["path"]) == ("stripe", nb, "work/pay.ipynb")
    # and a browser session allows it
    response = await browser.post(f"zingy-nb/api/asks/{ask['id']}", {"answer": "allow"})
    assert response.code == 204, response.body
    # Then the kernel gets the values, the allowance is kept, and all of it is audited
    answer = await kernel.later()
    assert answer == {"ok": True, "values": [SECRET, None, None, None]}
    assert [(a.notebook, a.how) for a in access.allowances(store.profiles(), "stripe")] == [
        (nb, access.HOW_PROMPT)
    ]
    outcomes = {e.outcome for e in store.profiles().store.audit("stripe")}
    assert outcomes >= {access.ASKED, access.ALLOWED, "retrieved"}
    assert await open_asks(jp_fetch, 0) == []
    # and the next retrieval is not asked again
    assert kernel.ask(do="retrieve", cap=cap, name="stripe")["values"][0] == SECRET
    # and no log line of the agent holds the value
    log = (store.location.folder() / LOG).read_text()
    assert "asking the front end about profile 'stripe'" in log and SECRET not in log


async def test_denied_by_a_browser_session(
    store: Store, front_end: AgentAsks, log_in: Any, jp_fetch: Any, jp_root_dir: Path
) -> None:
    browser = await log_in()
    nb = notebook(jp_root_dir, "deny.ipynb")
    kernel, cap = store.kernel(nb)
    kernel.send(do="retrieve", cap=cap, name="stripe")
    (ask,) = await open_asks(jp_fetch)
    response = await browser.post(f"zingy-nb/api/asks/{ask['id']}", {"answer": "deny"})
    assert response.code == 204, response.body
    answer = await kernel.later()
    assert answer["error"] == NotebookAccessError.__name__, answer
    assert "it was denied" in answer["message"] and SECRET not in json.dumps(answer)
    assert access.allowances(store.profiles(), "stripe") == []
    assert access.DENIED in {e.outcome for e in store.profiles().store.audit("stripe")}


async def test_a_token_request_or_one_without_xsrf_cannot_answer(
    store: Store, front_end: AgentAsks, log_in: Any, jp_fetch: Any, jp_root_dir: Path
) -> None:
    browser = await log_in()
    nb = notebook(jp_root_dir, "token.ipynb")
    kernel, cap = store.kernel(nb)
    kernel.send(do="retrieve", cap=cap, name="stripe")
    (ask,) = await open_asks(jp_fetch)
    # A kernel can read the server's token: a token-authenticated answer is refused
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch(
            "zingy-nb", "api", "asks", ask["id"], method="POST", body='{"answer": "allow"}'
        )
    assert refused.value.code == 403
    assert refused.value.response is not None
    assert "answer in the dialog JupyterLab shows" in refused.value.response.body.decode()
    # so is a cookie without the XSRF header
    response = await browser.post(f"zingy-nb/api/asks/{ask['id']}", {"answer": "allow"}, False)
    assert response.code == 403
    # and the question is still open; the kernel still waits
    assert [a["id"] for a in await open_asks(jp_fetch)] == [ask["id"]]
    assert access.allowances(store.profiles(), "stripe") == []
    response = await browser.post(f"zingy-nb/api/asks/{ask['id']}", {"answer": "deny"})
    assert response.code == 204
    assert (await kernel.later())["error"] == NotebookAccessError.__name__


async def test_one_question_per_notebook_and_profile_and_others_go_on(
    store: Store, front_end: AgentAsks, log_in: Any, jp_fetch: Any, jp_root_dir: Path
) -> None:
    browser = await log_in()
    # Given two kernels of one notebook waiting for the same answer
    nb = notebook(jp_root_dir, "twice.ipynb")
    first, first_cap = store.kernel(nb)
    second, second_cap = store.kernel(nb)
    first.send(do="retrieve", cap=first_cap, name="stripe")
    await open_asks(jp_fetch)
    second.send(do="retrieve", cap=second_cap, name="stripe")
    # Then other kernels retrieve meanwhile (the wait holds no lock of the agent)
    nb_other = notebook(jp_root_dir, "other.ipynb")
    access.allow(store.profiles(), "github", nb_other, "cli")
    other, other_cap = store.kernel(nb_other)
    started = time.monotonic()
    other.send(do="retrieve", cap=other_cap, name="github")
    assert other.answer(timeout=10)["values"][0] == OTHER
    assert time.monotonic() - started < 10
    # and a question for another profile is asked beside the first
    other.send(do="retrieve", cap=other_cap, name="stripe")
    asks = await open_asks(jp_fetch, 2)
    await asyncio.sleep(0.5)
    asks = await open_asks(jp_fetch, 2)
    assert sorted((a["path"], a["profile"]) for a in asks) == [
        ("other.ipynb", "stripe"),
        ("twice.ipynb", "stripe"),
    ]
    # When the shared question is allowed once, both of its kernels get the values
    shared = next(a for a in asks if a["path"] == "twice.ipynb")
    response = await browser.post(f"zingy-nb/api/asks/{shared['id']}", {"answer": "allow"})
    assert response.code == 204
    for kernel in (first, second):
        assert (await kernel.later())["values"][0] == SECRET
    left = next(a for a in asks if a["path"] == "other.ipynb")
    await browser.post(f"zingy-nb/api/asks/{left['id']}", {"answer": "deny"})
    assert (await other.later())["error"] == NotebookAccessError.__name__


async def test_the_server_reconnects_when_the_agent_restarts(
    store: Store, front_end: AgentAsks, log_in: Any, jp_fetch: Any, jp_root_dir: Path
) -> None:
    browser = await log_in()
    pid = agent_pid(store.location.folder())
    assert pid is not None, "no agent serves the store"
    store.agents.add(pid)
    # When the agent stops, the server notices, and does not start one itself
    os.kill(pid, signal.SIGTERM)
    await until("the server lost its agent", lambda: not front_end.connected and gone(pid))
    await asyncio.sleep(RETRY_MAX * 2)
    assert not (store.location.folder() / PID_FILE).exists()
    # When a new agent starts (as a kernel's launcher starts it), the server reconnects
    client = ensure_agent(store.location, idle_timeout=600)
    assert client.pid is not None
    store.agents.add(client.pid)
    client.close()
    await until("the server reconnected", lambda: front_end.connected)
    # and asks for it again
    nb = notebook(jp_root_dir, "again.ipynb")
    kernel, cap = store.kernel(nb)
    kernel.send(do="retrieve", cap=cap, name="stripe")
    (ask,) = await open_asks(jp_fetch)
    assert ask["path"] == "again.ipynb"
    await browser.post(f"zingy-nb/api/asks/{ask['id']}", {"answer": "allow"})
    assert (await kernel.later())["values"][0] == SECRET


async def test_the_server_lets_go_of_its_agent_when_it_stops(
    store: Store, front_end: AgentAsks, jp_serverapp: Any, tmp_path: Path
) -> None:
    # When the server cleans up its extensions, as it does when it stops
    with connect(store.location) as agent:
        assert agent.status()["frontends"] == 1
        await jp_serverapp.cleanup_extensions()
        assert not front_end.connected
        await until("the agent has no front end", lambda: agent.status()["frontends"] == 0)
    # Then the agent has no front end: a kernel that needs asking is refused at once
    kernel, cap = store.kernel(notebook(tmp_path, "after.ipynb"))
    answer = kernel.ask(do="retrieve", cap=cap, name="stripe")
    assert "no JupyterLab is connected" in answer["message"], answer


async def until(what: str, check: Any) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.05)


async def test_a_retrieval_interrupted_while_asked_leaves_the_connection_in_step(
    store: Store, front_end: AgentAsks, log_in: Any, jp_fetch: Any, jp_root_dir: Path
) -> None:
    browser = await log_in()
    nb = notebook(jp_root_dir, "interrupted.ipynb")
    access.allow(store.profiles(), "github", nb, "cli")
    kernel, cap = store.kernel(nb)
    # Given a retrieval that is being asked about, interrupted (as a cell is)
    kernel.send(do="retrieve", cap=cap, name="stripe")
    (ask,) = await open_asks(jp_fetch)
    kernel.proc.send_signal(signal.SIGINT)
    assert (await kernel.later())["error"] == "KeyboardInterrupt"
    # When the same connection retrieves another profile, and the question is answered
    kernel.send(do="retrieve", cap=cap, name="github")
    await asyncio.sleep(0.2)
    await browser.post(f"zingy-nb/api/asks/{ask['id']}", {"answer": "deny"})
    # Then it gets that profile's values, not the late answer to the interrupted one
    assert await kernel.later() == {"ok": True, "values": [OTHER, None, None, None]}


# -- the agent's side alone --------------------------------------------------------------
def test_a_question_unanswered_in_time_is_settled_for_every_front_end() -> None:
    """``FrontEnds`` with a short time limit (the agent's is ``TIMEOUT_S``, 60 s) and a
    front end on a real socket: no answer in time is ``no-answer``, and the front end is
    told the question closed; answers to no open question, or not allow/deny, are
    ignored."""
    fronts = FrontEnds(lambda line: None, timeout=0.5)
    assert fronts.timeout == 0.5 and FrontEnds(lambda line: None).timeout == TIMEOUT_S
    agent_end, server_end = socket.socketpair()
    served = threading.Thread(target=fronts.serve, args=(agent_end, agent_end.makefile("rb")))
    served.start()
    events = server_end.makefile("rb")
    try:
        while not fronts.connected():
            time.sleep(0.01)
        started = time.monotonic()
        waiting = concurrent.futures.ThreadPoolExecutor(1)
        answer = waiting.submit(fronts._wait, "stripe", "/work/nb.ipynb")
        ask = json.loads(events.readline())
        assert ask == {"event": "ask", "ask": ask["ask"], "profile": "stripe",
                       "notebook": "/work/nb.ipynb"}  # fmt: skip
        for wrong in ({"ask": "0000", "answer": "allow"}, {"ask": ask["ask"], "answer": "yes"}):
            server_end.sendall(json.dumps({"op": "answer", **wrong}).encode() + b"\n")
        assert answer.result(timeout=WAIT) == access.NO_ANSWER
        assert 0.5 <= time.monotonic() - started < 10
        assert json.loads(events.readline()) == {"event": "settled", "ask": ask["ask"]}
        waiting.shutdown()
    finally:
        events.close()
        server_end.close()
        served.join(timeout=WAIT)
        agent_end.close()
    assert not served.is_alive() and not fronts.connected()


# -- without a front end, and kernels as front ends -------------------------------------
def test_without_a_front_end_it_is_refused_at_once(store: Store, tmp_path: Path) -> None:
    client = ensure_agent(store.location, idle_timeout=600)
    assert client.pid is not None
    store.agents.add(client.pid)
    client.close()
    nb = notebook(tmp_path, "alone.ipynb")
    kernel, cap = store.kernel(nb)
    started = time.monotonic()
    answer = kernel.ask(do="retrieve", cap=cap, name="stripe")
    assert time.monotonic() - started < 10
    assert answer["error"] == NotebookAccessError.__name__, answer
    message = answer["message"]
    assert "no JupyterLab is connected" in message and "Open the notebook in JupyterLab" in message
    assert "zingy-nb profiles allow stripe" in message and "stdin" not in message
    assert access.NOT_ALLOWED in {e.outcome for e in store.profiles().store.audit("stripe")}


def test_a_kernel_or_its_child_cannot_be_a_front_end(store: Store) -> None:
    client = ensure_agent(store.location, idle_timeout=600)
    assert client.pid is not None
    store.agents.add(client.pid)
    client.close()
    kernel, _cap = store.kernel(None)
    for answer in (
        kernel.ask(do="frontend"),
        kernel.ask(do="child", cmd={"do": "frontend"}),
    ):
        assert answer["error"] == NotebookAccessError.__name__, answer
        assert "cannot answer notebook-access questions" in answer["message"]
    # while a process outside every kernel can
    outsider = store.peer()
    assert outsider.ask(do="frontend") == {"ok": True}
    with connect(store.location) as check:
        assert check.status()["kernels"] == 1
