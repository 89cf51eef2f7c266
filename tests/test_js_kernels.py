"""The JavaScript flow kernels: Deno's kernel behind zingy-nb's proxy (issue #26).

Real Deno kernels, started by jupyter_client from the kernelspecs ``kernels.install``
writes (launcher, capability, confinement, as for the Python ones), on a store whose key
is in the launching environment. The seed's line runs as written; page flow refuses
with Python's wording; everything the kernel sends, and its own process output, goes
through the leak scanner.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from tests.isolation import stop_agents
from tests.kernels import Cell, digests
from tests.leaks.scanner import find, scan_messages
from zingy_nb import kernels
from zingy_nb.profiles import Profiles
from zingy_nb.pytest_plugin import load_profiles_file, make_store

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or kernels.deno_executable() is None,
    reason="the JavaScript kernels need Deno (the javascript extra); the agent is Linux-only",
)

KEY = base64.urlsafe_b64encode(b"made-up-js-kernel-test-key-01234").decode()
SECRET1 = "sk_test_MADEUP_js_kernel_0123456789abcdef"
SECRET3 = "third-MADEUP-js-value-with-<html>&'quotes\""
VALUES = {"secret1": SECRET1, "secret3": SECRET3}
TIMEOUT = 60
#: A cell's JavaScript that prints the SHA-256 of each slot of a profile (null if unset).
DIGESTS = """
const hex = async (v) => v === null ? null : Array.from(new Uint8Array(
  await crypto.subtle.digest("SHA-256", new TextEncoder().encode(v))))
  .map((b) => b.toString(16).padStart(2, "0")).join("");
const info = zingyConn.apikey("stripe");
console.log(JSON.stringify({secret1: await hex(info.secret1), secret2: await hex(info.secret2),
  secret3: await hex(info.secret3), secret4: await hex(info.secret4)}));
"""


def _plain(result: str | None) -> str:
    """A text/plain result without Deno's colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", result or "")


class JsKernel:
    """A started JavaScript flow kernel, its client, and every message it sent."""

    def __init__(self, specs: Path, name: str, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log_file = open(log, "wb")  # the kernel process's own stdout and stderr
        self.km = KernelManager(
            kernel_name=name, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(specs)])
        )
        self.km.start_kernel(env=env, stdout=self._log_file, stderr=self._log_file)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.messages: list[tuple[str, dict[str, Any]]] = []
        try:
            self.kc.wait_for_ready(timeout=TIMEOUT)
        except BaseException:
            self.stop()
            raise

    def run(self, code: str) -> Cell:
        got: list[dict[str, Any]] = []
        reply = self.kc.execute_interactive(
            code, allow_stdin=False, timeout=TIMEOUT, output_hook=got.append
        )
        self.messages += [("iopub", m) for m in got] + [("shell", reply)]
        return Cell(code, reply["content"], got)

    def ok(self, code: str) -> Cell:
        cell = self.run(code)
        assert cell.status == "ok", cell.describe()
        return cell

    def stop(self) -> None:
        try:
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=False)
        finally:
            self._log_file.close()


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("js")
    home = root / "store"
    mp = pytest.MonkeyPatch()
    mp.setenv("ZINGY_NB_MASTER_KEY", KEY)
    Profiles(home, url="").set("stripe", SECRET1, None, SECRET3)
    mp.undo()
    installed = kernels.install(prefix=str(root / "prefix"))
    assert {Path(p).name for p in installed} >= set(kernels.JS_KERNELS)
    env = dict(os.environ, ZINGY_NB_HOME=str(home), ZINGY_NB_MASTER_KEY=KEY)
    env.pop("ZINGY_NB_FLOW", None)
    yield {"root": root, "specs": root / "prefix" / "share" / "jupyter" / "kernels", "env": env}
    stop_agents(Path(os.environ["JUPYTER_RUNTIME_DIR"]))


@pytest.fixture(scope="module")
def cloud(place: dict[str, Any]) -> Iterator[JsKernel]:
    kernel = JsKernel(place["specs"], "zingy-js-cloud-flow", place["env"], place["root"] / "c.log")
    yield kernel
    kernel.stop()


@pytest.fixture(scope="module")
def page(place: dict[str, Any]) -> Iterator[JsKernel]:
    kernel = JsKernel(place["specs"], "zingy-js-page-flow", place["env"], place["root"] / "p.log")
    yield kernel
    kernel.stop()


def test_the_seed_line_runs_as_written_and_gets_the_profiles_values(cloud: JsKernel) -> None:
    cloud.ok('const keyInfo = zingyConn.apikey("stripe");')
    printed = json.loads(cloud.ok(DIGESTS).stdout)
    assert printed == digests(SECRET1, None, SECRET3, None)
    lengths = cloud.ok("console.log(keyInfo.secret1.length, keyInfo.secret2, keyInfo.secret4)")
    assert lengths.stdout == f"{len(SECRET1)} null null\n"
    same = cloud.ok('JSON.stringify(zingyConn.execute("stripe", "Retrieve")) === '
                    "JSON.stringify(keyInfo)")  # fmt: skip
    assert "true" in (same.result or "")


def test_refusals_read_as_in_python(cloud: JsKernel, page: JsKernel) -> None:
    refused = page.run('zingyConn.apikey("stripe")')
    assert refused.ename == "CloudFlowOnlyError", refused.describe()
    assert "works only in cloud-flow kernels" in refused.evalue
    assert "this is a page-flow kernel" in refused.evalue
    assert '"JavaScript (Zingy Cloud Flow)" kernel' in refused.evalue  # its own twin
    unknown = cloud.run('zingyConn.apikey("no-such-profile")')
    assert unknown.ename == "ProfileNotFoundError"
    assert "no-such-profile" in unknown.evalue
    assert "`zingy-nb profiles list` in a terminal" in unknown.evalue  # advice it can follow
    assert "%zingy_apikey" not in unknown.evalue  # no magics in JavaScript
    command = cloud.run('zingyConn.execute("stripe", "Delete")')
    assert command.ename == "UnknownCommandError"
    assert "the supported command is 'Retrieve'" in command.evalue


LEAK_CELLS = {
    "result": "shown.secret1",
    "console.log": "console.log(shown.secret1, shown.secret3)",
    "console.error": "console.error('x', shown.secret3)",
    "JSON.stringify": "JSON.stringify(shown)",
    "a 16+ run": "console.log('part:', shown.secret1.slice(3, 23))",
    "object display": "({...shown})",
    "html display": "Deno.jupyter.html`<b>${shown.secret3}</b>`",
    "error message": "throw new Error('bad ' + shown.secret1)",
    "halves in two writes": (
        "console.log(shown.secret1.slice(0, 20)); await new Promise((r) => setTimeout(r, 300));"
        "console.log(shown.secret1.slice(20))"
    ),
}


@pytest.mark.parametrize("row", list(LEAK_CELLS))
def test_nothing_the_javascript_kernel_sends_holds_a_value(cloud: JsKernel, row: str) -> None:
    cloud.ok('globalThis.shown ??= zingyConn.apikey("stripe");')
    before = len(cloud.messages)
    cell = cloud.run(LEAK_CELLS[row])
    assert cell.status in ("ok", "error")
    assert scan_messages(cloud.messages[before:], VALUES) == []
    assert "[REDACTED]" in cell.everything()


def test_denos_environment_holds_no_capability_or_key(cloud: JsKernel) -> None:
    names = cloud.ok("JSON.stringify(Object.keys(Deno.env.toObject()))").result or ""
    for private in ("ZINGY_NB_AGENT_CAP", "ZINGY_NB_MASTER_KEY", "ZINGY_NB_MEMBER_KEY"):
        assert private not in names
    assert "ZINGY_NB_FLOW" in names  # the environment did arrive
    log = cloud.log.read_text(errors="replace")
    assert find(log, VALUES, "the kernel's process output") == []


def test_denos_own_output_is_redacted_on_its_way_out(tmp_path: Path) -> None:
    # Deno's kernel keeps Deno.stdout to itself here; whatever its process does write
    # passes the proxy, value split across reads included
    code = f"""
import os, sys, threading, time
from zingy_nb import redact
from zingy_nb.js.proxy import _pass_through
redact.register_value({SECRET1!r})
r, w = os.pipe()
t = threading.Thread(target=_pass_through, args=(os.fdopen(r, "rb"), 1))
t.start()
for piece in (b"before {SECRET1[:14]}", b"{SECRET1[14:28]}", b"{SECRET1[28:]} after\\n"):
    os.write(w, piece)  # each under 16 characters of the value: only context finds it
    time.sleep(0.2)
os.close(w)
t.join()
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("before ") and out.stdout.endswith(" after\n")
    assert "[REDACTED]" in out.stdout
    assert find(out.stdout, VALUES, "the proxy's pass-through") == []


def test_every_cells_result_arrives_before_its_idle_status(cloud: JsKernel) -> None:
    # Deno sometimes publishes a result just after the idle status, where nbclient,
    # papermill and nbval have stopped listening; the proxy holds the idle status
    results = [cloud.ok(f"{i} * 2").result for i in range(40)]
    shown = [_plain(r) if r is not None else None for r in results]
    assert shown == [str(i * 2) for i in range(40)]


def test_a_shut_down_kernel_leaves_no_process_behind(place: dict[str, Any]) -> None:
    kernel = JsKernel(place["specs"], "zingy-js-cloud-flow", place["env"], place["root"] / "s.log")
    proxy = psutil.Process(kernel.km.provisioner.pid)  # type: ignore[union-attr]
    family = [proxy, *proxy.children(recursive=True)]
    assert any("deno" in " ".join(p.cmdline()) for p in family)
    kernel.stop()
    _, alive = psutil.wait_procs(family, timeout=15)
    assert alive == []


def _failing_deno(place: dict[str, Any], name: str, failures: int) -> Path:
    """A kernelspec whose Deno exits at start ``failures`` times per kernel, as it does
    when a port picked for it was taken before it bound it (the proxy's folder, where
    its connection file is, counts the tries), then is the real one."""
    wrapper = place["root"] / f"{name}.sh"
    wrapper.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do conn="$a"; done\n'  # the last argument: --conn's file
        'tries="$(dirname "$conn")/tries"\n'
        'echo x >> "$tries"\n'
        f'if [ "$(wc -l < "$tries")" -le {failures} ]; then\n'
        '  echo "made-up: Address already in use (os error 98)" >&2; exit 1\n'
        "fi\n"
        f'exec {kernels.deno_executable()} "$@"\n'
    )
    wrapper.chmod(0o755)
    specs = place["root"] / f"{name}-specs"
    (specs / name).mkdir(parents=True)
    spec = kernels.js_kernel_json(kernels.CLOUD_FLOW, name, str(wrapper))
    (specs / name / "kernel.json").write_text(json.dumps(spec))
    return specs


def test_a_deno_that_exits_at_start_is_started_again(place: dict[str, Any]) -> None:
    specs = _failing_deno(place, "deno-fails-twice", failures=2)
    kernel = JsKernel(specs, "deno-fails-twice", place["env"], place["root"] / "twice.log")
    try:
        assert _plain(kernel.ok("typeof zingyConn.apikey").result) == '"function"'  # prelude ran
        assert _plain(kernel.ok("6 * 7").result) == "42"
    finally:
        kernel.stop()
    log = (place["root"] / "twice.log").read_text()
    assert log.count("before it answered a kernel_info_request") == 2, log


def test_a_deno_that_never_starts_ends_the_kernel_with_its_reason(place: dict[str, Any]) -> None:
    specs = _failing_deno(place, "deno-never-starts", failures=99)
    with pytest.raises(RuntimeError, match="died"):  # not a minute's wait for a reply
        JsKernel(specs, "deno-never-starts", place["env"], place["root"] / "never.log")
    log = (place["root"] / "never.log").read_text()
    assert log.count("made-up: Address already in use") == 3, log  # Deno's own words
    assert "Deno's kernel exited (1) before it answered" in log, log


def test_a_change_is_seen_on_the_very_next_read(place: dict[str, Any], cloud: JsKernel) -> None:
    # The prelude caches what it read; a change saved elsewhere (a script, holding the
    # key) reaches the agent, which pushes it before the save returns
    cloud.ok('globalThis.warm = () => zingyConn.apikey("cached").secret1;')
    profiles = Profiles(place["root"] / "store", url="")
    mp = pytest.MonkeyPatch()
    mp.setenv("ZINGY_NB_MASTER_KEY", KEY)
    try:
        for i in range(3):
            value = f"MADEUP-cached-value-number-{i}-0123456789"
            profiles.set("cached", value)
            printed = cloud.ok("for (let k = 0; k < 500; k++) warm(); console.log(warm().length,"
                               " warm().endsWith('-' + String(" + str(i) + ") + '-0123456789'))")  # fmt: skip
            assert printed.stdout == f"{len(value)} true\n", printed.describe()
    finally:
        mp.undo()


# -- the example notebook under nbval and papermill, with test profiles -----------------------
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart-js.ipynb"
PROFILES = NOTEBOOK.with_name("test-profiles.toml")


TEST_VALUE = load_profiles_file(PROFILES)["weather-api"]["secret1"]


def _tool_env(place: dict[str, Any]) -> dict[str, str]:
    """A child's environment that finds the kernelspecs installed for this module."""
    env = {k: v for k, v in place["env"].items() if k != "PYTEST_ADDOPTS"}
    env["JUPYTER_PATH"] = str(place["specs"].parents[0])
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_the_javascript_quick_start_passes_strict_nbval(
    place: dict[str, Any], tmp_path: Path
) -> None:
    shutil.copy(NOTEBOOK, tmp_path)
    shutil.copy(PROFILES, tmp_path)
    env = _tool_env(place)
    for name in ("ZINGY_NB_HOME", "ZINGY_NB_MASTER_KEY"):
        env.pop(name)  # the plugin's throwaway store, not this module's

    def nbval(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
             "--nbval", NOTEBOOK.name, "--zingy-profiles", PROFILES.name, "-v", *extra],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip

    ran = nbval()
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert ran.stdout.count("PASSED") == 5, ran.stdout[-3000:]
    # A changed output fails it: the comparison is real
    nb = json.loads(NOTEBOOK.read_text())
    cell = next(c for c in nb["cells"] if "Authorization" in "".join(c["source"]))
    cell["outputs"][0]["text"] = ["Bearer something-else\n"]
    (tmp_path / NOTEBOOK.name).write_text(json.dumps(nb))
    changed = nbval()
    assert changed.returncode != 0 and "FAILED" in changed.stdout


def test_papermill_runs_the_quick_start_in_cloud_flow_and_page_flow_refuses(
    place: dict[str, Any], tmp_path: Path
) -> None:
    store = make_store(tmp_path / "store", load_profiles_file(PROFILES))
    env = {**_tool_env(place), **store.env}
    ok = subprocess.run(
        ["papermill", str(NOTEBOOK), "out.ipynb"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr[-3000:]
    saved = (tmp_path / "out.ipynb").read_text()
    assert "Bearer [REDACTED]" in saved and "ProfileNotFoundError" in saved
    assert find(saved, {"weather-api": TEST_VALUE}, "papermill's output notebook") == []
    refused = subprocess.run(
        ["papermill", str(NOTEBOOK), "page.ipynb", "-k", "zingy-js-page-flow"], cwd=tmp_path,
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "CloudFlowOnlyError" in (tmp_path / "page.ipynb").read_text()


def test_an_endless_cell_is_interrupted_and_the_kernel_goes_on(cloud: JsKernel) -> None:
    # Interrupts come as messages (interrupt_mode), which the proxy relays to Deno
    loop = threading.Thread(target=lambda: cloud.run("let spins = 0; while (true) { spins++; }"))
    loop.start()
    time.sleep(2)
    cloud.km.interrupt_kernel()
    loop.join(30)
    assert not loop.is_alive(), "the endless cell was not interrupted"
    assert cloud.messages[-1][1]["content"]["status"] == "error"
    assert _plain(cloud.ok("1 + 2").result) == "3"
