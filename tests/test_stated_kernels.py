"""Kernels no zingy launcher started: a plain ``python3`` kernel with ``%load_ext zingy_nb``.

On Linux such a kernel registers itself with the store's agent the first time it needs
the key, stating its flow and notebook; the agent keeps them and never widens them. The
kernel then holds a capability, not the key, and what it starts acts for it. Real
kernels (``jupyter_client``), a real agent, key-file custody.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kernels import CLI, Kernel, kernel_env, run_cli, running_kernel
from zingy_nb.agent.client import connect
from zingy_nb.agent.location import StoreLocation
from zingy_nb.profiles import Profiles

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="agent: Linux")

SECRET = "sk_test_MADEUP_stated_kernel_7731"
OTHER = "sk_test_MADEUP_stated_other_1942"
REFUSED = "works only in cloud-flow kernels"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("stated-home")
    run_cli(home, "profiles", "set", "stripe", "--stdin", stdin=SECRET + "\n")
    return home


def _kernel(home: Path, flow: str | None) -> Iterator[Kernel]:
    with running_kernel(kernel_env(flow=flow, home=home, ZNB_S1=OTHER)) as kernel:
        kernel.ok("%load_ext zingy_nb")
        yield kernel


def _kernels(home: Path) -> int:
    with connect(StoreLocation(home)) as client:
        return int(client.status()["kernels"])


def test_a_plain_cloud_kernel_reads_through_the_agent_and_holds_no_key(home: Path) -> None:
    for kernel in _kernel(home, "cloud-flow"):
        # Before it first asks, the kernel has no capability and the key is in its
        # environment, as it was started (the threat table's weaker row).
        before = kernel.ok("import os; print(bool(os.environ.get('ZINGY_NB_AGENT_CAP')))")
        assert before.stdout.strip() == "False"
        digest = kernel.ok(
            "import hashlib\n"
            "print(hashlib.sha256(zingyConn.apikey('stripe').secret1.encode()).hexdigest())"
        )
        assert digest.stdout.strip() == hashlib.sha256(SECRET.encode()).hexdigest()
        assert SECRET not in digest.everything()
        # It registered: a capability in its environment, no key variable, no key object.
        env = kernel.ok(
            "print(bool(os.environ.get('ZINGY_NB_AGENT_CAP')), 'ZINGY_NB_MASTER_KEY' in os.environ)"
        )
        assert env.stdout.split() == ["True", "False"]
        export = kernel.run("from zingy_nb import get_profiles\nget_profiles().export_key()")
        assert export.ename == "KeyUnavailableError", export.describe()
        assert "holds no key" in export.evalue
        assert type_name(kernel) == "RemoteProfiles"
        assert _kernels(home) >= 1
        # A process it starts acts for it: widening is refused there.
        off = kernel.run(f"!{CLI} store config notebook-access off")
        assert "never accepted from a Jupyter kernel" in off.stdout, off.describe()


def type_name(kernel: Kernel) -> str:
    cell = kernel.ok("from zingy_nb import get_profiles\nprint(type(get_profiles()).__name__)")
    return cell.stdout.strip()


def test_a_page_flow_kernel_that_rewrites_its_own_flow_still_gets_nothing(home: Path) -> None:
    for kernel in _kernel(home, "page-flow"):
        first = kernel.run("zingyConn.apikey('stripe')")
        assert first.ename == "CloudFlowOnlyError" and "page-flow kernel" in first.evalue
        # Make the agent hear from it (a save registers it as page-flow) ...
        kernel.ok(f"%zingy_apikey set {uuid.uuid4().hex[:8]} --from-env ZNB_S1")
        # ... then rewrite every in-kernel record of its flow: the agent keeps its own.
        tamper = kernel.run(
            "import zingy_nb.flow as f\nf._state.mode = 'cloud-flow'\nzingyConn.apikey('stripe')"
        )
        assert tamper.ename in ("FlowModeError", "CloudFlowOnlyError"), tamper.describe()
        assert SECRET not in tamper.everything()
        raw = kernel.run(
            "from zingy_nb import get_profiles\n"
            "p = get_profiles()\n"
            "p._agent()[0].retrieve(p._agent()[1], 'stripe')"
        )
        assert raw.ename == "CloudFlowOnlyError" and "page-flow kernel" in raw.evalue
        assert SECRET not in raw.everything()


def test_an_unflagged_kernel_is_flagged_once_and_narrows(home: Path) -> None:
    for kernel in _kernel(home, None):
        name = f"made-{uuid.uuid4().hex[:8]}"
        kernel.ok(f"%zingy_apikey set {name} --from-env ZNB_S1")  # registers it, unflagged
        refused = kernel.run(f"zingyConn.apikey({name!r})")
        assert refused.ename == "CloudFlowOnlyError" and "no flow mode" in refused.evalue
        kernel.ok("%zingy_apikey flow cloud-flow")  # today's rule: flagged once
        assert kernel.ok(f"print(len(zingyConn.apikey({name!r}).secret1) > 0)").stdout == "True\n"
        kernel.ok("%zingy_apikey flow page-flow")  # narrowing: even a warm read is refused
        warm = kernel.run(f"zingyConn.apikey({name!r})")
        assert warm.ename == "CloudFlowOnlyError" and "page-flow kernel" in warm.evalue
        widen = kernel.run(
            f"import zingy_nb.flow as f\nf._state.mode = 'cloud-flow'\nzingyConn.apikey({name!r})"
        )
        assert widen.ename == "FlowModeError" and "never widens" in widen.evalue, widen.describe()


def test_with_an_environment_key_only_its_start_environment_keeps_it(tmp_path: Path) -> None:
    """The threat table's weaker row, shown: the key leaves ``os.environ`` and what the
    kernel starts, but the environment the kernel was started with still holds it."""
    key = base64.urlsafe_b64encode(b"made-up-stated-kernel-key-098765").decode()
    home = tmp_path / "env-store"
    mp = pytest.MonkeyPatch()
    mp.setenv("ZINGY_NB_MASTER_KEY", key)
    Profiles(home, url="").set("stripe", SECRET)
    mp.undo()
    env = kernel_env(flow="cloud-flow", home=home, ZINGY_NB_MASTER_KEY=key)
    with running_kernel(env) as kernel:
        kernel.ok("%load_ext zingy_nb")
        assert kernel.ok("print(len(zingyConn.apikey('stripe').secret1))").stdout == (
            f"{len(SECRET)}\n"
        )
        child = kernel.ok("!env | grep -c '^ZINGY_NB_MASTER_KEY=' || true")
        assert child.stdout.strip() == "0"
        start = kernel.ok(
            "print(b'ZINGY_NB_MASTER_KEY=' in open('/proc/self/environ', 'rb').read())"
        )
        assert start.stdout.strip() == "True"
    assert key not in child.everything() + start.everything()


def test_a_plain_kernel_keeps_the_notebook_it_stated(home: Path, tmp_path: Path) -> None:
    notebook = tmp_path / "stranger.ipynb"
    notebook.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    env = kernel_env(flow="cloud-flow", home=home, JPY_SESSION_NAME=str(notebook))
    with running_kernel(env) as kernel:
        kernel.ok("%load_ext zingy_nb")
        first = kernel.run("zingyConn.apikey('stripe')")  # registers, stating the notebook
        assert first.ename == "NotebookAccessError", first.describe()
        # Forgetting its notebook in the kernel changes nothing the agent recorded
        tamper = kernel.run(
            "import zingy_nb.access as a\na._state.notebook = None\nzingyConn.apikey('stripe')"
        )
        assert tamper.ename == "NotebookAccessError", tamper.describe()
        assert SECRET not in first.everything() + tamper.everything()
