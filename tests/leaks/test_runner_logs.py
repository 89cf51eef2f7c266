"""Runner logs: what a kernel writes to its own process stdout and stderr.

That output reaches whoever started the kernel (the Jupyter server's log, the ``zingy-nb
serve`` gateway's, ``zingy-nb run``'s stderr, nbconvert's) outside any message. Each
row writes a retrieved value through one way of reaching the process's fds 1 and 2, in
a real cloud-flow kernel whose stdout and stderr are files, on both store backends; the
leak scanner reads those files. Kernels run with ipykernel capturing fds 1 and 2 (as
under Jupyter) and without (``PYTEST_CURRENT_TEST`` in a kernel's environment turns the
capture off, so the descriptors are written directly).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

from ..kernels import Kernel, kernel_env
from ..postgres import Backend
from ..test_runtime_run import (
    CLOUD,
    Runtime,
    notebook,
    runtime_fixture,  # noqa: F401  (the fixture `runtime`)
    zingy,
)
from ..test_runtime_run import PROFILES as RUN_PROFILES
from .scanner import find
from .test_kernel_leaks import backend, pg_server, process_env, secrets_in_play  # noqa: F401
from .values import JWT

KEY = "zingyConn.apikey"
WAIT = 15.0
# A long value (runs count), one with characters escapes change, a short one (whole only).
VALUES = f"v = {KEY}('jwt').secret1; h = {KEY}('html').secret1; s = {KEY}('short').secret1"


@dataclass(frozen=True)
class Row:
    id: str
    code: str  # writes "<id>:before", the values, then "<id>:after" on one stream
    stream: str  # where it lands: "stdout" or "stderr"
    captured_only: bool = False  # sys.stdout has a fileno only while ipykernel captures


def _line(row_id: str) -> str:
    return f'f"{row_id}:before " + v + " " + h + " " + s + " {row_id}:after\\n"'


ROWS = [
    Row("os-write-1", f"import os; os.write(1, ({_line('os-write-1')}).encode())", "stdout"),
    Row("os-write-2", f"import os; os.write(2, ({_line('os-write-2')}).encode())", "stderr"),
    Row(
        "print-dunder-stdout",
        f"import sys; print({_line('print-dunder-stdout')}, end='', file=sys.__stdout__, "
        "flush=True)",
        "stdout",
    ),
    Row(
        "logging-dunder-stderr",
        "import logging, sys; _h = logging.StreamHandler(sys.__stderr__); "
        "_l = logging.getLogger('runner-log-row'); _l.addHandler(_h); "
        f"_l.warning({_line('logging-dunder-stderr')}.rstrip()); _h.flush()",
        "stderr",
    ),
    Row(
        "subprocess-echo",
        f"import subprocess; subprocess.run(['echo', {_line('subprocess-echo')}.rstrip()])",
        "stdout",
    ),
    Row(
        "subprocess-stdout-sys-stdout",
        "import subprocess, sys; "
        f"subprocess.run(['echo', {_line('subprocess-stdout-sys-stdout')}.rstrip()], "
        "stdout=sys.stdout)",
        "stdout",
        captured_only=True,
    ),
    Row(
        "subprocess-stderr-sys-stderr",
        "import subprocess, sys; "
        f"subprocess.run(['sh', '-c', 'echo \"$0\" >&2', "
        f"{_line('subprocess-stderr-sys-stderr')}.rstrip()], stderr=sys.stderr)",
        "stderr",
        captured_only=True,
    ),
    Row(  # as curl -v does: a child writing to stderr in small pieces, slowly
        "slow-subprocess-stderr",
        "import subprocess, sys; subprocess.run([sys.executable, '-c', "
        "'import sys, time; t = sys.argv[1]\\n"
        "for i in range(0, len(t), 5): sys.stderr.write(t[i:i+5]); sys.stderr.flush(); "
        "time.sleep(0.01)', "
        f"{_line('slow-subprocess-stderr')}])",
        "stderr",
    ),
    Row(  # one value split across writes, the second long after the hold delay
        "split-writes",
        "import os, time; os.write(1, b'split-writes:before ' + v[:12].encode()); "
        "time.sleep(0.3); os.write(1, v[12:].encode() + b' split-writes:after\\n')",
        "stdout",
    ),
]


@dataclass
class LoggedKernel:
    """A kernel whose process stdout and stderr are files."""

    kernel: Kernel
    files: dict[str, Path]
    captured: bool = True

    def text(self, stream: str) -> str:
        return self.files[stream].read_bytes().decode("utf-8", "replace")

    def wait_for(self, stream: str, marker: str) -> str:
        deadline = time.monotonic() + WAIT
        while marker not in (text := self.text(stream)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return text


def start_logged(env: dict[str, str], folder: Path) -> tuple[KernelManager, LoggedKernel]:
    """A python3 kernel started by jupyter_client with stdout and stderr in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {name: folder / f"{name}.log" for name in ("stdout", "stderr")}
    km = KernelManager(kernel_name="python3")
    with open(files["stdout"], "wb") as out, open(files["stderr"], "wb") as err:
        km.start_kernel(env=env, stdout=out, stderr=err)  # the child keeps its own copies
    try:
        return km, LoggedKernel(Kernel(km, files["stderr"]), files)
    except BaseException:
        km.shutdown_kernel(now=True)
        raise


@pytest.fixture(scope="module", params=["fd-captured", "fd-direct"])
def logged(
    request: pytest.FixtureRequest,
    backend: Backend,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LoggedKernel]:
    captured = request.param == "fd-captured"
    env = kernel_env(
        flow="cloud-flow",
        home=backend.home,
        IPYTHONDIR=str(tmp_path_factory.mktemp("ipython")),
        **process_env(backend),
    )
    if captured:
        env.pop("PYTEST_CURRENT_TEST", None)  # ipykernel captures fds 1 and 2 (as in Jupyter)
    else:
        env["PYTEST_CURRENT_TEST"] = "runner-logs"  # ipykernel leaves fds 1 and 2 alone
    _, logged = start_logged(env, tmp_path_factory.mktemp("kernel-logs"))
    logged.captured = captured
    try:
        logged.kernel.ok("%load_ext zingy_nb")
        watched = logged.kernel.ok("import sys; print(getattr(sys.stdout, '_should_watch', None))")
        assert watched.stdout.strip() == str(captured), watched.stdout
        logged.kernel.ok(VALUES)
        yield logged
    finally:
        logged.kernel.shutdown()


#: Each row in each mode it applies to: without ipykernel's capture, ``sys.stdout`` has
#: no file descriptor, so the rows that hand it to a subprocess run only with capture.
CASES = [
    pytest.param(mode, row, id=f"{row.id}-{mode}")
    for mode in ("fd-captured", "fd-direct")
    for row in ROWS
    if mode == "fd-captured" or not row.captured_only
]


@pytest.mark.parametrize(("logged", "row"), CASES, indirect=["logged"])
def test_no_value_in_the_kernel_process_output(
    row: Row,
    logged: LoggedKernel,
    backend: Backend,  # noqa: F811
) -> None:
    # Given a cloud-flow kernel that retrieved values; When a cell writes them (and
    # ordinary text around them) to the kernel process's own stdout or stderr
    logged.kernel.ok(row.code)
    text = logged.wait_for(row.stream, f"{row.id}:after")
    # Then the ordinary text arrives in the process's output, and no value does
    assert f"{row.id}:before" in text and f"{row.id}:after" in text, text[-2000:]
    between = text.split(f"{row.id}:before", 1)[1].split(f"{row.id}:after", 1)[0]
    assert "[REDACTED]" in between, between  # masked in place, not dropped
    for stream in ("stdout", "stderr"):
        leaks = find(logged.text(stream), secrets_in_play(backend), f"kernel {stream}")
        assert not leaks, "\n".join(map(str, leaks))


def test_a_value_split_across_writes_is_masked_whole(logged: LoggedKernel) -> None:
    # Given a short value (matched only whole) written in two pieces, 20 ms apart
    logged.kernel.ok(
        "import os, time; os.write(1, b'held:before ' + s[:4].encode()); time.sleep(0.02); "
        "os.write(1, s[4:].encode() + b' held:after\\n')"
    )
    text = logged.wait_for("stdout", "held:after")
    # Then its first piece waited for the second: one mask, no piece of it shown
    assert "held:before [REDACTED] held:after" in text, text[-500:]


def test_ordinary_output_arrives_whole_and_in_order(logged: LoggedKernel) -> None:
    # Given numbered lines written through three ways to fd 1, and UTF-8 split mid-character
    code = (
        "import os, subprocess, sys\n"
        "for i in range(300):\n"
        "    line = f'order {i:04d} ' + 'é' * (i % 7) + '\\n'\n"
        "    if i % 3 == 0: os.write(1, line.encode())\n"
        "    elif i % 3 == 1: print(line, end='', file=sys.__stdout__, flush=True)\n"
        "    else: data = line.encode(); os.write(1, data[:9]); os.write(1, data[9:])\n"
        "os.write(1, b'order done\\n')"
    )
    logged.kernel.ok(code)
    text = logged.wait_for("stdout", "order done")
    # Then every line arrives, byte for byte, in the order written
    got = [ln for ln in text.splitlines() if ln.startswith("order ")]
    expected = [f"order {i:04d} " + "é" * (i % 7) for i in range(300)] + ["order done"]
    assert got == expected


def test_output_written_last_is_flushed_at_shutdown(
    backend: Backend,  # noqa: F811
    tmp_path: Path,
) -> None:
    # Given a kernel (extension loaded, then reloaded) that retrieved values, a last cell
    # writing one, and an exit handler writing one
    env = kernel_env(flow="cloud-flow", home=backend.home, **process_env(backend))
    env.pop("PYTEST_CURRENT_TEST", None)
    _, logged = start_logged(env, tmp_path)
    try:
        logged.kernel.ok("%load_ext zingy_nb")
        logged.kernel.ok("%reload_ext zingy_nb")  # installs nothing twice
        threads = logged.kernel.ok(
            "import threading\n"
            "print(sum(t.name == 'zingy-nb-fd-redact' for t in threading.enumerate()))"
        )
        assert threads.stdout.strip() == "1"
        logged.kernel.ok(VALUES)
        logged.kernel.ok("import os; os.write(2, ('last cell ' + v + ' the end').encode())")
        # (the last write of all ends in a value's first characters: held back)
        logged.kernel.ok(
            "import atexit, os\n"
            "_ = atexit.register(lambda: os.write(2, ('at exit ' + v + ' ' + v[:10]).encode()))"
        )
    finally:
        # When the kernel is shut down
        logged.kernel.shutdown()
    # Then what it wrote, up to its exit, arrives redacted
    text = logged.text("stderr")
    assert "last cell [REDACTED] the end" in text, text[-2000:]
    assert f"at exit [REDACTED] {JWT[:10]}" in text, text[-2000:]
    assert not find(text, secrets_in_play(backend), "kernel stderr")


# -- zingy-nb run: its stderr is what cron mails ------------------------------------------
def test_zingy_nb_run_stderr_holds_no_value(runtime: Runtime) -> None:
    # Given a cloud-flow notebook whose cell writes a value to the kernel's fd 2
    name, slots = next(iter(RUN_PROFILES.items()))
    path = notebook(
        runtime.root / "fd-write.ipynb",
        CLOUD,
        f"import os\nv = zingyConn.apikey({name!r}).secret1\n"
        "os.write(2, ('fd-write:before ' + v + ' fd-write:after\\n').encode())",
    )
    # When zingy-nb run runs it (as under cron, not under pytest)
    done = zingy(runtime, "run", str(path), PYTEST_CURRENT_TEST=None)
    # Then the run succeeds, the text around the value reaches its stderr, the value not
    assert done.returncode == 0, done.stderr
    assert "fd-write:before [REDACTED] fd-write:after" in done.stderr, done.stderr
    values = {f"{name}.{slot}": value for slot, value in slots.items()}
    assert not find(done.stderr + done.stdout, values, "zingy-nb run output")
