"""Voila renders a cloud-flow notebook through the zingy launcher, and a page-flow one
refuses, with no value in the page.

Voila starts the notebook's kernel from its kernelspec, so the kernel runs the launcher:
it holds a capability from the store's agent (the key is only in Voila's environment),
retrieves through it, and the page shows only what the notebook printed. Voila names no
notebook to the kernel (no ``JPY_SESSION_NAME``), so notebook access is not checked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.isolation import stop_agents
from tests.ports import free_port
from zingy_nb import kernels
from zingy_nb.profiles import Profiles

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the launcher and its agent are Linux-only"
)

KEY = base64.urlsafe_b64encode(b"made-up-voila-test-key-012345678").decode()
VALUE = "sk_test_voila_made_up_0123456789abcdef"
DIGEST = hashlib.sha256(VALUE.encode()).hexdigest()
CELL = (
    "import hashlib\n"
    "print('digest', hashlib.sha256(zingyConn.apikey('stripe').secret1.encode()).hexdigest())"
)


def notebook(path: Path, kernel: str) -> Path:
    path.write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {},
                   "outputs": [], "source": CELL}],
        "metadata": {"kernelspec": {"name": kernel, "display_name": kernel,
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }))  # fmt: skip
    return path


@pytest.fixture(scope="module")
def voila(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A Voila server on 127.0.0.1 serving two notebooks, the store's key in its
    environment only; it and the agent its kernels start are stopped at the end."""
    root = tmp_path_factory.mktemp("voila")
    home = root / "store"
    mp = pytest.MonkeyPatch()
    mp.setenv("ZINGY_NB_MASTER_KEY", KEY)
    Profiles(home, url="").set("stripe", VALUE)
    mp.undo()
    kernels.install(prefix=str(root / "prefix"))
    served = root / "served"
    served.mkdir()
    notebook(served / "cloud.ipynb", "zingy-cloud-flow")
    notebook(served / "page.ipynb", "zingy-page-flow")
    runtime = Path(tempfile.mkdtemp(prefix="v", dir=os.environ["JUPYTER_RUNTIME_DIR"]))
    env = dict(os.environ, ZINGY_NB_HOME=str(home), ZINGY_NB_MASTER_KEY=KEY,
               JUPYTER_PATH=str(root / "prefix" / "share" / "jupyter"),
               JUPYTER_RUNTIME_DIR=str(runtime))  # fmt: skip
    env.pop("ZINGY_NB_FLOW", None)
    port = free_port()
    log = open(root / "voila.log", "wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("voila")), "--no-browser", f"--port={port}",
         "--Voila.ip=127.0.0.1", "--show_tracebacks=True", str(served)],
        env=env, cwd=served, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=5).read()
                break
            except OSError:
                assert proc.poll() is None, (root / "voila.log").read_text()
                assert time.monotonic() < deadline, (root / "voila.log").read_text()
                time.sleep(0.2)
        yield {"base": base, "log": root / "voila.log", "runtime": runtime}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        stop_agents(runtime)


def render(voila: dict[str, Any], name: str) -> str:
    url = f"{voila['base']}/voila/render/{name}"
    return urllib.request.urlopen(url, timeout=120).read().decode("utf-8", "replace")


def test_a_cloud_flow_notebook_retrieves_through_the_agent(voila: dict[str, Any]) -> None:
    page = render(voila, "cloud.ipynb")
    assert f"digest {DIGEST}" in page, page[-3000:]
    assert VALUE not in page and KEY not in page
    assert KEY not in voila["log"].read_text() and VALUE not in voila["log"].read_text()
    # the kernel was the launcher's: the store's agent registered it
    (agent_log,) = voila["runtime"].glob("zingy-nb/agent-*/agent.log")
    assert "registered a cloud-flow kernel" in agent_log.read_text()


def test_a_page_flow_notebook_is_refused(voila: dict[str, Any]) -> None:
    page = render(voila, "page.ipynb")
    assert "CloudFlowOnlyError" in page and DIGEST not in page, page[-3000:]
    assert VALUE not in page
