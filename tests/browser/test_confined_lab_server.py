"""A confined kernel of a real JupyterLab server cannot find the server's token, so it
cannot drive the server as the person (start kernels, answer questions, allow).

The server runs as a person starts it (``JUPYTER_TOKEN`` in its environment, its
``jpserver-PID.json`` in Jupyter's runtime folder); the kernel is started through the
sessions API, as JupyterLab starts it. Inside, a cell looks where a hostile notebook
would: its environment, the runtime folder, every process's command line and
environment; then it calls the server's API with whatever it found.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from jupyter_client.blocking import BlockingKernelClient

from zingy_nb.agent.confine import bwrap

if TYPE_CHECKING:
    from .conftest import LabServer

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or bwrap() is None,
    reason="confined kernels need Linux and bubblewrap (.ci/run installs it)",
)

LOOK = """
import glob, json, os, re, urllib.request, urllib.error
RUNTIME, URL = {runtime!r}, {url!r}
found = set()
for name in ("JUPYTER_TOKEN", "JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"):
    if os.environ.get(name):
        found.add(os.environ[name])
for path in glob.glob(os.path.join(RUNTIME, "jpserver-*.json")):
    found.add(json.load(open(path))["token"])
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    for what in ("environ", "cmdline"):
        try:
            text = open(f"/proc/{{pid}}/{{what}}", "rb").read().decode("latin-1")
        except OSError:
            continue
        found.update(re.findall(r"(?:JUPYTER_TOKEN=|token=)([0-9a-f]{{16,}})", text))
def status(token):
    try:
        req = urllib.request.Request(URL + "api/kernels", headers={{"Authorization": "token " + token}})
        return urllib.request.urlopen(req, timeout=10).status
    except urllib.error.HTTPError as e:
        return e.code
print(json.dumps({{"found": len(found), "statuses": [status(t) for t in found],
                  "anonymous": status(""), "runtime": sorted(os.listdir(RUNTIME))}}))
"""


def api(lab_server: LabServer, method: str, path: str, body: object = None) -> dict[str, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        lab_server.url + path, data=data, method=method,
        headers={"Authorization": f"token {lab_server.token}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
    return json.loads(text) if text else {}


def test_a_confined_kernel_finds_no_token_to_drive_the_server(lab_server: LabServer) -> None:
    runtime = Path(lab_server.env["JUPYTER_RUNTIME_DIR"])
    # The token is there, for processes outside a kernel: in the server's info file
    info = list(runtime.glob("jpserver-*.json"))
    assert any(json.loads(p.read_text())["token"] == lab_server.token for p in info), info
    (lab_server.root_dir / "confined.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    session = api(lab_server, "POST", "api/sessions", {
        "path": "confined.ipynb", "name": "confined.ipynb", "type": "notebook",
        "kernel": {"name": "zingy-cloud-flow"},
    })  # fmt: skip
    kernel = session["kernel"]
    assert isinstance(kernel, dict)
    kc = BlockingKernelClient(connection_file=str(runtime / f"kernel-{kernel['id']}.json"))
    kc.load_connection_file()
    kc.start_channels()
    out: list[str] = []
    try:
        kc.wait_for_ready(timeout=120)
        code = LOOK.format(runtime=str(runtime), url=lab_server.url)
        reply = kc.execute_interactive(
            code, timeout=120,
            output_hook=lambda m: out.append(m["content"].get("text", "")),
        )  # fmt: skip
    finally:
        kc.stop_channels()
        api(lab_server, "DELETE", f"api/sessions/{session['id']}")
    assert reply["content"]["status"] == "ok", reply["content"]
    found = json.loads("".join(out).strip().splitlines()[-1])
    # Inside: no token anywhere, its runtime folder holds its own connection file only,
    # and the server refuses a request without one
    assert found["found"] == 0 and found["statuses"] == [], found
    own = f"kernel-{kernel['id']}.json"
    assert own in found["runtime"] and set(found["runtime"]) <= {own, "zingy-nb"}, found
    assert found["anonymous"] == 403, found
    assert lab_server.token not in "".join(out)
    assert os.environ.get("JUPYTER_TOKEN") != lab_server.token  # the test's own: not it
