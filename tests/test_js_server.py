"""JavaScript flow kernels started by a real Jupyter server (pytest-jupyter), as
JupyterLab starts them: notebook access is asked through the server and answered from
a browser session, as for Python kernels (#26), and the audit names the notebook.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import asks
from tests.asks import answered, notebook, open_asks
from zingy_nb import kernels
from zingy_nb.profiles import Profiles

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or kernels.deno_executable() is None,
    reason="the JavaScript kernels need Deno (the javascript extra); the agent is Linux-only",
)

jp_server_config, front_end, log_in = asks.jp_server_config, asks.front_end, asks.log_in
sessions, jp_runtime_dir = asks.sessions, asks.jp_runtime_dir

SECRET = "sk_test_MADEUP_js_server_access_1"
RETRIEVE = "console.log(zingyConn.apikey('stripe').secret1.length)"


@pytest.fixture(autouse=True)
def agents_stopped(jp_runtime_dir: Path) -> Iterator[None]:
    """The agent the server's kernels registered with is stopped at the test's end."""
    yield
    from tests.isolation import stop_agents

    assert stop_agents(jp_runtime_dir) >= 1  # it did run there


@pytest.fixture
def store_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from zingy_nb.vault import encode_key, new_key

    home = tmp_path / "zingy"
    monkeypatch.setenv("ZINGY_NB_HOME", str(home))
    monkeypatch.setenv("ZINGY_NB_MASTER_KEY", encode_key(new_key()))
    monkeypatch.delenv("ZINGY_NB_STORE_URL", raising=False)
    Profiles(home, url="").set("stripe", SECRET)
    return home


@pytest.fixture
def cloud_kernelspec(jp_environ: Any) -> str:
    kernels.install(user=True)
    return "zingy-js-cloud-flow"


async def test_a_javascript_notebook_is_asked_through_the_server_then_reads(
    store_home: Path,
    sessions: Any,
    front_end: Any,
    log_in: Any,
    jp_fetch: Any,
    jp_root_dir: Path,
) -> None:
    browser = await log_in()
    # Given a JavaScript notebook opened as JupyterLab opens one
    pay = notebook(jp_root_dir, "pay.ipynb")
    first = await sessions("pay.ipynb")
    # When it first retrieves, the agent asks through the server; the browser allows
    ran = await answered(first, jp_fetch, browser, "allow", pay, RETRIEVE, allow_stdin=False)
    assert ran.ename is None and ran.stdout.strip() == str(len(SECRET)), ran.reply
    assert SECRET not in json.dumps(ran.reply)
    # Then it is not asked again
    assert (await first.run(RETRIEVE, allow_stdin=False)).stdout.strip() == str(len(SECRET))
    assert await open_asks(jp_fetch, 0) == []
    # And another notebook that is denied gets Python's error, and nothing
    other_nb = notebook(jp_root_dir, "other.ipynb")
    other = await sessions("other.ipynb")
    denied = await answered(other, jp_fetch, browser, "deny", other_nb, RETRIEVE, allow_stdin=False)
    assert denied.ename == "NotebookAccessError" and "denied" in denied.evalue
    audit = {(e.outcome, e.notebook, e.flow) for e in Profiles(store_home).store.audit("stripe")}
    assert ("retrieved", pay, "cloud-flow") in audit
    assert ("denied", other_nb, "cloud-flow") in audit
