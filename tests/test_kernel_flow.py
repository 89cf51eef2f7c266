"""The flow gate in real kernels: cloud-flow reads what others stored, nothing else reads.

Each kernel is started through ``jupyter_client`` with ``ZINGY_NB_FLOW`` (or without it)
in its environment and loads the extension in its first cell, as a kernelspec would at
start. Profiles are written by other processes: the ``zingy-nb`` CLI with ``--stdin``
and ``%zingy_apikey`` with ``--from-env``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kernels import (
    DEFINE_DIGESTS,
    Kernel,
    digests,
    kernel_env,
    read_digests,
    run_cli,
    running_kernel,
)
from zingy_nb.agent.location import LOG, StoreLocation

REFUSED = "works only in cloud-flow kernels"

# Made-up values.
MAGIC_S1 = "sk_test_MADEUP_kernel_magic"
MAGIC_S2 = "whsec_MADEUP \u00e5\u00df\u2603"
NOTICE_S1 = "sk_test_MADEUP_notice"


def cli(home: Path, *args: str, stdin: str = "") -> str:
    """Run ``zingy-nb`` in its own process against ``home``; returns its stderr."""
    return run_cli(home, *args, stdin=stdin).stderr


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kernel-flow-home")


def _kernel(flow: str | None, home: Path) -> Iterator[Kernel]:
    env = kernel_env(flow=flow, home=home, ZNB_S1=MAGIC_S1, ZNB_S2=MAGIC_S2)
    with running_kernel(env) as kernel:
        kernel.ok("%load_ext zingy_nb")
        kernel.ok(DEFINE_DIGESTS)
        yield kernel


@pytest.fixture(scope="module")
def cloud(home: Path) -> Iterator[Kernel]:
    yield from _kernel("cloud-flow", home)


@pytest.fixture(scope="module")
def page(home: Path) -> Iterator[Kernel]:
    yield from _kernel("page-flow", home)


@pytest.fixture(scope="module")
def unflagged(home: Path) -> Iterator[Kernel]:
    yield from _kernel(None, home)


@pytest.fixture(scope="module")
def stored(home: Path) -> tuple[str, str]:
    """A profile saved by the CLI, for the refusal tests: its name and secret1."""
    name, secret1 = unique("stored"), "sk_test_MADEUP_stored"
    cli(home, "profiles", "set", name, "--stdin", stdin=f"{secret1}\n")
    return name, secret1


# -- cloud-flow ----------------------------------------------------------------------------
def test_cloud_kernel_reads_back_what_the_cli_and_the_magic_stored(
    cloud: Kernel, home: Path
) -> None:
    by_cli, by_magic = unique("cli"), unique("magic")
    values = ["sk_live_MADEUP_cli", "", "trailing space \u00e9 ", "\t"]
    cli(home, "profiles", "set", by_cli, "--stdin", stdin="\n".join(values) + "\n")
    cloud.ok(f"%zingy_apikey set {by_magic} --from-env ZNB_S1 - ZNB_S2")

    assert read_digests(cloud, by_cli) == digests(values[0], None, values[2], values[3])
    assert read_digests(cloud, by_magic) == digests(MAGIC_S1, None, MAGIC_S2)


def test_cloud_kernel_sees_changes_made_by_another_process(cloud: Kernel, home: Path) -> None:
    name = unique("live")
    cli(home, "profiles", "set", name, "--stdin", stdin="sk_MADEUP_v1\npk_MADEUP_v1\n")
    assert read_digests(cloud, name) == digests("sk_MADEUP_v1", "pk_MADEUP_v1")
    assert read_digests(cloud, name) == digests("sk_MADEUP_v1", "pk_MADEUP_v1")  # warm

    cli(home, "profiles", "update", name, "--stdin", stdin="sk_MADEUP_v2\n")
    assert read_digests(cloud, name) == digests("sk_MADEUP_v2", "pk_MADEUP_v1")

    cli(home, "profiles", "update", name, "--clear", "secret2")
    assert read_digests(cloud, name) == digests("sk_MADEUP_v2")

    cli(home, "profiles", "delete", name)
    gone = cloud.run(f"zingyConn.apikey({name!r})")
    assert gone.ename == "ProfileNotFoundError", gone.describe()


# -- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "guidance"),
    [
        ("page", "this is a page-flow kernel"),
        ("unflagged", "`%zingy_apikey flow cloud-flow`"),
    ],
)
@pytest.mark.parametrize(
    ("code", "ename"),
    [
        ("zingyConn.apikey({name!r})", "CloudFlowOnlyError"),
        ("zingyConn.execute({name!r}, 'Retrieve')", "CloudFlowOnlyError"),
        ("%zingy_apikey retrieve {name}", "UsageError"),
    ],
    ids=["apikey", "execute", "magic"],
)
def test_other_kernels_are_refused_every_retrieval(
    request: pytest.FixtureRequest,
    stored: tuple[str, str],
    mode: str,
    guidance: str,
    code: str,
    ename: str,
) -> None:
    kernel: Kernel = request.getfixturevalue(mode)
    name, secret1 = stored

    cell = kernel.run(code.format(name=name))

    assert cell.status == "error" and cell.ename == ename, cell.describe()
    assert REFUSED in cell.evalue and guidance in cell.evalue
    assert "Zingy Cloud Flow" in cell.evalue
    assert secret1 not in cell.everything()


def test_page_kernel_cannot_make_itself_cloud_flow(page: Kernel, stored: tuple[str, str]) -> None:
    name, _ = stored
    widen = page.run("%zingy_apikey flow cloud-flow")
    assert widen.ename == "UsageError" and "never widens" in widen.evalue

    page.ok("import os; os.environ['ZINGY_NB_FLOW'] = 'cloud-flow'")
    page.ok("%reload_ext zingy_nb")
    page.ok("import importlib, zingy_nb.flow; importlib.reload(zingy_nb.flow)")

    assert page.ok("%zingy_apikey flow").stdout.startswith("Flow mode: page-flow")
    for code in (f"zingyConn.apikey({name!r})", f"%zingy_apikey retrieve {name}"):
        cell = page.run(code)
        assert cell.status == "error" and REFUSED in cell.evalue, cell.describe()


def test_unflagged_kernel_ignores_a_later_environment_change(
    unflagged: Kernel, stored: tuple[str, str]
) -> None:
    name, _ = stored
    unflagged.ok("import os; os.environ['ZINGY_NB_FLOW'] = 'cloud-flow'")
    unflagged.ok("%reload_ext zingy_nb")
    cell = unflagged.run(f"zingyConn.apikey({name!r})")
    assert cell.ename == "CloudFlowOnlyError", cell.describe()


# -- quiet loading -----------------------------------------------------------------------------
def test_loading_prints_nothing_and_the_key_notice_stays_out_of_cells(tmp_path: Path) -> None:
    env = kernel_env(flow="cloud-flow", home=tmp_path / "fresh-home", ZNB_S1=NOTICE_S1)
    with running_kernel(env, log=tmp_path / "kernel.log") as kernel:
        load = kernel.ok("%load_ext zingy_nb")
        assert load.outputs == []

        first_write = kernel.ok("%zingy_apikey set first --from-env ZNB_S1")
        assert first_write.outputs and first_write.stdout == (
            "Saved profile 'first' (secret1 set).\n"
        )
        assert first_write.stream("stderr") == ""
        assert "zingy-nb:" not in first_write.everything()

        reload = kernel.ok("%reload_ext zingy_nb")
        assert reload.outputs == []

        # The notice did fire, where the key is read: the log of the store's agent, which
        # this kernel started when it first needed the key (it registered itself).
        agent_log = (StoreLocation(tmp_path / "fresh-home").folder() / LOG).read_text()
        assert "zingy-nb: no OS keyring is available" in agent_log
        assert NOTICE_S1 not in kernel.log_text() + agent_log
