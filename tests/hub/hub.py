"""A real JupyterHub for tests: the documented config, a proxy, users, servers, kernels.

``running_hub`` starts ``jupyterhub`` from this venv with ``docs/jupyterhub_config.py``
(DummyAuthenticator, SimpleLocalProcessSpawner, per-user secrets) and a small overlay
that changes only what a test must: free ports on 127.0.0.1, every file under one
temporary folder, the users allowed, and an admin service token for the hub's REST API
(configurable-http-proxy is found by the documented config itself, in ``.venv/chp``, the
layout docs/teams.md's install makes). Each user's single-user server is
``jupyterhub-singleuser`` from this venv with its own HOME and Jupyter dirs, and finds the
zingy-nb kernelspecs in a shared ``JUPYTER_PATH`` folder the harness installs them into.

**Per-user secrets.** ``secrets(name)`` is the one place that decides what a user's
server gets: the harness writes its result into that user's secrets folder
(``$ZINGY_HUB_SECRETS/NAME/VAR``), where the documented config's ``pre_spawn_hook``
reads it at every server start. A test passes its own function (a database URL per
role and that member's own key), or ``OPERATOR`` to write the folders itself as the
documented operator does; ``set_secrets``
changes it for a user's next start. ``server_environ`` shows what a server really got.

Typical use::

    with running_hub(tmp, users=("alice", "bob"), secrets=my_secrets) as hub:
        alice = hub.login("alice")          # the login form; alice's own API token
        hub.start_servers("alice", "bob")    # through the hub REST API, as admin
        alice.put("zingy-nb/api/profiles/svc", json={"secret1": "..."})
        with alice.kernel("zingy-cloud-flow") as kernel:
            kernel.ok("print(1)")

Everything started is stopped when the block ends (kernels, servers, proxy, hub), and
``stop`` reports any process that had to be killed because it outlived a clean stop.
"""

from __future__ import annotations

import contextlib
import os
import secrets as token_source
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from tests.hub.kernel_client import RemoteKernel
from tests.isolation import stop_strays
from tests.ports import free_port
from zingy_nb.agent.location import is_agent

REPO = Path(__file__).resolve().parents[2]
DOCS_CONFIG = REPO / "docs" / "jupyterhub_config.py"
BIN = Path(sys.executable).parent
CHP = BIN.parent / "chp" / "node_modules" / ".bin" / "configurable-http-proxy"
SINGLEUSER = BIN / "jupyterhub-singleuser"
JUPYTERHUB = BIN / "jupyterhub"
SECRETS_ENV = "ZINGY_HUB_SECRETS"
TIMEOUT = 60.0
MISSING = (
    "The JupyterHub tests need jupyterhub in this venv and configurable-http-proxy in "
    f"{CHP.parent.parent.parent}: run `bash scripts/bootstrap.sh` (or `pip install "
    "jupyterhub` and `npm install --prefix .venv/chp configurable-http-proxy`)."
)

#: ``secrets(name)``: the variables a user's server gets from their secrets folder.
Secrets = Callable[[str], Mapping[str, str]]
#: ``secrets=OPERATOR``: the harness writes no secrets folder; the test does, as the
#: hub operator would (``Hub.secrets_dir``), before it starts the servers.
OPERATOR: Secrets | None = None


def _wait(
    what: str,
    predicate: Callable[[], Any],
    *,
    log: Callable[[], str] = str,
    timeout: float = TIMEOUT,
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{log()}")
        time.sleep(0.1)


@dataclass
class UserServer:
    """A hub user as a client: their own API token, their server through the proxy."""

    name: str
    token: str
    url: str  # the server's public URL, ending in /user/NAME/
    kernels: list[str] = field(default_factory=list)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        return requests.request(
            method, self.url + path.lstrip("/"), headers=headers, timeout=TIMEOUT, **kwargs
        )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def start_kernel(self, kernel_name: str) -> str:
        """Start a kernel through the server's REST API (no notebook session); its id."""
        r = self.request("POST", "api/kernels", json={"name": kernel_name})
        assert r.status_code == 201, (r.status_code, r.text)
        kernel_id = str(r.json()["id"])
        self.kernels.append(kernel_id)
        return kernel_id

    def shutdown_kernel(self, kernel_id: str) -> None:
        r = self.request("DELETE", f"api/kernels/{kernel_id}")
        assert r.status_code in (204, 404), (r.status_code, r.text)
        if kernel_id in self.kernels:
            self.kernels.remove(kernel_id)

    @contextmanager
    def kernel(self, kernel_name: str) -> Iterator[RemoteKernel]:
        """A kernel of this user's server, connected; shut down when the block ends."""
        kernel_id = self.start_kernel(kernel_name)
        try:
            client = RemoteKernel(self.url, self.token, kernel_id, user=self.name)
            try:
                yield client
            finally:
                client.close()
        finally:
            self.shutdown_kernel(kernel_id)


class Hub:
    """A JupyterHub process under test; see the module docstring."""

    def __init__(self, root: Path, users: Iterable[str], secrets: Secrets | None) -> None:
        self.root = root
        self.users = tuple(users)
        self.secrets_dir = root / "secrets"
        self.kernels_prefix = root / "kernels-prefix"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.api_token = token_source.token_hex(32)
        self.log_path = root / "jupyterhub.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.clients: dict[str, UserServer] = {}
        self._secrets = secrets
        self._seen: dict[int, psutil.Process] = {}  # every process seen under the hub

    # -- configuration -----------------------------------------------------------------
    def user_dir(self, name: str) -> Path:
        return self.root / "users" / name

    def set_secrets(self, name: str, values: Mapping[str, str]) -> None:
        """Replace ``name``'s secrets folder: what their next server start gets."""
        folder = self.secrets_dir / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, mode=0o700)
        for var, value in values.items():
            path = folder / var
            path.touch(mode=0o600)
            path.write_text(value)

    def _overlay(self) -> str:
        users = self.root / "users"
        jupyter_path = self.kernels_prefix / "share" / "jupyter"
        per_user = {
            "JUPYTER_CONFIG_DIR": "jupyter/config",
            "JUPYTER_DATA_DIR": "jupyter/data",
            "JUPYTER_RUNTIME_DIR": "jupyter/runtime",
            "IPYTHONDIR": "ipython",
            "ZINGY_NB_HOME": "zingy-home",
        }
        env_lines = "\n".join(
            f"    {var!r}: lambda spawner: f'{users}/{{spawner.user.name}}/{sub}',"
            for var, sub in per_user.items()
        )
        return f"""\
# Written by tests/hub/hub.py: the documented config, with test-only changes.
c = get_config()  # noqa: F821
load_subconfig({str(DOCS_CONFIG)!r})  # noqa: F821

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {self.port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {free_port()}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.pid_file = {str(self.root / "proxy.pid")!r}
c.JupyterHub.pid_file = {str(self.root / "jupyterhub.pid")!r}
c.JupyterHub.db_url = "sqlite:///{self.root / "jupyterhub.sqlite"}"
c.JupyterHub.cookie_secret_file = {str(self.root / "cookie_secret")!r}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

c.Authenticator.allowed_users = {set(self.users)!r}
c.JupyterHub.services = [{{"name": "zingy-tests", "api_token": {self.api_token!r}}}]
c.JupyterHub.load_roles = [
    {{"name": "zingy-tests", "scopes": ["admin:users", "admin:servers"],
      "services": ["zingy-tests"]}},
]

c.SimpleLocalProcessSpawner.home_dir_template = {str(users)!r} + "/{{username}}"
c.Spawner.cmd = [{str(SINGLEUSER)!r}]
c.Spawner.args = {["--allow-root"] if os.geteuid() == 0 else []!r}  # tests run as root here
c.Spawner.start_timeout = {int(TIMEOUT)}
c.Spawner.http_timeout = {int(TIMEOUT)}
c.Spawner.environment = {{
{env_lines}
    "JUPYTER_PATH": {str(jupyter_path)!r},
    "JUPYTER_PLATFORM_DIRS": "1",
    "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
}}
"""

    def _hub_env(self) -> dict[str, str]:
        # The hub itself holds no zingy-nb setting: secrets reach servers only through
        # the secrets folder.
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZINGY_NB_")}
        env[SECRETS_ENV] = str(self.secrets_dir)
        return env

    # -- life cycle --------------------------------------------------------------------
    def start(self) -> None:
        for path in (JUPYTERHUB, SINGLEUSER, CHP):
            if not path.exists():
                pytest.fail(f"{path} is missing. {MISSING}", pytrace=False)
        subprocess.run(
            [str(BIN / "zingy-nb"), "kernels", "install", "--prefix", str(self.kernels_prefix)],
            check=True, capture_output=True, timeout=TIMEOUT,
        )  # fmt: skip
        self.secrets_dir.mkdir(mode=0o700, exist_ok=True)
        for name in self.users:
            if self._secrets is not None:
                self.set_secrets(name, self._secrets(name))
            self.user_dir(name).mkdir(parents=True, exist_ok=True)
        config = self.root / "jupyterhub_config.py"
        config.write_text(self._overlay())
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(JUPYTERHUB), "-f", str(config)],
                cwd=self.root,
                env=self._hub_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait("the hub to answer", self._hub_up, log=self.log_tail)

    def _hub_up(self) -> bool:
        self._check_alive()
        try:
            return requests.get(self.url + "hub/api/", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    def _check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"jupyterhub exited ({self.proc.returncode}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def processes(self) -> list[psutil.Process]:
        """The hub and every process below it (proxy, servers, kernels, their children)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        try:
            top = psutil.Process(self.proc.pid)
            found = [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        # Not an agent caught while it detaches from the server that starts it: it is
        # meant to outlive that server (its idle timeout); ``stop`` stops it by name.
        self._seen.update((p.pid, p) for p in found if not is_agent(p.pid))
        return found

    def stop(self) -> list[str]:
        """Stop kernels, servers, proxy and hub; kill what outlives that. Returns the
        processes that had to be killed (empty after a clean stop)."""
        if self.proc is None:
            return []
        self.processes()  # remember every process before any of them is stopped
        for client in self.clients.values():
            for kernel_id in list(client.kernels):
                with contextlib.suppress(requests.RequestException, AssertionError):
                    client.shutdown_kernel(kernel_id)
        with ThreadPoolExecutor(max_workers=len(self.users) or 1) as pool:
            for future in [pool.submit(self.stop_server, name) for name in self.users]:
                with contextlib.suppress(requests.RequestException, AssertionError):
                    future.result()
        self.processes()
        tree = list(self._seen.values())
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        stop_strays(self.root)  # the servers' agents (``/tmp``: no TMPDIR is passed on)
        leftover = [p for p in tree if _alive(p)]
        stragglers = [describe(p) for p in leftover]
        for p in leftover:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.terminate()
        _, alive = psutil.wait_procs(leftover, timeout=5)
        for p in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        psutil.wait_procs(alive, timeout=5)
        if self.proc.poll() is None:
            self.proc.wait(timeout=5)
        self.proc = None
        return stragglers

    # -- the hub's REST API ------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A hub REST API request (``/hub/api/PATH``) with the admin service token."""
        headers = {"Authorization": f"token {self.api_token}", **kwargs.pop("headers", {})}
        return requests.request(
            method, self.url + "hub/api/" + path.lstrip("/"), headers=headers,
            timeout=TIMEOUT, **kwargs,
        )  # fmt: skip

    def login(self, name: str, password: str = "made-up-login-pw") -> UserServer:
        """Log in through the hub's login form, then get the user's own API token with
        that login (as the hub's token page does). The client for their server."""
        session = requests.Session()
        r = session.get(self.url + "hub/login", timeout=TIMEOUT)
        assert r.status_code == 200, (r.status_code, r.text[:500])
        xsrf = session.cookies.get("_xsrf")
        r = session.post(
            self.url + "hub/login",
            data={"username": name, "password": password, "_xsrf": xsrf},
            allow_redirects=False, timeout=TIMEOUT,
        )  # fmt: skip
        assert r.status_code == 302, (r.status_code, r.text[:500])
        xsrf = session.cookies.get("_xsrf")  # the login replaced it with one bound to it
        r = session.post(
            self.url + f"hub/api/users/{name}/tokens",
            json={"note": "zingy-nb tests", "expires_in": 3600},
            headers={"X-XSRFToken": xsrf or ""}, timeout=TIMEOUT,
        )  # fmt: skip
        assert r.status_code == 201, (r.status_code, r.text[:500])
        client = UserServer(name, r.json()["token"], self.url + f"user/{name}/")
        self.clients[name] = client
        return client

    def user_model(self, name: str) -> dict[str, Any]:
        r = self.api("GET", f"users/{name}")
        assert r.status_code == 200, (r.status_code, r.text)
        return dict(r.json())

    def start_servers(self, *names: str) -> None:
        """``start_server`` for several users at once (the hub spawns them in parallel)."""
        with ThreadPoolExecutor(max_workers=len(names) or 1) as pool:
            for future in [pool.submit(self.start_server, name) for name in names]:
                future.result()

    def start_server(self, name: str) -> None:
        """Start ``name``'s server (as admin) and wait until it answers through the proxy."""
        r = self.api("POST", f"users/{name}/server")
        assert r.status_code in (201, 202), f"{r.status_code} {r.text}\n{self.log_tail()}"

        def ready() -> bool:
            self._check_alive()
            server = self.user_model(name).get("servers", {}).get("")
            return bool(server and server.get("ready"))

        _wait(f"{name}'s server to be ready", ready, log=self.log_tail)
        client = self.clients.get(name)
        if client is not None:
            _wait(
                f"{name}'s server through the proxy",
                lambda: client.get("api/status").status_code == 200,
                log=self.log_tail,
            )
        self._check_secrets_arrived(name)

    def _check_secrets_arrived(self, name: str) -> None:
        """Every variable in ``name``'s secrets folder is in their server's environment
        (the documented config passes only the ones it lists)."""
        env = self.server_environ(name)
        folder = self.secrets_dir / name
        dropped = sorted(
            path.name for path in folder.iterdir() if env.get(path.name) != path.read_text().strip()
        )
        assert not dropped, (
            f"{name}'s server did not get {dropped} from their secrets folder: list them "
            f"in SECRET_VARIABLES in {DOCS_CONFIG.relative_to(REPO)}"
        )

    def stop_server(self, name: str) -> None:
        """Stop ``name``'s server (as admin), if it runs, and wait until it is gone."""
        r = self.api("DELETE", f"users/{name}/server")
        assert r.status_code in (202, 204, 400, 404), (r.status_code, r.text)
        if r.status_code == 202:
            _wait(
                f"{name}'s server to stop",
                lambda: not self.user_model(name).get("servers", {}).get(""),
                log=self.log_tail,
            )
        client = self.clients.get(name)
        if client is not None:
            client.kernels.clear()

    # -- what each process got ---------------------------------------------------------
    def server_process(self, name: str) -> psutil.Process:
        """``name``'s single-user server process."""
        for p in self.processes()[1:]:
            try:
                if (
                    p.parent().pid == self.proc.pid
                    and self.environ(p).get(  # type: ignore[union-attr]
                        "JUPYTERHUB_USER"
                    )
                    == name
                ):
                    return p
            except psutil.NoSuchProcess:
                continue
        raise AssertionError(f"no running server for {name}")

    def server_environ(self, name: str) -> dict[str, str]:
        """The environment ``name``'s server was started with."""
        return self.environ(self.server_process(name))

    @staticmethod
    def environ(process: psutil.Process) -> dict[str, str]:
        try:
            return dict(process.environ())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return {}

    def processes_with(self, var: str) -> list[str]:
        """Every process under the hub (the hub too) whose environment has ``var``, as
        ``describe`` shows it: for "no process holds X" checks."""
        return [describe(p) for p in self.processes() if var in self.environ(p)]


def describe(process: psutil.Process) -> str:
    """``PID command args`` of a process, for messages."""
    try:
        return f"{process.pid} {' '.join(process.cmdline()[:4])}"
    except psutil.Error:
        return f"{process.pid} (gone)"


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@contextmanager
def running_hub(root: Path, *, users: Iterable[str], secrets: Secrets | None) -> Iterator[Hub]:
    """A started hub (see the module docstring); stopped, with all it started, at exit.

    Fails the test at exit if some process outlived a clean stop (it is killed first).
    """
    hub = Hub(root, users, secrets)
    try:
        hub.start()
        yield hub
    finally:
        stragglers = hub.stop()
    assert not stragglers, f"still running after the hub stopped: {stragglers}"
