"""Unlocking a locked key through a real Jupyter server, as JupyterLab's Unlock dialog
does: a kernel's retrieval waits in the agent, the server lists the question (kind
``unlock``), and a browser session posts the passphrase.

The store's key was protected and locked with the real CLI before the server started;
the notebook-access check is off, so the only question is the key's.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests import asks
from tests.asks import notebook, open_asks
from tests.kernels import run_cli

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the agent: Linux")

jp_server_config, front_end, log_in = asks.jp_server_config, asks.front_end, asks.log_in
cloud_kernelspec, sessions = asks.cloud_kernelspec, asks.sessions

PASSPHRASE = "made-up passphrase for the dialog"
SECRET = "sk_test_MADEUP_unlock_server_5521"
RETRIEVE = "print(len(zingyConn.apikey('stripe').secret1))"


@pytest.fixture
def store_home(jp_environ: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store whose key is locked, with the agent (in this test's runtime folder)
    running and locked: as after `zingy-nb lock`. The server's kernels use it too."""
    home = tmp_path / "store"
    monkeypatch.setenv("ZINGY_NB_HOME", str(home))
    run_cli(home, "profiles", "set", "stripe", "--stdin", stdin=SECRET + "\n")
    run_cli(home, "store", "config", "notebook-access", "off")
    run_cli(home, "key", "protect", "--stdin", stdin=PASSPHRASE + "\n")
    run_cli(home, "lock")
    return home


async def test_a_retrieval_waits_for_a_person_to_unlock(
    store_home: Path, sessions: Any, front_end: Any, log_in: Any, jp_fetch: Any, jp_root_dir: Path
) -> None:
    browser = await log_in()
    notebook(jp_root_dir, "pay.ipynb")
    session = await sessions("pay.ipynb")
    # When a cell retrieves while the key is locked, the question reaches the server
    cell = asyncio.ensure_future(session.run(RETRIEVE, allow_stdin=False))
    (ask,) = await open_asks(jp_fetch)
    assert ask["kind"] == "unlock" and ask["profile"] is None, ask
    # A token-authenticated request (a kernel can read the token) cannot unlock
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("zingy-nb", "api", "unlock", method="POST",
                       body=json.dumps({"passphrase": PASSPHRASE}))  # fmt: skip
    assert refused.value.code == 403
    # A wrong passphrase is refused and the question stays open
    wrong = await browser.post("zingy-nb/api/unlock", {"passphrase": "not the passphrase"})
    assert wrong.code == 403 and b"does not unlock" in wrong.body
    assert [a["id"] for a in await open_asks(jp_fetch)] == [ask["id"]]
    # The right one unlocks: the cell goes on, and the question is gone
    right = await browser.post("zingy-nb/api/unlock", {"passphrase": PASSPHRASE})
    assert right.code == 204, right.body
    ran = await cell
    assert ran.ename is None and ran.stdout.strip() == str(len(SECRET)), ran.reply
    assert await open_asks(jp_fetch, 0) == []
    assert SECRET not in json.dumps(ran.reply)


async def test_with_no_front_end_a_locked_store_is_refused_at_once(
    store_home: Path, sessions: Any, front_end: Any, jp_root_dir: Path
) -> None:
    front_end.stop()
    notebook(jp_root_dir, "headless.ipynb")
    session = await sessions("headless.ipynb")
    ran = await session.run(RETRIEVE, allow_stdin=False)
    assert ran.ename == "StoreLockedError" and "zingy-nb unlock" in ran.evalue, ran.reply


async def test_a_sidebar_save_waits_for_the_same_dialog(
    store_home: Path, front_end: Any, log_in: Any, jp_fetch: Any
) -> None:
    browser = await log_in()
    # The sidebar saves through the server, which asks its agent to seal: the key is
    # locked, so the request waits while the server's own front end asks to unlock
    save = asyncio.ensure_future(
        jp_fetch("zingy-nb", "api", "profiles", "github", method="PUT",
                 body=json.dumps({"secret1": "ghp_MADEUP_sidebar_while_locked_01"}))
    )  # fmt: skip
    (ask,) = await open_asks(jp_fetch)
    assert ask["kind"] == "unlock"
    right = await browser.post("zingy-nb/api/unlock", {"passphrase": PASSPHRASE})
    assert right.code == 204, right.body
    saved = await save
    assert saved.code in (200, 201), saved.body
    assert json.loads(saved.body)["name"] == "github"
