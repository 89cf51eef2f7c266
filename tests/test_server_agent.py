"""The Jupyter server holds no key on Linux: the store's agent seals what its sidebar
saves and matches what its save-time scrub looks for (``server.store``,
``agent.person``), with a real server (pytest-jupyter) and a real agent.

The proof is that the server works once the key's only copy on disk is gone: the agent
read it before the server started, and the server never did. With the key in the
server, as before, every one of these steps fails for want of a key.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from tests.leaks.scanner import find
from zingy_nb.agent.client import ensure_agent
from zingy_nb.agent.location import StoreLocation
from zingy_nb.agent.person import PersonProfiles
from zingy_nb.agent.remote import OVERLAP, WINDOW
from zingy_nb.paths import KEY_FILE
from zingy_nb.profiles import Profiles
from zingy_nb.redact import MASK
from zingy_nb.server.store import STORE_KEY

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the agent runs on Linux")

SECRET = "sk_live_MADEUP_person_0001"
NEW = "sk_live_MADEUP_person_new_0002"


@pytest.fixture
def store(zingy_home: Path, jp_environ: None) -> Iterator[Path]:
    """A store with one profile whose key file is gone once its agent has read it. The
    agent is the server's: it lives under pytest-jupyter's runtime folder (jp_environ)."""
    Profiles(zingy_home).set("stripe", SECRET)
    with ensure_agent(StoreLocation(zingy_home, None)) as client:
        # A person's process, no capability: the agent opens every value (for the
        # scrub's matcher), so it holds the key from here on
        assert client.spans(None, [f"<{SECRET}>"]) == [[(1, 1 + len(SECRET))]]
        agent = client.pid
    (zingy_home / KEY_FILE).unlink()
    yield zingy_home
    if agent is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(agent, signal.SIGTERM)


@pytest.fixture
def jp_server_config(store: Path) -> Config:
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"zingy_nb": True}},
            "ZingyNb": {"store_home": str(store)},
        }
    )


async def test_the_sidebar_saves_through_the_agent(
    jp_fetch: Any, jp_serverapp: Any, store: Path
) -> None:
    profiles = jp_serverapp.web_app.settings[STORE_KEY].profiles()
    assert isinstance(profiles, PersonProfiles) and profiles.vault.kind == "agent"
    body = json.dumps({"secret1": NEW})
    response = await jp_fetch("zingy-nb", "api", "profiles", "openai", method="PUT", body=body)
    assert response.code in (200, 201)
    status = json.loads((await jp_fetch("zingy-nb", "api", "status")).body)
    assert status["profiles"] == 2, status  # its custody says the file is gone: true
    assert not (store / KEY_FILE).exists()  # nobody made a new key: the agent's sealed it
    with ensure_agent(StoreLocation(store, None)) as client:
        found = client.spans(None, [f"x {NEW} y"])
    assert found == [[(2, 2 + len(NEW))]]  # the agent opens what the server saved


async def test_the_save_time_scrub_matches_through_the_agent(
    jp_fetch: Any, jp_root_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outputs = [{"output_type": "stream", "name": "stdout", "text": f"key={SECRET}\n"}]
    cell = {"cell_type": "code", "id": "code", "source": "print(k)", "metadata": {},
            "outputs": outputs, "execution_count": None}  # fmt: skip
    text = {"cell_type": "markdown", "id": "text", "source": f"<b>{SECRET}</b>", "metadata": {}}
    notebook = {
        "cells": [cell, text],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    await jp_fetch(
        "api", "contents", "n.ipynb", method="PUT",
        body=json.dumps({"type": "notebook", "content": notebook}),
    )  # fmt: skip
    on_disk = (jp_root_dir / "n.ipynb").read_text()
    assert find(on_disk, {"secret": SECRET}, "n.ipynb") == []
    assert on_disk.count(MASK) == 2
    assert "WITHOUT scrubbing" not in caplog.text


def test_long_texts_are_matched_in_overlapping_windows(store: Path) -> None:
    # Values at a window's edge, inside the overlap, and in a text of many windows
    profiles = PersonProfiles(store)
    try:
        edges = [WINDOW - 5, WINDOW - OVERLAP + 3, 3 * WINDOW]
        texts = ["a" * at + SECRET + "b" * 100 for at in edges] + [f"short {SECRET}"] * 3
        got = profiles._redactor_of_all().count_all(texts)
    finally:
        profiles.close()
    assert [n for _, n in got] == [1] * len(texts)
    assert [text for text, _ in got] == [t.replace(SECRET, MASK) for t in texts]


def test_a_kernels_child_without_its_capability_is_refused(store: Path, tmp_path: Path) -> None:
    # A registered process (as a launcher registers the kernel it execs) starts a child
    # that asks as a person would, without the capability: the agent refuses it
    script = tmp_path / "child.py"
    script.write_text(
        "import json, subprocess, sys\n"
        "from pathlib import Path\n"
        "from zingy_nb.agent.client import connect\n"
        "from zingy_nb.agent.location import StoreLocation\n"
        "location = StoreLocation(Path(sys.argv[1]), None)\n"
        "if sys.argv[2] == 'kernel':\n"
        "    with connect(location) as c:\n"
        "        c.register('cloud-flow')\n"
        "        sys.exit(subprocess.call([sys.executable, __file__, sys.argv[1], 'child']))\n"
        "try:\n"
        "    connect(location).spans(None, ['x' * 20])\n"
        "except Exception as exc:\n"
        "    print(json.dumps([type(exc).__name__, str(exc)]))\n"
        "    sys.exit(3)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script), str(store), "kernel"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    name, message = json.loads(done.stdout)
    assert name == "CloudFlowOnlyError" and "runs under a kernel" in message
