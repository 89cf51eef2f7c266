"""A zingy-nb error in a cell shows the user's frames and the message, not zingy-nb's.

Real kernels (``tests.kernels``): each error is raised by ``zingyConn.apikey`` from a
function the cell defines, so "the user's own frames" are two (the cell and the
function). The error message's traceback, as the front end gets it (iopub ``error``
and the execute reply), must name no file inside the ``zingy_nb`` package, and its last
line must be the error with its hint. ``ZINGY_NB_TRACEBACK=full`` brings every frame
back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kernels import Cell, Kernel, kernel_env, run_cli, running_kernel

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
USER_CODE = """
def fetch(name):
    return zingyConn.apikey(name)
"""
HIDDEN_NOTE = "(zingy-nb's own frames are hidden; %env ZINGY_NB_TRACEBACK=full shows them)"


def trace_lines(cell: Cell) -> list[str]:
    """The traceback of the cell's ``error`` output, as plain text lines."""
    (error,) = [m["content"] for m in cell.outputs if m["msg_type"] == "error"]
    assert error["traceback"] == cell.reply["traceback"]  # the reply says the same
    text = ANSI.sub("", "\n".join(error["traceback"]))
    return [line for line in text.splitlines() if line.strip()]


def check_short(cell: Cell, ename: str, hint: str) -> None:
    assert cell.ename == ename, cell.describe()
    lines = trace_lines(cell)
    joined = "\n".join(lines)
    assert "/zingy_nb/" not in joined, joined  # no frame of zingy-nb's own files
    assert sum(line.startswith("Cell In[") for line in lines) == 2, joined  # the user's
    assert "----> 2     return zingyConn.apikey(name)" in joined, joined  # the function
    assert lines[-2] == HIDDEN_NOTE
    assert lines[-1] == f"{ename}: {cell.evalue}"
    assert hint in lines[-1]
    assert len(lines) <= 14, joined  # was ~33 lines through conn, profiles, access, rules


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("tracebacks-home")
    run_cli(home, "profiles", "set", "known", "--stdin", stdin="sk_test_MADEUP_tracebacks\n")
    return home


def _kernel(flow: str | None, home: Path, **env: str | None) -> Iterator[Kernel]:
    with running_kernel(kernel_env(flow=flow, home=home, **env)) as kernel:
        kernel.ok("%load_ext zingy_nb")
        kernel.ok(USER_CODE)
        yield kernel


@pytest.fixture(scope="module")
def cloud(home: Path) -> Iterator[Kernel]:
    yield from _kernel("cloud-flow", home, ZINGY_NB_TRACEBACK=None)


@pytest.mark.parametrize(
    ("name", "ename", "hint"),
    [
        ("no-such-profile", "ProfileNotFoundError", "zingy-nb profiles list"),
        ("", "InvalidProfileError", "use"),
    ],
    ids=["unknown name", "empty name"],
)
def test_an_error_in_a_cloud_flow_kernel_shows_only_the_users_frames(
    cloud: Kernel, name: str, ename: str, hint: str
) -> None:
    cell = cloud.run(f"fetch({name!r})")
    check_short(cell, ename, hint)


@pytest.mark.parametrize("flow", ["page-flow", None], ids=["page flow", "plain kernel"])
def test_a_refusal_shows_only_the_users_frames(home: Path, flow: str | None) -> None:
    for kernel in _kernel(flow, home, ZINGY_NB_TRACEBACK=None):
        cell = kernel.run("fetch('known')")
        check_short(cell, "CloudFlowOnlyError", "Python 3 (Zingy Cloud Flow)")


def test_the_whole_traceback_is_one_setting_away(cloud: Kernel) -> None:
    # Given the setting the hidden-frames note names
    cloud.ok("%env ZINGY_NB_TRACEBACK=full")
    try:
        # When a zingy-nb error is raised again
        cell = cloud.run("fetch('no-such-profile')")
    finally:
        cloud.ok("%env ZINGY_NB_TRACEBACK=")
    # Then every frame is shown, zingy-nb's own included, and the note is gone
    lines = trace_lines(cell)
    joined = "\n".join(lines)
    # (the kernel asks the store's agent: its client raises the agent's error here)
    assert "zingy_nb/kernel/conn.py" in joined and "zingy_nb/agent/remote.py" in joined
    assert HIDDEN_NOTE not in lines
    assert lines[-1] == f"ProfileNotFoundError: {cell.evalue}"


def test_other_errors_keep_their_whole_traceback(cloud: Kernel) -> None:
    # A KeyInfo slot typo is a plain KeyError: IPython's usual traceback, untouched
    cell = cloud.run("zingyConn.apikey('known')['secret9']")
    assert cell.ename == "KeyError"
    assert "zingy_nb/kernel/conn.py" in "\n".join(trace_lines(cell))
