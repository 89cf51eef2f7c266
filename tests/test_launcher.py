"""The zingy kernelspecs' launcher: kernels get a capability, never a key.

Kernels are started from the installed kernelspecs, by jupyter_client as the server
does, and by running the kernelspec's argv directly with no provisioner and no
``JPY_SESSION_NAME``, as VS Code does. The store's key is in the launching environment
(``ZINGY_NB_MASTER_KEY``, the custody of headless runs): the kernel must not hold it,
in ``os.environ`` or in its own ``/proc/self/environ``, and still retrieve through the
agent in cloud flow, and nothing in page flow.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest
from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from tests.isolation import stop_agents
from tests.kernels import DEFINE_DIGESTS, Cell, digests, read_digests
from zingy_nb import kernels
from zingy_nb.agent.client import AgentClient, connect
from zingy_nb.agent.location import StoreLocation
from zingy_nb.profiles import Profiles

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the agent and its launcher are Linux-only"
)

KEY = base64.urlsafe_b64encode(b"made-up-launcher-test-key-012345").decode()
VALUES = ("sk_test_launcher_made_up_0123456789", "second-made-up-launcher-value-xyz")
TIMEOUT = 60


class Client:
    """A blocking client on a started kernel, running cells as the tests' ``Kernel``."""

    def __init__(self, kc: BlockingKernelClient, managed: bool = True) -> None:
        self.kc = kc
        kc.start_channels()
        if managed:
            kc.wait_for_ready(timeout=TIMEOUT)
        else:  # no manager to ask whether it lives: ask the kernel itself, until its
            self._iopub_ready()  # IOPub messages reach this client too (slow joiner)

    def _iopub_ready(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            msg_id = self.kc.kernel_info()
            self.kc.get_shell_msg(timeout=TIMEOUT)
            try:
                while True:
                    msg = self.kc.get_iopub_msg(timeout=1)
                    if msg["parent_header"].get("msg_id") == msg_id:
                        return  # its status messages for that request arrived
            except queue.Empty:
                continue
        raise TimeoutError("the kernel's IOPub messages never reached this client")

    def run(self, code: str) -> Cell:
        messages: list[dict[str, Any]] = []
        reply = self.kc.execute_interactive(
            code, allow_stdin=False, timeout=TIMEOUT, output_hook=messages.append
        )
        return Cell(code, reply["content"], messages)

    def ok(self, code: str) -> Cell:
        cell = self.run(code)
        assert cell.status == "ok", cell.describe()
        return cell


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A store with one profile under an environment-held key, both kernelspecs
    installed in a folder of their own, and the environment kernels start with."""
    root = tmp_path_factory.mktemp("launcher")
    home = root / "store"
    mp = pytest.MonkeyPatch()
    mp.setenv("ZINGY_NB_MASTER_KEY", KEY)
    Profiles(home, url="").set("stripe", *VALUES)
    mp.undo()
    kernels.install(prefix=str(root / "prefix"))
    spec_dir = root / "prefix" / "share" / "jupyter" / "kernels"
    env = dict(os.environ, ZINGY_NB_HOME=str(home), ZINGY_NB_MASTER_KEY=KEY)
    env.pop("ZINGY_NB_FLOW", None)
    yield {"root": root, "home": home, "specs": spec_dir, "env": env}
    stop_agents(Path(os.environ["JUPYTER_RUNTIME_DIR"]))


def start(
    place: dict[str, Any],
    name: str,
    connection_file: str = "",
    *,
    cwd: str | None = None,
    **env: str,
) -> tuple[KernelManager, Client]:
    km = KernelManager(
        kernel_name=name, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(place["specs"])])
    )
    if connection_file:  # named as the Jupyter server names it: kernel-<id>.json
        km.connection_file = connection_file
    km.start_kernel(env={**place["env"], **env}, cwd=cwd)
    try:
        return km, Client(km.client())
    except BaseException:
        km.shutdown_kernel(now=True)
        raise


@contextmanager
def by_hand(place: dict[str, Any], folder: Path, **extra: str) -> Iterator[tuple[Client, int]]:
    """The cloud-flow kernelspec's argv run as VS Code runs it: by hand, no provisioner,
    no ``JPY_SESSION_NAME``; ``extra`` is put in its environment last."""
    spec = json.loads((place["specs"] / "zingy-cloud-flow" / "kernel.json").read_text())
    connection_file = str(folder / "kernel-vscode.json")
    write_connection_file(connection_file, ip="127.0.0.1")
    argv = [a.replace("{connection_file}", connection_file) for a in spec["argv"]]
    env = {**place["env"], **spec["env"], **extra}
    env.pop("JPY_SESSION_NAME", None)
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kc = BlockingKernelClient(connection_file=connection_file)
    kc.load_connection_file()
    try:
        yield Client(kc, managed=False), proc.pid
    finally:
        kc.stop_channels()
        proc.terminate()
        proc.wait(timeout=TIMEOUT)
        assert proc.stderr is not None
        proc.stderr.close()


def descendants(pid: int) -> list[str]:
    """The command lines of ``pid``'s descendants (none once it is gone)."""
    found = []
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    for child in children:
        try:
            found.append(" ".join(child.cmdline()))
        except psutil.NoSuchProcess:
            pass
    return found


def no_key_in(client: Client) -> None:
    cell = client.ok(
        "import os\n"
        "print('ZINGY_NB_MASTER_KEY' in os.environ, 'ZINGY_NB_MEMBER_KEY' in os.environ)\n"
        f"print(open('/proc/self/environ', 'rb').read().count({KEY.encode()!r}))"
    )
    assert cell.stdout.split() == ["False", "False", "0"], cell.describe()


def test_the_kernelspecs_run_the_launcher() -> None:
    argv = kernels.kernel_json("cloud-flow", "x")["argv"]
    # -c, not -m zingy_nb.agent.launch: runpy would cost the launcher about 4 ms
    launcher = "from zingy_nb.agent.launch import main; main()"
    assert argv[1:5] == ["-c", launcher, "cloud-flow", "--"]
    assert argv[5:] == [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                        "--ext=zingy_nb"]  # fmt: skip


@pytest.fixture
def vscode_kernel(place: dict[str, Any], tmp_path: Path) -> Iterator[tuple[Client, int]]:
    with by_hand(place, tmp_path) as started:
        yield started


def test_a_vscode_style_start_retrieves_in_cloud_flow_without_holding_the_key(
    vscode_kernel: tuple[Client, int],
) -> None:
    client, pid = vscode_kernel
    no_key_in(client)
    client.ok(DEFINE_DIGESTS)
    cell = client.ok("_znb_digests('stripe')")
    assert json.loads(cell.stdout) == digests(*VALUES)
    # exec kept the pid the agent registered (the process VS Code started, now bwrap):
    # the kernel runs below it, in a pid namespace of its own
    assert "ipykernel_launcher" in " ".join(descendants(pid))
    assert int(client.ok("import os; print(os.getpid())").stdout) < 10
    cell = client.run("import zingy_nb; zingy_nb.get_profiles().export_key()")
    assert cell.ename == "KeyUnavailableError" and "holds no key" in cell.evalue
    assert KEY not in cell.everything()


def test_a_page_flow_kernel_holds_no_key_and_gets_nothing(place: dict[str, Any]) -> None:
    km, client = start(place, "zingy-page-flow")
    try:
        no_key_in(client)
        cell = client.run("zingyConn.apikey('stripe')")
        assert cell.ename == "CloudFlowOnlyError" and "page-flow kernel" in cell.evalue
        assert VALUES[0] not in cell.everything()
    finally:
        client.kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_page_flow_in_the_launchers_environment_narrows_a_cloud_flow_kernelspec(
    place: dict[str, Any], tmp_path: Path
) -> None:
    """(jupyter_client puts the kernelspec's own ``env`` last; a tool that does not,
    or a changed spec, still cannot widen a page-flow launch.)"""
    with by_hand(place, tmp_path, ZINGY_NB_FLOW="page-flow") as (client, _pid):
        cell = client.run("zingyConn.apikey('stripe')")
        assert cell.ename == "CloudFlowOnlyError", cell.describe()
        assert "page-flow kernel" in cell.evalue


def test_a_kernels_child_uses_its_kernels_capability_and_cannot_get_its_own(
    place: dict[str, Any],
) -> None:
    km, client = start(place, "zingy-cloud-flow")
    try:
        child = (
            "import hashlib; from zingy_nb import zingyConn; "
            "print(hashlib.sha256(zingyConn.apikey('stripe').secret1.encode()).hexdigest())"
        )
        cell = client.ok(f"!{sys.executable} -c {child!r}")
        assert cell.stdout.strip() == digests(VALUES[0])["secret1"], cell.describe()
        nested = (
            f"!{sys.executable} -m zingy_nb.agent.launch cloud-flow -- {sys.executable} -c "
            "\"import os; print('cap:', os.environ.get('ZINGY_NB_AGENT_CAP'))\" 2>&1"
        )
        out = client.ok(nested).stdout
        assert "cap: None" in out and "cannot register a kernel of its own" in out, out
    finally:
        client.kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_warm_reads_are_audited_by_the_agent_as_the_kernels_own(place: dict[str, Any]) -> None:
    # Given a launched kernel that reads a profile five times (one cold read, four warm
    # ones that it counts in memory and sends to the agent when it flushes)
    kernel_id = str(uuid.uuid4())
    connection_file = str(place["root"] / f"kernel-{kernel_id}.json")
    km, client = start(place, "zingy-cloud-flow", connection_file)
    try:
        assert km.provisioner is not None
        pid = str(km.provisioner.process.pid)  # type: ignore[attr-defined]  # the registered
        for _ in range(5):
            client.ok("zingyConn.apikey('stripe')")
        # When it also claims warm reads of a profile the agent never handed it
        forged = client.ok(
            "import time, zingy_nb; _c, _cap = zingy_nb.get_profiles()._agent(); "
            "print(_c.counted(_cap, [['github', 1000, time.time() - 1, time.time()]]))"
        )
        assert forged.stdout.strip() == "0", forged.describe()
    finally:
        client.kc.stop_channels()
        km.shutdown_kernel()  # not now=True: the kernel flushes its counts at exit

    # Then the agent writes all five as the kernel it registered (one process, its
    # pid), and nothing for the forged claim
    def mine() -> list[Any]:
        entries = Profiles(place["home"], url="").store.audit()
        return [e for e in entries if f":{pid}:" in e.process]

    deadline = time.monotonic() + TIMEOUT
    while sum(e.count for e in mine()) < 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    entries = mine()
    assert sum(e.count for e in entries) == 5, entries
    assert {(e.profile, e.outcome, e.flow) for e in entries} == {
        ("stripe", "retrieved", "cloud-flow")
    }
    assert len({e.process for e in entries}) == 1
    # named by Jupyter's kernel id, which the launcher read from its connection file
    assert {e.kernel_id for e in entries} == {kernel_id}


def test_without_an_agent_the_kernel_starts_and_says_why(place: dict[str, Any]) -> None:
    too_long = place["root"] / ("r" * 120)
    too_long.mkdir()
    km, client = start(
        place, "zingy-cloud-flow", JUPYTER_RUNTIME_DIR=str(too_long), TMPDIR=str(too_long)
    )
    try:
        no_key_in(client)
        cell = client.run("zingyConn.apikey('stripe')")
        assert cell.ename == "AgentUnavailableError", cell.describe()
        assert "JUPYTER_RUNTIME_DIR" in cell.evalue, cell.evalue
    finally:
        client.kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_after_the_agent_stops_cached_values_stay_and_new_reads_name_the_fix(
    place: dict[str, Any],
) -> None:
    km, client = start(place, "zingy-cloud-flow")
    try:
        client.ok(DEFINE_DIGESTS)
        assert json.loads(client.ok("_znb_digests('stripe')").stdout) == digests(*VALUES)
        assert stop_agents(Path(os.environ["JUPYTER_RUNTIME_DIR"])) >= 1
        client.ok("import time; time.sleep(1)")  # the agent is gone
        # what the kernel received stays usable ...
        assert json.loads(client.ok("_znb_digests('stripe')").stdout) == digests(*VALUES)
        # ... and what it did not gets an error that says what to do
        cell = client.run("zingyConn.apikey('never-read-here')")
        assert cell.ename == "AgentUnavailableError", cell.describe()
        assert "restart the kernel" in cell.evalue
    finally:
        client.kc.stop_channels()
        km.shutdown_kernel(now=True)


COUNT_TOKEN_READS = """
import zingy_nb
_znb_store = zingy_nb.get_profiles().store
_znb_token_reads = []
_znb_token = _znb_store.change_token
def _znb_counted_token():
    _znb_token_reads.append(1)
    return _znb_token()
_znb_store.change_token = _znb_counted_token
"""


@contextmanager
def holding(place: dict[str, Any], name: str, value: str) -> Iterator[tuple[Client, AgentClient]]:
    """A cloud-flow kernel that has read profile ``name`` (saved as ``value`` through
    the agent, by this test: a person's process, no capability), and that connection."""
    km, client = start(place, "zingy-cloud-flow")
    try:
        client.ok(DEFINE_DIGESTS)
        with connect(StoreLocation(place["home"], None)) as agent:
            agent.save(None, name, (value, None, None, None))
            assert read_digests(client, name) == digests(value)
            yield client, agent
    finally:
        client.kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_the_agent_pushes_changes_and_warm_reads_never_ask_the_store(
    place: dict[str, Any],
) -> None:
    first, second = "first-MADEUP-pushed-value-0123", "second-MADEUP-pushed-value-4567"
    with holding(place, "pushed", first) as (client, agent):
        # Given a kernel that holds the value, counting its reads of the store's token
        client.ok(COUNT_TOKEN_READS)
        client.ok("for _ in range(200): zingyConn.apikey('pushed')")
        # When the value changes, the agent answers the save only once the kernel took
        # the push: the very next read gets the new value
        agent.save(None, "pushed", (second, None, None, None))
        assert read_digests(client, "pushed") == digests(second)
        # A process that writes to the store itself (a script, the CLI) tells the
        # agent, which pushes before the write returns
        third = "third-MADEUP-pushed-value-8901"
        script = (
            "import sys; from zingy_nb.profiles import Profiles; "
            "Profiles(sys.argv[1], url='').set('pushed', sys.argv[2])"
        )
        subprocess.run([sys.executable, "-c", script, str(place["home"]), third],
                       env=place["env"], check=True, timeout=TIMEOUT)  # fmt: skip
        assert read_digests(client, "pushed") == digests(third)
        agent.delete(None, "pushed")
        cell = client.run("zingyConn.apikey('pushed')")
        assert cell.ename == "ProfileNotFoundError", cell.describe()
        # and no read, warm or cold, read the store's change token: the pushes said it all
        assert client.ok("print(len(_znb_token_reads))").stdout.strip() == "0"


def test_a_kernel_too_busy_to_take_a_push_is_dropped_and_revalidates_by_itself(
    place: dict[str, Any],
) -> None:
    first, second = "first-MADEUP-busy-value-0123", "second-MADEUP-busy-value-4567"
    with holding(place, "busy", first) as (client, agent):
        # Given the kernel busy in C code that holds the GIL for seconds (a regex
        # backtracking, about 5 s here, against the agent's 1 s wait), so its push
        # thread cannot answer. It connects here just before: no message of its could
        # say it began, as they go out only once the GIL is free again
        with socket.socket() as began:
            began.bind(("127.0.0.1", 0))
            began.listen(1)
            began.settimeout(TIMEOUT)
            busy = client.kc.execute(
                "import re, socket; "
                f"socket.create_connection(('127.0.0.1', {began.getsockname()[1]})).close(); "
                "re.match(r'(a+)+$', 'a' * 27 + 'b')"
            )
            began.accept()[0].close()
        time.sleep(0.2)
        # When a change comes meanwhile, the agent waits for it a while, then drops it
        agent.save(None, "busy", (second, None, None, None))
        reply = client.kc.get_shell_msg(timeout=TIMEOUT)
        assert reply["parent_header"]["msg_id"] == busy
        # Then the kernel knows it may have missed a change: it emptied its cache, and
        # reads the new value (revalidating with the store's change token from now on)
        assert read_digests(client, "busy") == digests(second)
        watch = client.ok(
            "import zingy_nb; _w = zingy_nb.get_profiles()._watch; print(_w.live, _w.dropped)"
        )
        assert watch.stdout.split() == ["False", "True"], watch.describe()
