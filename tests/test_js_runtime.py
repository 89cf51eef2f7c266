"""JavaScript cloud-flow notebooks under ``zingy-nb run`` and ``zingy-nb serve`` (#26).

``run`` runs them as it runs Python ones (papermill on the notebook's kernelspec, the
JavaScript kernels' proxy redacting what they send). ``serve`` reads endpoint
annotations as `//` comments in them (Kernel Gateway's ``comment_prefix`` for the
language Deno reports, typescript) and sets ``REQUEST`` as a global.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests.test_runtime_run import (
    NOTEBOOKS,
    PROFILES,
    Runtime,
    audit_rows,
    no_secret_in,
    runtime_fixture,  # noqa: F401  (the fixture `runtime`)
    zingy,
)
from tests.test_runtime_serve import Server, serving, signed
from zingy_nb import kernels

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or kernels.deno_executable() is None,
    reason="the JavaScript kernels need Deno (the javascript extra); the agent is Linux-only",
)

SIGNING = PROFILES["shop-webhooks"]["secret1"]
HOOK = "/webhooks/orders"
#: A signed-webhook receiver in JavaScript, as notebooks/webhook.ipynb is in Python.
CELLS = [
    """const keyInfo = zingyConn.apikey("shop-webhooks");
async function signature(body) {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(keyInfo.secret1),
    { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body));
  return Array.from(new Uint8Array(mac)).map((b) => b.toString(16).padStart(2, "0")).join("");
}""",
    """// POST /webhooks/orders
var request = JSON.parse(REQUEST);
var body = typeof request.body === "string" ? request.body : JSON.stringify(request.body);
var headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v]));
var valid = headers["x-signature"] === await signature(body);
console.log(JSON.stringify(valid ? { status: 200, order: JSON.parse(body).id } : { error: "bad signature" }));""",
    """// ResponseInfo POST /webhooks/orders
console.log(JSON.stringify({ status: valid ? 200 : 401, headers: { "Content-Type": "application/json" } }));""",
    """// POST /leak
console.log("the key is", keyInfo.secret1);""",
]


def js_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "zingy-js-cloud-flow", "language": "typescript",
                                 "display_name": "JavaScript (Zingy Cloud Flow)"}  # fmt: skip
    nb.metadata["language_info"] = {"name": "typescript"}  # as Deno reports it
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def hook(runtime: Runtime) -> Iterator[Server]:
    with serving(runtime, js_notebook(runtime.root / "hook.ipynb")) as server:
        yield server


def test_serve_answers_a_javascript_web_hook(hook: Server) -> None:
    order = json.dumps({"id": "A-3001", "total": 5}, separators=(",", ":")).encode()
    good = hook.call("POST", HOOK, order, Content_Type="application/json",
                     X_Signature=signed(order, SIGNING))  # fmt: skip
    assert (good.status, json.loads(good.body)) == (200, {"status": 200, "order": "A-3001"})
    bad = hook.call("POST", HOOK, order, Content_Type="application/json", X_Signature="0" * 64)
    assert bad.status == 401
    leak = hook.call("POST", "/leak", b"{}", Content_Type="application/json")
    assert leak.status == 200 and leak.body.strip() == "the key is [REDACTED]"
    for reply in hook.replies:
        no_secret_in(reply.everything())
    no_secret_in(hook.text())


def test_run_runs_a_javascript_notebook_and_saves_it_redacted(
    runtime: Runtime, tmp_path: Path
) -> None:
    out = tmp_path / "out.ipynb"
    done = zingy(runtime, "run", str(NOTEBOOKS / "quickstart-js.ipynb"), "--output", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    saved = out.read_text()
    assert "Bearer [REDACTED]" in saved
    no_secret_in(saved + done.stdout + done.stderr)


def test_the_audit_names_the_served_javascript_notebook_and_its_flow(
    hook: Server, runtime: Runtime
) -> None:
    order = b'{"id":"A-3002","total":1}'
    assert hook.call("POST", HOOK, order, Content_Type="application/json",
                     X_Signature=signed(order, SIGNING)).status == 200  # fmt: skip
    rows = [r for r in audit_rows(runtime, "shop-webhooks") if r["via"] == "serve"]
    served = os.path.realpath(runtime.root / "hook.ipynb")
    assert any(r["outcome"] == "retrieved" and r["notebook"] == served for r in rows), rows
    assert all(r["flow"] == "cloud-flow" for r in rows if r["notebook"] == served), rows
