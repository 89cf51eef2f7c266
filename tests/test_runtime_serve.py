"""``zingy-nb serve``: a cloud-flow notebook's endpoint cells answering real HTTP requests.

Each server is a real ``zingy-nb serve`` process (Jupyter Kernel Gateway inside) on a
free port of 127.0.0.1, on the throwaway store and kernelspecs of ``test_runtime_run``.
Requests are signed the way a sender signs them. Every server is stopped with SIGTERM
at the end, and its kernels must be gone with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.ports import free_port
from tests.test_runtime_run import (
    CLOUD,
    NOTEBOOKS,
    PROFILES,
    REFUSED,
    ZINGY,
    Runtime,
    audit_rows,
    check_refused,
    no_secret_in,
    notebook,
    runtime_fixture,  # noqa: F401  (the fixture `runtime`)
    zingy,
)

READY = "zingy-nb serve: ready"
START_TIMEOUT = 120
HOOK = "/webhooks/orders"
SIGNING = PROFILES["shop-webhooks"]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str

    def everything(self) -> str:
        return self.body + json.dumps(self.headers)


@dataclass
class Server:
    """A running ``zingy-nb serve`` and everything it answered (for the leak checks)."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    replies: list[Reply] = field(default_factory=list)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def call(self, method: str, path: str, body: bytes | None = None, **headers: str) -> Reply:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=body, method=method,
            headers={k.replace("_", "-"): v for k, v in headers.items()},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                reply = Reply(response.status, dict(response.headers), response.read().decode())
        except urllib.error.HTTPError as err:
            reply = Reply(err.code, dict(err.headers), err.read().decode())
        self.replies.append(reply)
        return reply

    def kernels(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def stop(self) -> int:
        """SIGTERM, as systemd or a container runtime stops it; its exit status."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


@contextlib.contextmanager
def serving(runtime: Runtime, path: Path, *args: str, **env: str) -> Iterator[Server]:
    """``zingy-nb serve PATH ARGS`` until its kernels are ready; always stopped after."""
    port = free_port()
    log = runtime.root / f"serve-{port}.log"
    full = {**runtime.env, **env}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*ZINGY, "serve", str(path), "--port", str(port), *args],
            env=full, cwd=runtime.root, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
        )  # fmt: skip
    server = Server(proc, port, log)
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while READY not in server.text():
            assert proc.poll() is None, f"serve exited {proc.returncode}:\n{server.text()}"
            assert time.monotonic() < deadline, f"serve not ready:\n{server.text()}"
            time.sleep(0.1)
        children = server.kernels()
        yield server
    finally:
        if proc.poll() is None:
            children = children or server.kernels()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for child in children:  # never leave a kernel behind, even when a test failed
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()


def signed(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture(scope="module")
def webhook(runtime: Runtime) -> Iterator[Server]:
    """The example web hook, served with two kernels."""
    with serving(runtime, NOTEBOOKS / "webhook.ipynb", "--workers", "2") as server:
        yield server


ORDER = json.dumps({"id": "A-2001", "total": 12}, separators=(",", ":")).encode()


def send_order(server: Server) -> Reply:
    """The order, signed with the current secret, as a sender posts it."""
    signature = signed(ORDER, SIGNING["secret1"])
    return server.call("POST", HOOK, ORDER, Content_Type="application/json", X_Signature=signature)


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_signed_webhook_statuses(webhook: Server, content_type: str) -> None:
    # Given an order body as a sender posts it
    def post(body: bytes, **headers: str) -> Reply:
        return webhook.call("POST", HOOK, body, Content_Type=content_type, **headers)

    # When it is signed with the current secret, then with the previous one (a rotation)
    current = post(ORDER, X_Signature=signed(ORDER, SIGNING["secret1"]))
    previous = post(ORDER, X_Signature=signed(ORDER, SIGNING["secret2"]))
    # Then both are accepted, and the hook acts on the order
    for reply in (current, previous):
        assert reply.status == 200, reply
        assert json.loads(reply.body) == {"status": 200, "order": "A-2001", "action": "fulfil"}
        assert reply.headers["Content-Type"] == "application/json"
    # And a bad, a missing or a tampered signature is refused
    bad = post(ORDER, X_Signature="0" * 64)
    missing = post(ORDER)
    tampered = post(ORDER.replace(b"12", b"1"), X_Signature=signed(ORDER, SIGNING["secret1"]))
    other = post(ORDER, X_Signature=signed(ORDER, "a-secret-the-sender-made-up"))
    for reply in (bad, missing, tampered, other):
        assert reply.status == 401, reply
        assert json.loads(reply.body) == {"status": 401, "error": "bad signature"}


def test_workers_are_kernels_that_share_the_requests(webhook: Server) -> None:
    # Given the hook served with --workers 2
    kernels = [p for p in webhook.kernels()
               if "ipykernel_launcher" in " ".join(p.cmdline()) and p.name() != "bwrap"]  # fmt: skip
    assert len(kernels) == 2  # the kernels themselves, not the bwrap that confines each
    # When requests arrive at the same time
    replies: list[Reply] = []

    def send() -> None:
        replies.append(send_order(webhook))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    # Then every one is answered correctly
    assert [r.status for r in replies] == [200] * 8


@pytest.fixture(scope="module")
def probe(runtime: Runtime) -> Iterator[Server]:
    """A notebook whose endpoints print secrets, report the kernel, prompt and fail."""
    path = notebook(
        runtime.root / "probe-serve.ipynb", CLOUD,
        "import json, os\nkeyInfo = zingyConn.apikey('shop-webhooks')",
        "# GET /leak\nprint('secret1 is', keyInfo.secret1)",
        "# ResponseInfo GET /leak\nprint(json.dumps({'status': 200, 'headers': "
        "{'X-Leak': keyInfo.secret2, 'Content-Type': 'text/plain'}}))",
        "# GET /kernel\nip = get_ipython()\nprint(json.dumps({'via': os.environ.get('ZINGY_NB_VIA'), "
        "'session': os.environ.get('JPY_SESSION_NAME'), 'flow': os.environ.get('ZINGY_NB_FLOW'), "
        "'history': ip.history_manager.enabled, 'inputs': len(ip.user_ns['In'])}))",
        "# POST /echo\nprint(len(json.loads(REQUEST)['body']))",
        "# GET /prompt\nprint(input('who? '))",
        "# GET /fail\nraise ValueError('bad key ' + keyInfo.secret1)",
    )  # fmt: skip
    ipython = runtime.root / "ipython-serve"
    other = str(runtime.root / "someone-elses.ipynb")  # an identity the server inherits
    with serving(runtime, path, IPYTHONDIR=str(ipython), JPY_SESSION_NAME=other) as server:
        yield server


def test_the_address_is_logged_once_the_kernels_are_ready(webhook: Server) -> None:
    log = webhook.text()
    assert f"{READY}: 2 kernel(s) of zingy-cloud-flow serving at http://127.0.0.1:" in log
    assert "available at" not in log  # Kernel Gateway's, logged before its kernels were


def test_a_handler_that_prints_a_secret_answers_redacted(probe: Server) -> None:
    # When endpoints print stored values into the body, a header and an error
    leak = probe.call("GET", "/leak")
    fail = probe.call("GET", "/fail")
    # Then the caller gets [REDACTED] in their place
    assert leak.status == 200 and leak.body == "secret1 is [REDACTED]\n"
    assert leak.headers["X-Leak"] == "[REDACTED]"
    assert fail.status == 500 and "ValueError: bad key [REDACTED]" in fail.body
    for reply in (leak, fail):
        no_secret_in(reply.everything())


def test_served_kernels_say_how_they_run_and_keep_no_history(
    probe: Server, runtime: Runtime
) -> None:
    # Given requests whose bodies would land in IPython's history
    marker = "a-request-body-to-forget"
    for _ in range(3):
        assert probe.call("POST", "/echo", marker.encode()).status == 200
    # When the kernel reports on itself
    first = json.loads(probe.call("GET", "/kernel").body)
    again = json.loads(probe.call("GET", "/kernel").body)
    # Then it is a cloud-flow kernel marked "serve", without the notebook identity serve had
    assert {k: first[k] for k in ("via", "session", "flow")} == {
        "via": "serve", "session": os.path.realpath(runtime.root / "probe-serve.ipynb"), "flow": "cloud-flow",
    }  # fmt: skip
    # And its history is off, requests are not kept in In, nothing reached history.sqlite
    assert first["history"] is False
    assert first["inputs"] == again["inputs"]
    for path in (runtime.root / "ipython-serve").rglob("*"):
        assert not path.is_file() or marker.encode() not in path.read_bytes(), path


def test_a_cell_that_prompts_fails_at_once(probe: Server) -> None:
    # When an endpoint asks for input, with nobody to answer
    started = time.monotonic()
    reply = probe.call("GET", "/prompt")
    # Then the request fails promptly instead of hanging
    assert reply.status == 500 and "StdinNotImplementedError" in reply.body
    assert time.monotonic() - started < 30


def test_no_stored_value_in_responses_or_log(webhook: Server, probe: Server) -> None:
    # Given every request both servers answered in this module so far, and two more
    send_order(webhook)
    probe.call("GET", "/leak")
    # Then no response body or header, and neither server's log, holds a stored value
    for server in (webhook, probe):
        assert server.replies
        for reply in server.replies:
            no_secret_in(reply.everything())
        no_secret_in(server.text())


def test_sigterm_stops_the_server_and_its_kernels(runtime: Runtime) -> None:
    # Given the example served with two kernels
    with serving(runtime, NOTEBOOKS / "webhook.ipynb", "--workers", "2") as server:
        kernels = server.kernels()
        assert len(kernels) >= 2
        # When it gets SIGTERM
        status = server.stop()
    # Then it exits 0 after shutting its kernels down, leaving no process behind
    assert status == 0, server.text()
    assert server.text().count("Kernel shutdown") >= 2
    time.sleep(0.5)
    alive = [p for p in kernels if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [p.cmdline() for p in alive]


def test_a_missing_profile_stops_serve_with_one_line(runtime: Runtime, tmp_path: Path) -> None:
    # Given the example web hook on a store without its profile
    empty = {"ZINGY_NB_HOME": str(tmp_path / "empty-store")}
    port = free_port()
    # When it is served
    done = subprocess.run(
        [*ZINGY, "serve", str(NOTEBOOKS / "webhook.ipynb"), "--port", str(port)],
        env={**runtime.env, **empty}, cwd=tmp_path, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    # Then serve ends with status 1 and says which error the notebook's start hit
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("zingy-nb serve: an ordinary cell of the notebook failed"), last
    assert "ProfileNotFoundError" in last
    # And how to fix it: create the profile (the cell is fine), in one well-formed line
    assert "Create the profile first (`zingy-nb profiles set shop-webhooks`" in last, last
    assert "Fix the cell" not in last and ".." not in last
    # And nothing ever said it was available
    assert "available at" not in done.stdout + done.stderr


def test_a_port_in_use_is_an_error_not_another_port(runtime: Runtime) -> None:
    # Given a port someone else listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # When serve is asked for it
        done = subprocess.run(
            [*ZINGY, "serve", str(NOTEBOOKS / "webhook.ipynb"), "--port", str(port)],
            env=runtime.env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
    # Then it fails instead of silently serving elsewhere
    assert done.returncode == 1, done.stderr


@pytest.mark.parametrize("case", list(REFUSED))
def test_serve_refuses_what_is_not_cloud_flow(runtime: Runtime, case: str) -> None:
    # Given a notebook that is not cloud-flow
    make, why = REFUSED[case]
    path = make(runtime.root)
    # When it is served
    done = zingy(runtime, "serve", str(path), "--port", str(free_port()))
    # Then it is refused in one line, exit 2, before any kernel starts
    check_refused(done, "serve", why, runtime)


def test_serve_refuses_from_a_page_flow_process(runtime: Runtime) -> None:
    path = notebook(runtime.root / "cloud-marker-serve.ipynb", ("marker-cloud", "M"), "1")
    done = zingy(runtime, "serve", str(path), "--port", str(free_port()), ZINGY_NB_FLOW="page-flow")
    check_refused(done, "serve", "This process is page-flow", runtime, switch=False)


def test_audit_records_retrievals_of_serve(webhook: Server, runtime: Runtime) -> None:
    # Given the example hook answered a signed request
    assert send_order(webhook).status == 200
    # Then the audit shows the retrieval as made by a `serve` kernel
    rows = audit_rows(runtime, "shop-webhooks")
    assert any(r["outcome"] == "retrieved" and r["via"] == "serve" for r in rows), rows
    served = os.path.realpath(NOTEBOOKS / "webhook.ipynb")  # and names the notebook served
    assert any(r["via"] == "serve" and r["notebook"] == served for r in rows), rows
