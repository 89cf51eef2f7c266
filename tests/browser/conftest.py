"""Fixtures for real-browser tests: a real ``jupyter lab`` and Playwright's Chromium.

Other test modules in ``tests/browser/`` rely on this interface; keep it stable.

``lab_server`` (module scope) -> ``LabServer``
    A ``jupyter lab`` subprocess on 127.0.0.1 and a free port (``--no-browser``,
    ``--LabApp.news_url=None``, ``--allow-root`` when root), with its own token, root dir,
    ``ZINGY_NB_HOME``, workspaces and settings dirs, and the cloud-flow / page-flow
    kernelspecs installed into a temp prefix that ``JUPYTER_PATH`` points at. Ready once
    ``/api/status`` and the zingy-nb REST API answer; stopped at the end (terminate, then
    kill). Attributes:

    - ``url``: base URL with a trailing slash, e.g. ``http://127.0.0.1:PORT/``
    - ``token``: the server's token (``{url}lab?token={token}`` logs a page in)
    - ``root_dir``: ``Path`` of the server's root dir (put notebooks here)
    - ``env``: ``dict``, the server's environment (``ZINGY_NB_HOME``, ``JUPYTER_PATH``...):
      run the ``zingy-nb`` CLI with it to use the same store
    - ``log_path``: ``Path`` of the server's stdout and stderr

``browser`` (module scope)
    Playwright's headless Chromium from ``/usr/bin/chromium``. Fails (never skips) when
    Chromium is missing: ``.ci/run`` installs it.

``page`` (function scope)
    A Playwright ``Page`` in a fresh browser context, closed at the end. The browser's
    time zone is ``BROWSER_TIMEZONE`` (far from UTC, whatever the machine's), so a time
    shown in local time instead of UTC shows up as a wrong hour or date.
    ``page.console_errors`` is a list of the console messages of type "error", in order:
    each is the message text followed by `` (URL)`` of its source (the script, or the
    resource that failed to load) when Chromium gives one; uncaught page errors are
    recorded as ``"pageerror: ..."``. Filter by "zingy" for the extension's own.

``artifacts`` (session scope)
    ``Path`` of ``test-artifacts/`` at the repo root (git-ignored), for screenshots.

``goto_lab(page, lab_server, path="lab")``
    Opens ``{url}{path}`` logged in, in a fresh workspace (``path`` is ``lab`` or
    ``lab/tree/...``), and returns once JupyterLab has restored its layout
    (the splash screen is gone): before that, the shell moves focus around and a modal
    such as the command palette can close as soon as it opens.

Module constants: ``REPO`` (the repo root), ``BIN`` (the venv's bin dir: ``zingy-nb``,
``jupyter-lab``), ``CHROMIUM``, ``CHROMIUM_ARGS`` and ``BROWSER_TIMEZONE``.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BIN = Path(sys.executable).parent
START_TIMEOUT = 60.0
RESTORE_TIMEOUT_MS = 60_000
BROWSER_TIMEZONE = "Pacific/Kiritimati"  # UTC+14


@dataclass(frozen=True)
class LabServer:
    """A running ``jupyter lab`` (see the module docstring)."""

    url: str
    token: str
    root_dir: Path
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes]


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1: no proxy


def _get(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with _DIRECT.open(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> None:
    """Off here: pytest-jupyter's per-test event loop fights Playwright's sync API."""


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> None:
    """Off here: these tests run ``jupyter lab`` as a subprocess, not in-process."""


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = REPO / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    base = tmp_path_factory.mktemp("lab")
    root_dir = base / "root"
    prefix = base / "prefix"
    root_dir.mkdir()
    token = secrets.token_hex(24)
    env = {key: value for key, value in os.environ.items() if key != "ZINGY_NB_MASTER_KEY"}
    env.update(
        ZINGY_NB_HOME=str(base / "zingy-home"),
        JUPYTER_PATH=str(prefix / "share" / "jupyter"),
        JUPYTER_TOKEN=token,  # not on the command line
    )
    subprocess.run(
        [str(BIN / "zingy-nb"), "kernels", "install", "--prefix", str(prefix)],
        env=env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    # "Would you like to get notified about official Jupyter news?" stays out of screenshots.
    notification = base / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    argv = [
        str(BIN / "jupyter-lab"),
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root_dir}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.workspaces_dir={base / 'workspaces'}",
        f"--LabApp.user_settings_dir={base / 'settings'}",
    ]
    if os.getuid() == 0:
        argv.append("--allow-root")
    log_path = base / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, env=env, cwd=root_dir, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while _get(url + "api/status", token) != 200:
            if process.poll() is not None:
                pytest.fail(
                    f"jupyter lab exited with code {process.returncode} before it answered:\n"
                    + _log_tail(log_path)
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"jupyter lab did not answer in {START_TIMEOUT:.0f} s:\n{_log_tail(log_path)}"
                )
            time.sleep(0.2)
        if _get(url + "zingy-nb/api/status", token) != 200:
            pytest.fail(
                "jupyter lab runs without the zingy_nb server extension (no "
                "zingy-nb/api/status). Reinstall zingy-nb (scripts/bootstrap.sh) so "
                "etc/jupyter/jupyter_server_config.d/zingy_nb.json is installed.\n"
                + _log_tail(log_path)
            )
        yield LabServer(url, token, root_dir, env, log_path, process)
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: run .ci/run (or "
            "`scripts/bootstrap.sh --system`), which installs it, then run the tests again."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, timezone_id=BROWSER_TIMEZONE
    )
    try:
        page = context.new_page()
        errors: list[str] = []
        page.console_errors = errors

        def on_console(msg: Any) -> None:
            if msg.type == "error":
                url = (msg.location or {}).get("url", "")
                errors.append(f"{msg.text} ({url})" if url and url not in msg.text else msg.text)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        yield page
    finally:
        context.close()


def goto_lab(page: Any, lab_server: LabServer, path: str = "lab") -> None:
    """Open a JupyterLab URL and wait for ``app.restored`` (see the module docstring).

    Each call gets a fresh, empty workspace, so what an earlier test left open (tabs,
    sidebars, kernels) is not restored into this one.
    """
    assert path == "lab" or path.startswith("lab/"), path
    workspace = f"lab/workspaces/test-{secrets.token_hex(4)}"
    page.goto(f"{lab_server.url}{workspace}{path[3:]}?token={lab_server.token}")
    # The splash is added at start and removed 200 ms after app.restored resolves.
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=RESTORE_TIMEOUT_MS)
