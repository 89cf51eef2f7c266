"""Confined kernels: what a kernel started from the zingy kernelspecs can still reach.

Kernels are started from the installed kernelspecs by jupyter_client, on a store whose
master key is in a key file (the custody a confined kernel must not read), with the
agent, another kernel, a stand-in for the Jupyter server's token file and for the
session's D-Bus socket around it. Inside, code does what a hostile notebook would: read
those files, look for other processes, write what later runs unconfined, talk to an
abstract Unix socket of a process outside, and double-fork to look like a person to
the agent. The kernel's own work goes on: its connection file, its capability, writing
next to its notebook, interrupts.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from tests.isolation import stop_agents
from tests.kernels import DEFINE_DIGESTS, digests
from tests.test_launcher import Client, descendants
from tests.test_launcher import start as launcher_start
from zingy_nb import kernels
from zingy_nb.agent.confine import bwrap, unusable
from zingy_nb.agent.location import PID_FILE, agent_pid
from zingy_nb.profiles import Profiles

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="confinement is Linux's"),
    pytest.mark.skipif(
        bwrap() is None or unusable(bwrap() or "") is not None,
        reason="bubblewrap is missing or cannot make namespaces (.ci/run installs it)",
    ),
]

VALUES = ("sk_test_confined_made_up_0123456789", "second-made-up-confined-value")
TOKEN = "made-up-server-token-0a1b2c3d4e5f"
TIMEOUT = 60


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A store whose key is in a key file, both kernelspecs, a runtime folder with a
    server token file, a D-Bus socket and an XDG runtime folder, and shell start-up
    files in the home; the environment kernels start with."""
    root = tmp_path_factory.mktemp("confined")
    home, store, runtime = root / "home", root / "store", root / "runtime"
    for folder in (home, runtime, root / "xdg"):
        folder.mkdir(mode=0o700)
    env = dict(os.environ, HOME=str(home), ZINGY_NB_HOME=str(store))
    env.update(JUPYTER_RUNTIME_DIR=str(runtime), XDG_RUNTIME_DIR=str(root / "xdg"))
    env.update(JUPYTER_CONFIG_DIR=str(home / ".jupyter"), IPYTHONDIR=str(home / ".ipython"))
    env.update(JUPYTER_TOKEN=TOKEN, DBUS_SESSION_BUS_ADDRESS=f"unix:path={root / 'bus'}")
    for name in ("ZINGY_NB_FLOW", "ZINGY_NB_MASTER_KEY", "ZINGY_NB_CONFINE"):
        env.pop(name, None)
    mp = pytest.MonkeyPatch()
    for name in ("HOME", "ZINGY_NB_HOME", "JUPYTER_RUNTIME_DIR"):
        mp.setenv(name, env[name])
    mp.delenv("ZINGY_NB_MASTER_KEY", raising=False)
    mp.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    Profiles(store, url="").set("stripe", *VALUES)
    mp.undo()
    assert (store / "master.key").is_file()  # the custody under test: a key file
    (runtime / "jpserver-4242.json").write_text(json.dumps({"token": TOKEN}))
    (root / "xdg" / "keyring-control").write_text("made-up keyring socket stand-in")
    (home / ".bashrc").write_text("# made-up start-up file\n")
    bus = socket.socket(socket.AF_UNIX)
    bus.bind(str(root / "bus"))
    bus.listen()
    kernels.install(prefix=str(root / "prefix"))
    specs = root / "prefix" / "share" / "jupyter" / "kernels"
    yield {"root": root, "home": home, "store": store, "runtime": runtime, "specs": specs,
           "env": env}  # fmt: skip
    bus.close()
    stop_agents(runtime)


def start(
    place: dict[str, Any], name: str = "zingy-cloud-flow", in_runtime: bool = True, **env: str
) -> tuple[KernelManager, Client]:
    """A kernel from a zingy kernelspec, working in ``place["root"]``; its connection
    file in the runtime folder, as the Jupyter server names it, or (``in_runtime=False``)
    in the temp folder, where jupyter_client puts it for nbclient and papermill."""
    runtime = place["runtime"] / f"kernel-{os.urandom(8).hex()}.json"
    connection_file = str(runtime) if in_runtime else ""
    return launcher_start(place, name, connection_file, cwd=str(place["root"]), **env)


@contextmanager
def running(
    place: dict[str, Any], *args: Any, **env: str
) -> Iterator[tuple[KernelManager, Client]]:
    """``start(place, *args, **env)``, shut down at the end."""
    km, client = start(place, *args, **env)
    try:
        yield km, client
    finally:
        client.kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel(place: dict[str, Any]) -> Iterator[tuple[KernelManager, Client]]:
    with running(place) as started:
        yield started


@pytest.fixture(scope="module")
def others(place: dict[str, Any]) -> Iterator[list[KernelManager]]:
    """Other kernels of the same user, whose connection files a hostile one wants: one
    the server's way, one nbclient's."""
    started = []
    try:
        for in_runtime in (True, False):
            km, client = start(place, "zingy-page-flow", in_runtime)
            client.kc.stop_channels()
            started.append(km)
        yield started
    finally:
        for km in started:
            km.shutdown_kernel(now=True)


def probe(client: Client, code: str) -> Any:
    """What ``code`` (which sets ``out``) found, as JSON from the kernel."""
    cell = client.ok(f"import json, os\nout = None\n{code}\nprint(json.dumps(out))")
    return json.loads(cell.stdout.strip().splitlines()[-1])


READ = """
def read(path):
    try:
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')
    except OSError as e:
        return 'error: ' + (os.strerror(e.errno) if e.errno else str(e))
"""


def test_the_kernel_retrieves_through_its_capability(kernel: tuple[KernelManager, Client]) -> None:
    _, client = kernel
    client.ok(DEFINE_DIGESTS)
    assert json.loads(client.ok("_znb_digests('stripe')").stdout) == digests(*VALUES)


def test_other_kernels_connection_files_and_the_server_token_are_not_there(
    place: dict[str, Any], kernel: tuple[KernelManager, Client], others: list[KernelManager]
) -> None:
    km, client = kernel
    runtime = place["runtime"]
    files = [other.connection_file for other in others]
    assert all(Path(f).is_file() for f in files)  # there, for processes outside
    assert not files[1].startswith(str(runtime))  # nbclient's, in the temp folder
    out = probe(client, READ + f"""
out = {{"listing": sorted(os.listdir({str(runtime)!r})),
        "others": [read(f) for f in {files!r}],
        "temp": os.listdir({os.environ["TMPDIR"]!r}),
        "token file": read({str(runtime / "jpserver-4242.json")!r}),
        "own": json.loads(read({km.connection_file!r}))["key"] != "",
        "env token": os.environ.get("JUPYTER_TOKEN")}}
""")  # fmt: skip
    # Only its own connection file and its agent's folder are left in the runtime folder
    assert out["listing"] == sorted([Path(km.connection_file).name, "zingy-nb"]), out
    assert all(o.startswith("error:") for o in out["others"]), out
    assert out["token file"].startswith("error:"), out
    # The temp folder is its own: nothing another process left there
    assert Path(files[1]).name not in out["temp"], out
    assert not [name for name in out["temp"] if name.endswith(".json")], out
    assert out["own"] is True and out["env token"] is None
    assert TOKEN not in client.ok("print(open('/proc/self/environ').read())").stdout


def test_the_key_file_the_keyring_folder_and_the_bus_read_empty(
    place: dict[str, Any], kernel: tuple[KernelManager, Client]
) -> None:
    _, client = kernel
    key_file = place["store"] / "master.key"
    out = probe(client, READ + f"""
import socket
def connect(path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        return 'connected'
    except OSError as e:
        return 'error: ' + os.strerror(e.errno)
    finally:
        s.close()
out = {{"key": read({str(key_file)!r}), "xdg": os.listdir({str(place["root"] / "xdg")!r}),
        "bus": connect({str(place["root"] / "bus")!r}),
        "store": sorted(os.listdir({str(place["store"])!r}))}}
""")  # fmt: skip
    assert len(key_file.read_text()) > 20  # outside, the file holds the key
    assert out["key"] in ("", "error: Permission denied") and out["xdg"] == [], out
    assert out["bus"].startswith("error:"), out
    assert "profiles.db" in out["store"], out  # metadata: the kernel reads it itself


def test_no_other_process_is_visible_and_a_double_fork_stays_the_kernels(
    place: dict[str, Any], kernel: tuple[KernelManager, Client]
) -> None:
    _, client = kernel
    (pid_file,) = place["runtime"].rglob(PID_FILE)
    agent = agent_pid(pid_file.parent)
    assert agent is not None and Path(f"/proc/{agent}").exists()
    out = probe(client, f"""
pids = [int(p) for p in os.listdir('/proc') if p.isdigit()]
out = {{"pids": pids, "agent": os.path.exists('/proc/{agent}/environ')}}
""")  # fmt: skip
    assert out["agent"] is False and max(out["pids"]) < 100, out
    # A grandchild that double-forks away, drops the capability and turns the notebook
    # check off is still the kernel's to the agent: refused
    cli = Path(sys.executable).with_name("zingy-nb")
    before = Profiles(place["store"], url="").store.access_setting()
    assert before != "off"
    cell = client.ok(f"""
import subprocess, time
if os.fork() == 0:
    if os.fork() == 0:
        env = {{k: v for k, v in os.environ.items() if k != 'ZINGY_NB_AGENT_CAP'}}
        time.sleep(0.5)  # its parent has exited: an orphan now
        done = subprocess.run([{str(cli)!r}, 'store', 'config', 'notebook-access', 'off'],
                              env=env, capture_output=True, text=True)
        with open('double-fork.txt', 'w') as f:
            f.write(str(os.getppid()) + ' ' + str(done.returncode) + ' ' + done.stderr)
    os._exit(0)
os.wait()
""")
    assert cell.status == "ok"
    result = place["root"] / "double-fork.txt"
    deadline = time.monotonic() + TIMEOUT
    while not result.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    parent, code, said = result.read_text().split(" ", 2)
    assert parent == "1" and code != "0", said  # reparented to the namespace's init
    assert "kernel" in said, said
    assert Profiles(place["store"], url="").store.access_setting() == before


def test_what_later_runs_unconfined_is_read_only(
    place: dict[str, Any], kernel: tuple[KernelManager, Client]
) -> None:
    _, client = kernel
    home = place["home"]
    site = next(p for p in sys.path if p.endswith("site-packages"))
    targets = {
        "site-packages": f"{site}/zingy_confined_test.pth",
        "python bin": f"{Path(sys.executable).parent}/zingy-confined-test",
        "kernelspecs": f"{place['env']['JUPYTER_DATA_DIR']}/kernels/x",
        "jupyter config": f"{home}/.jupyter/jupyter_server_config.py",
        "ipython startup": f"{home}/.ipython/profile_default/startup/00-x.py",
        "bashrc": f"{home}/.bashrc",
    }
    out = probe(client, f"""
def write(path):
    try:
        with open(path, 'a') as f:
            f.write('print(1)\\n')
        return 'written'
    except OSError as e:
        return os.strerror(e.errno)
out = {{name: write(path) for name, path in {targets!r}.items()}}
out['notebook folder'] = write('confined-note.txt')
out['home'] = write({str(home / "notes.txt")!r})
""")  # fmt: skip
    readonly = os.strerror(errno.EROFS)
    assert {k: v for k, v in out.items() if k in targets} == dict.fromkeys(targets, readonly)
    assert out["notebook folder"] == "written" and out["home"] == "written", out
    assert (home / ".bashrc").read_text() == "# made-up start-up file\n"


def test_jupyter_applications_run_inside(place: dict[str, Any]) -> None:
    """Each Jupyter application migrates old config once, writing a marker into the
    config folder, which is read-only inside: the launcher has it done before."""
    config = place["root"] / "config-of-a-new-user"
    with running(place, JUPYTER_CONFIG_DIR=str(config)) as (_, client):
        out = probe(
            client,
            """
import nbformat, subprocess, sys
nbformat.write(nbformat.v4.new_notebook(), 'confined-empty.ipynb')
p = subprocess.run([sys.executable, '-m', 'jupyter', 'nbconvert', '--to', 'markdown',
                    '--stdout', 'confined-empty.ipynb'], capture_output=True, text=True)
out = {'status': p.returncode, 'stderr': p.stderr[-2000:]}
""",
        )
    assert out["status"] == 0, out["stderr"]
    assert (config / "migrated").is_file()


def test_an_abstract_socket_outside_is_out_of_reach(kernel: tuple[KernelManager, Client]) -> None:
    _, client = kernel
    name = f"\0zingy-confined-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX)
    server.bind(name)
    server.listen()
    try:
        said = probe(client, f"""
import socket
s = socket.socket(socket.AF_UNIX)
try:
    s.connect({name!r})
    out = 'connected'
except OSError as e:
    out = os.strerror(e.errno)
""")  # fmt: skip
    finally:
        server.close()
    assert said == os.strerror(errno.EPERM), said


def test_an_interrupt_stops_the_cell_and_the_kernel_lives(
    kernel: tuple[KernelManager, Client],
) -> None:
    km, client = kernel
    timer = threading.Timer(2.0, km.interrupt_kernel)
    timer.start()
    cell = client.run("import time; time.sleep(30)")
    timer.join()
    assert cell.ename == "KeyboardInterrupt", cell.describe()
    assert client.ok("print(6 * 7)").stdout.strip() == "42"
    assert km.is_alive()


def test_shutting_down_leaves_no_process(place: dict[str, Any]) -> None:
    km, client = start(place)
    client.kc.stop_channels()
    assert km.provisioner is not None
    pid = km.provisioner.process.pid  # type: ignore[attr-defined]
    inside = descendants(pid)
    assert any("ipykernel_launcher" in c for c in inside), inside
    km.shutdown_kernel()
    assert (
        not Path(f"/proc/{pid}").exists() or b"zombie" in Path(f"/proc/{pid}/status").read_bytes()
    )
    assert not any("ipykernel_launcher" in c for c in descendants(pid))


def test_confinement_off_or_missing_is_said_once_at_start(place: dict[str, Any]) -> None:
    spec = json.loads((place["specs"] / "zingy-cloud-flow" / "kernel.json").read_text())
    argv = [a.replace("{connection_file}", "/nonexistent/kernel.json") for a in spec["argv"]]
    argv[argv.index("ipykernel_launcher") - 1 :] = [
        "-c",
        "import os; print(len(os.listdir('/proc')) > 0, os.getpid())",
    ]
    env = {**place["env"], **spec["env"]}

    def run(**extra: str) -> tuple[int, str, str]:
        """(the pid started, the pid the kernel's code saw, stderr)."""
        proc = subprocess.Popen(argv, env={**env, **extra}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        out, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, err
        return proc.pid, out.split()[1], err

    # Without bwrap on the PATH: the kernel starts unconfined and the launcher says so,
    # in one line
    started, seen, said = run(PATH="/nonexistent")
    assert seen == str(started), said
    assert said.count("runs unconfined") == 1 and "bubblewrap" in said, said
    assert len(said.strip().splitlines()) == 1, said
    # Turned off on purpose: unconfined, nothing said
    started, seen, said = run(ZINGY_NB_CONFINE="off")
    assert seen == str(started) and said == "", said
    # Else confined: in a pid namespace of its own, nothing said
    started, seen, said = run()
    assert int(seen) < 10 and said == "", said


def test_a_store_made_after_the_kernel_started_is_the_one_the_agent_writes(
    place: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Given a store folder that does not exist yet, in the temp folder (private in the
    # sandbox), outside the kernel's working folder
    store = tmp_path_factory.mktemp("later") / "store"
    key = "A" * 43 + "="
    with running(place, "zingy-page-flow", ZINGY_NB_HOME=str(store), ZINGY_NB_MASTER_KEY=key) as (
        _,
        client,
    ):
        # When the kernel saves a profile (the agent seals it) and looks for it
        cell = client.ok(
            "import zingy_nb\np = zingy_nb.get_profiles()\n"
            "p.set('later', 'made-up-later-value-0123456789')\nprint(p.exists('later'))"
        )
    # Then the kernel sees the store the agent wrote, not one of its own
    assert cell.stdout.strip() == "True", cell.describe()
    assert [m.name for m in Profiles(store, url="").list()] == ["later"]


def test_a_runner_sees_no_more_output_from_a_confined_kernel(
    place: dict[str, Any], tmp_path: Path
) -> None:
    """A runner (papermill, nbclient) shows its kernels' output: confining adds none
    (ipykernel prints its connection banner when it has no parent to watch)."""
    outputs = {}
    for confine_env in ("off", "on"):
        log = tmp_path / f"kernel-{confine_env}.log"
        with open(log, "wb") as out:
            km = KernelManager(
                kernel_name="zingy-cloud-flow",
                kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(place["specs"])]),
            )
            km.start_kernel(env={**place["env"], "ZINGY_NB_CONFINE": confine_env},
                            stdout=out, stderr=out)  # fmt: skip
            try:
                Client(km.client()).kc.stop_channels()
            finally:
                km.shutdown_kernel()
        outputs[confine_env] = log.read_text()
    assert "To connect another client" not in outputs["on"], outputs["on"]
    lines = {k: [line for line in v.splitlines() if line.strip()] for k, v in outputs.items()}
    assert len(lines["on"]) <= len(lines["off"]), lines


def test_a_confined_kernel_drops_what_it_holds_when_the_key_is_locked(
    place: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Given a store whose key is locked with a passphrase (unlocked in its agent)
    store = tmp_path_factory.mktemp("locked") / "store"
    env = {**place["env"], "ZINGY_NB_HOME": str(store), "ZINGY_NB_MASTER_KEY": "B" * 43 + "="}
    cli = [str(Path(sys.executable).with_name("zingy-nb"))]

    def zingy(*args: str, stdin: str = "", key: bool = False) -> None:
        run_env = env if key else {k: v for k, v in env.items() if k != "ZINGY_NB_MASTER_KEY"}
        done = subprocess.run([*cli, *args], input=stdin, env=run_env, capture_output=True,
                              text=True, timeout=TIMEOUT)  # fmt: skip
        assert done.returncode == 0, done.stderr

    zingy("profiles", "set", "stripe", "--stdin", stdin=VALUES[0] + "\n", key=True)
    zingy("key", "import", stdin=env["ZINGY_NB_MASTER_KEY"] + "\n")
    zingy("key", "protect", "--stdin", stdin="made-up confined passphrase\n")
    assert (store / "master.key.locked").is_file() and not (store / "master.key").exists()
    with running(place, ZINGY_NB_HOME=str(store), ZINGY_NB_MASTER_KEY="") as (_, client):
        client.ok(DEFINE_DIGESTS)
        assert json.loads(client.ok("_znb_digests('stripe')").stdout) == digests(VALUES[0])
        # When the person locks it
        zingy("lock")
        # Then the kernel's warm copy went with it
        refused = client.run("_znb_digests('stripe')")
        assert refused.ename == "StoreLockedError", refused.describe()
