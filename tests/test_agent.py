"""The agent process and its capabilities, with real processes only (issue #22, step 1).

Each test gets its own store and runtime folder, starts the agent through
``ensure_agent`` (or the CLI), and stands in for launchers and kernels with small Python
processes (``tests.peers``) that talk to the agent over its socket: the agent judges them by
their pid from ``SO_PEERCRED``. Every process a test starts is stopped at its end: peers
by their ``Popen``, agents by the pid the socket reported (checked to still be an agent).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import postgres
from tests.agents import gone
from tests.leaks import scanner, values
from tests.peers import Peer, peer_script
from zingy_nb import access
from zingy_nb.agent import AgentClient, StoreLocation, connect, ensure_agent
from zingy_nb.agent.location import LOG, PID_FILE, SOCKET, agent_pid, is_agent
from zingy_nb.errors import (
    AgentUnavailableError,
    CloudFlowOnlyError,
    NotebookAccessError,
    ZingyError,
)
from zingy_nb.paths import URL_ENV
from zingy_nb.profiles import Profiles
from zingy_nb.vault import MASTER_KEY_ENV, MEMBER_KEY_ENV, encode_key, new_key

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux agent")

WAIT = 90.0  # generous: a loaded 2-core machine
pg_server = postgres.pg_server  # the team-store test's server (session-wide)
PROFILES = {name: values.PROFILES[name] for name in ("github", "stripe", "ssh")}

#: Waits for a file to appear, then calls ensure_agent and prints the agent's pid.
ENSURE = r"""
import sys, time
from pathlib import Path
go = Path(sys.argv[1])
deadline = time.monotonic() + 120
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.005)
from zingy_nb.agent import ensure_agent
client = ensure_agent(idle_timeout=600)
print(client.pid, flush=True)
"""


def wait_until(what: str, check: Any, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting until {what}")
        time.sleep(0.05)


@dataclass
class Setup:
    """One test's store, its agent folder, and every process the test started."""

    location: StoreLocation
    key: str
    script: Path
    clients: list[AgentClient] = field(default_factory=list)
    agents: set[int] = field(default_factory=set)
    peers: list[Peer] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return self.location.folder()

    def start(self, idle_timeout: float | None = 600) -> AgentClient:
        client = ensure_agent(self.location, idle_timeout=idle_timeout)
        self.clients.append(client)
        assert client.pid is not None
        self.agents.add(client.pid)
        return client

    def connect(self) -> AgentClient:
        client = connect(self.location)
        self.clients.append(client)
        return client

    def peer(self) -> Peer:
        peer = Peer(self.script)
        self.peers.append(peer)
        return peer

    def kill_agents(self) -> None:
        found = agent_pid(self.folder)
        if found is not None:
            self.agents.add(found)
        for pid in self.agents:
            if is_agent(pid):
                os.kill(pid, signal.SIGKILL)
            wait_until(f"agent {pid} is gone", lambda pid=pid: gone(pid))

    def stop_all(self) -> None:
        for client in self.clients:
            client.close()
        for peer in self.peers:
            peer.stop()
        self.kill_agents()


def own_runtime_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """A runtime folder for one test, under the session's (short: socket paths are)."""
    runtime = tempfile.mkdtemp(prefix="a", dir=os.environ["JUPYTER_RUNTIME_DIR"])
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", runtime)


def scripts(tmp_path: Path) -> Path:
    """``ENSURE`` and the peer's script (returned), written to ``tmp_path``."""
    (tmp_path / "ensure.py").write_text(ENSURE)
    return peer_script(tmp_path)


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    own_runtime_dir(monkeypatch)
    home = tmp_path / "zingy"
    monkeypatch.setenv("ZINGY_NB_HOME", str(home))
    key = encode_key(new_key())
    monkeypatch.setenv(MASTER_KEY_ENV, key)
    profiles = Profiles(home)
    for name, secret in PROFILES.items():
        profiles.set(name, *secret)
    found = Setup(StoreLocation(home), key, scripts(tmp_path))
    try:
        yield found
    finally:
        found.stop_all()


def ok(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["ok"], answer
    return answer


def refused(answer: dict[str, Any], error: str, words: str) -> None:
    assert not answer["ok"] and "values" not in answer, answer
    assert answer["error"] == error, answer
    assert words in answer["message"], answer


# -- the process -----------------------------------------------------------------------
def test_the_folder_is_private_and_the_socket_only_for_its_user(setup: Setup) -> None:
    setup.start()
    for folder in (setup.folder, setup.folder.parent):
        info = folder.lstat()
        assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700
        assert info.st_uid == os.getuid()
    sock = (setup.folder / SOCKET).lstat()
    assert stat.S_ISSOCK(sock.st_mode) and stat.S_IMODE(sock.st_mode) == 0o600
    for name in (LOG, PID_FILE):
        assert stat.S_IMODE((setup.folder / name).stat().st_mode) == 0o600
    assert setup.folder.parent.parent == Path(os.environ["JUPYTER_RUNTIME_DIR"])


def test_a_folder_that_is_not_private_is_refused(setup: Setup) -> None:
    setup.folder.mkdir(parents=True)
    setup.folder.chmod(0o755)
    with pytest.raises(AgentUnavailableError, match="not a private folder"):
        setup.start()
    assert not (setup.folder / SOCKET).exists()


def test_the_agent_cannot_be_traced_or_read_by_other_processes(setup: Setup) -> None:
    client = setup.start()
    status = client.status()
    assert status["pid"] == client.pid and status["uid"] == os.getuid()
    assert status["dumpable"] == 0
    # Not dumpable: the kernel makes /proc/PID/mem, environ... root's. Running as root
    # that shows nothing (they already were), so it is checked only as another user.
    if os.getuid() != 0:
        assert Path(f"/proc/{client.pid}/environ").stat().st_uid == 0
        with pytest.raises(PermissionError):
            Path(f"/proc/{client.pid}/environ").read_bytes()
    argv = Path(f"/proc/{client.pid}/cmdline").read_bytes().decode()
    assert not scanner.find(argv, {"key": setup.key, **values.stored()}, "argv")


# -- capabilities ----------------------------------------------------------------------
def test_a_cloud_flow_capability_retrieves_in_its_kernel_and_its_children(setup: Setup) -> None:
    setup.start()
    kernel = setup.peer()
    cap = ok(kernel.ask(do="register", flow="cloud-flow"))["cap"]
    assert len(cap) >= 43  # 256 bits, URL-safe base64
    got = ok(kernel.ask(do="retrieve", cap=cap, name="github"))["values"]
    assert got == [*PROFILES["github"], None, None]
    child = ok(kernel.ask(do="child", cmd={"do": "retrieve", "cap": cap, "name": "ssh"}))
    assert child["values"] == [*PROFILES["ssh"], None, None, None]
    entries = Profiles(setup.location.home).store.audit("github")
    assert [(e.outcome, e.flow) for e in entries] == [("retrieved", "cloud-flow")]
    assert entries[0].process.split(":")[1] == str(kernel.pid)  # the kernel, not the agent


def test_the_notebook_recorded_at_register_is_the_one_judged(setup: Setup, tmp_path: Path) -> None:
    notebook = tmp_path / "analysis.ipynb"
    notebook.write_text("{}")
    setup.start()
    kernel = setup.peer()
    cap = ok(kernel.ask(do="register", flow="cloud-flow", notebook=str(notebook)))["cap"]
    answer = kernel.ask(do="retrieve", cap=cap, name="stripe")
    refused(answer, NotebookAccessError.__name__, f"Notebook {notebook} may not read")
    access.allow(Profiles(setup.location.home), "stripe", str(notebook), "cli")
    got = ok(kernel.ask(do="retrieve", cap=cap, name="stripe"))["values"]
    assert got == [*PROFILES["stripe"], None, None, None]
    entries = Profiles(setup.location.home).store.audit("stripe")
    assert {e.notebook for e in entries} == {str(notebook)}
    assert {e.outcome for e in entries} >= {"retrieved", "not-allowed"}


def test_an_allowance_moved_away_counts_only_for_kernels_registered_before(
    setup: Setup, tmp_path: Path
) -> None:
    old, new = tmp_path / "old.ipynb", tmp_path / "new.ipynb"
    old.write_text("{}")
    profiles = Profiles(setup.location.home)
    access.allow(profiles, "github", str(old), "cli")
    setup.start()
    before, after = setup.peer(), setup.peer()
    cap_before = ok(before.ask(do="register", flow="cloud-flow", notebook=str(old)))["cap"]
    # Jupyter renames old to new; a new notebook then takes the old path
    old.rename(new)
    rename = {"action": "rename", "source_path": "old.ipynb", "path": "new.ipynb"}
    assert access.follow_contents_event(profiles, str(tmp_path), rename) == 1
    old.write_text("{}")
    cap_after = ok(after.ask(do="register", flow="cloud-flow", notebook=str(old)))["cap"]
    ok(before.ask(do="retrieve", cap=cap_before, name="github"))  # its notebook moved
    answer = after.ask(do="retrieve", cap=cap_after, name="github")
    refused(answer, NotebookAccessError.__name__, "may not read profile 'github'")


def test_a_page_flow_capability_retrieves_nothing(setup: Setup) -> None:
    setup.start()
    kernel = setup.peer()
    cap = ok(kernel.ask(do="register", flow="page-flow"))["cap"]
    answer = kernel.ask(do="retrieve", cap=cap, name="github")
    refused(answer, CloudFlowOnlyError.__name__, "this is a page-flow kernel")
    assert "works only in cloud-flow kernels" in answer["message"]
    entries = Profiles(setup.location.home).store.audit("github")
    assert [(e.outcome, e.flow) for e in entries] == [("refused", "page-flow")]


def test_a_forged_capability_gets_a_clear_refusal(setup: Setup) -> None:
    setup.start()
    kernel = setup.peer()
    ok(kernel.ask(do="register", flow="cloud-flow"))
    for forged in (secrets.token_urlsafe(32), "", 42, None):
        answer = kernel.ask(do="retrieve", cap=forged, name="github")
        refused(answer, CloudFlowOnlyError.__name__, "not one this zingy-nb agent holds")


def test_a_token_used_from_an_unrelated_process_gets_nothing(setup: Setup) -> None:
    client = setup.start()
    kernel, other = setup.peer(), setup.peer()
    cap = ok(kernel.ask(do="register", flow="cloud-flow"))["cap"]
    refused(
        other.ask(do="retrieve", cap=cap, name="github"),
        CloudFlowOnlyError.__name__,
        "belongs to another process",
    )
    with pytest.raises(CloudFlowOnlyError, match="belongs to another process"):
        client.retrieve(cap, "github")  # the test process started the kernel: no matter
    ok(kernel.ask(do="retrieve", cap=cap, name="github"))  # still its kernel's


def test_a_kernel_and_its_children_cannot_register_again(setup: Setup) -> None:
    setup.start()
    kernel = setup.peer()
    cap = ok(kernel.ask(do="register", flow="page-flow"))["cap"]
    nested = "cannot register a kernel of its own"
    refused(kernel.ask(do="register", flow="cloud-flow"), "CloudFlowOnlyError", nested)
    answer = kernel.ask(do="child", cmd={"do": "register", "flow": "cloud-flow"})
    refused(answer, CloudFlowOnlyError.__name__, nested)
    refused(kernel.ask(do="retrieve", cap=cap, name="github"), "CloudFlowOnlyError", "page-flow")


def test_a_gone_kernels_entry_goes(setup: Setup) -> None:
    client = setup.start()
    kernel = setup.peer()
    ok(kernel.ask(do="register", flow="cloud-flow"))
    assert client.status()["kernels"] == 1
    kernel.stop()
    wait_until("the agent forgot the kernel", lambda: client.status()["kernels"] == 0)


def test_list_and_status_carry_no_value(setup: Setup) -> None:
    client = setup.start()
    listed = client.list()
    assert [p["name"] for p in listed] == sorted(PROFILES)
    text = json.dumps([listed, client.status()])
    assert not scanner.find(text, values.stored(), "list/status")


# -- lifecycle -------------------------------------------------------------------------
def test_only_an_agent_is_taken_for_one(setup: Setup) -> None:
    """Agents are stopped by the pid in their folder, so a process that merely names
    the package (a launcher's ``-c``, before it execs its kernel) is not one."""
    client = setup.start()
    assert is_agent(int(client.status()["pid"]))
    named = subprocess.Popen(
        [sys.executable, "-c", "import time  # zingy_nb.agent.launch\ntime.sleep(60)", "agent"]
    )
    try:
        assert not is_agent(named.pid)
    finally:
        named.kill()
        named.wait(timeout=WAIT)
    assert not is_agent(named.pid)  # and a gone one never is


def test_two_callers_at_once_start_one_agent(setup: Setup, tmp_path: Path) -> None:
    go = tmp_path / "go"
    callers = [
        subprocess.Popen(
            [sys.executable, str(tmp_path / "ensure.py"), str(go)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        go.touch()
        pids = {int(c.communicate(timeout=WAIT)[0].split()[0]) for c in callers}
    finally:
        for c in callers:
            if c.poll() is None:
                c.kill()
            c.wait(timeout=WAIT)
    setup.agents |= pids
    assert len(pids) == 1
    log = (setup.folder / LOG).read_text()
    assert log.count("serving the store") == 1, log
    assert "another agent" not in log


def test_the_agent_stops_when_idle(setup: Setup) -> None:
    client = setup.start(idle_timeout=1)
    pid = client.pid
    assert pid is not None
    client.close()
    wait_until("the idle agent stopped", lambda: gone(pid))
    assert not (setup.folder / SOCKET).exists() and not (setup.folder / PID_FILE).exists()
    assert "stopped: idle" in (setup.folder / LOG).read_text()


def test_a_live_kernel_keeps_the_agent(setup: Setup) -> None:
    client = setup.start(idle_timeout=1)
    pid = client.pid
    assert pid is not None
    kernel = setup.peer()
    ok(kernel.ask(do="register", flow="cloud-flow"))
    client.close()
    time.sleep(3)  # three idle timeouts with a live kernel and no client
    with setup.connect() as again:
        assert again.pid == pid and again.status()["kernels"] == 1
    kernel.stop()
    wait_until("the agent stopped after its last kernel", lambda: gone(pid))


def test_a_client_whose_agent_died_is_told_the_fix(setup: Setup) -> None:
    client = setup.start()
    pid = client.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until("the agent is gone", lambda: gone(pid))
    with pytest.raises(AgentUnavailableError, match="zingy-nb agent"):
        client.status()
    with pytest.raises(AgentUnavailableError, match=r"it is not running.*restart the kernel"):
        connect(setup.location)
    again = setup.start()  # on demand again, over the stale socket
    assert again.pid != pid and again.status()["dumpable"] == 0


def test_the_command_runs_the_agent_in_the_foreground(setup: Setup) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "zingy_nb.cli", "agent", "--idle-timeout", "1"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until("the agent listens", lambda: (setup.folder / SOCKET).exists())
        time.sleep(2)  # a slow first client: the agent waits for it past its idle timeout
        with setup.connect() as client:
            assert client.pid == proc.pid and client.status()["dumpable"] == 0
        assert proc.wait(timeout=WAIT) == 0  # idle
        _, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=WAIT)
    assert "serving the store" in err and "stopped: idle for 1 s" in err


def test_a_team_store_agent_serves_a_member_and_never_shows_the_password(
    pg_server: postgres.PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own_runtime_dir(monkeypatch)
    home = tmp_path / "zingy"
    monkeypatch.setenv("ZINGY_NB_HOME", str(home))
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    monkeypatch.delenv(MEMBER_KEY_ENV, raising=False)
    db = pg_server.new_database()
    setup: Setup | None = None
    try:
        pg_server.join(db, home, roles=("alice",))  # alice's key: a file in the home
        url = pg_server.url("alice", db)
        password = postgres.PASSWORDS["alice"]
        assert password in url
        monkeypatch.setenv(URL_ENV, url)
        profiles = Profiles(home, url=url)
        profiles.set("team-github", *PROFILES["github"])
        profiles.store.close()
        setup = Setup(StoreLocation(home, url), "", scripts(tmp_path))
        client = setup.start()
        assert client.status()["store"] == setup.location.key
        kernel = setup.peer()
        cap = ok(kernel.ask(do="register", flow="cloud-flow"))["cap"]
        got = ok(kernel.ask(do="retrieve", cap=cap, name="team-github"))["values"]
        assert got == [*PROFILES["github"], None, None]
        argv = Path(f"/proc/{client.pid}/cmdline").read_bytes().decode()
        shown = {
            "key": setup.location.key,
            "folder": str(setup.folder),
            "argv": argv,
            "log": (setup.folder / LOG).read_text(),
        }
        for where, text in shown.items():
            assert password not in text, where
        assert "alice@" in setup.location.key
    finally:
        if setup is not None:
            setup.stop_all()
        pg_server.drop_database(db)


# -- leaks -----------------------------------------------------------------------------
def test_nothing_secret_in_what_the_agent_wrote(setup: Setup) -> None:
    client = setup.start()
    kernel, other = setup.peer(), setup.peer()
    cloud = ok(kernel.ask(do="register", flow="cloud-flow"))["cap"]
    for name in PROFILES:
        ok(kernel.ask(do="retrieve", cap=cloud, name=name))
    other.ask(do="retrieve", cap=cloud, name="github")  # stolen
    page = ok(other.ask(do="register", flow="page-flow"))["cap"]
    other.ask(do="retrieve", cap=page, name="stripe")
    pasted = values.TYPED["as-name"]
    kernel.ask(do="retrieve", cap=cloud, name=pasted)  # a value pasted as a name
    kernel.ask(do="retrieve", cap=cloud, name="no-such")
    with pytest.raises(ZingyError, match="no such operation"):
        client.call("no-such-op", secret=pasted)
    pid = client.pid
    assert pid is not None
    os.kill(pid, signal.SIGTERM)  # flushes the audit and logs its stop
    wait_until("the agent stopped", lambda: gone(pid))
    log = (setup.folder / LOG).read_text()
    assert "registered a cloud-flow kernel" in log and "stopped: asked to stop" in log
    secret = {
        "key": setup.key,
        "cloud": cloud,
        "page": page,
        "pasted": pasted,
        **values.stored(),
    }
    assert not scanner.find(log, secret, "agent.log")
    audit = json.dumps(
        [e.__dict__ for e in Profiles(setup.location.home).store.audit()], default=str
    )
    assert not scanner.find(audit, secret, "audit")
