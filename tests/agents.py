"""One runtime folder per test for the agents the CLI starts on demand, all stopped at
the test's end: on Linux ``zingy-nb profiles allow``, ``store config``, ``key
export|import`` and ``profiles grant|revoke`` go through the store's agent; and whether
an agent (any process) has exited."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.isolation import stop_agents
from zingy_nb.agent.procs import identify


@pytest.fixture
def own_agents(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A short runtime folder (the agent's socket lives below it) for this test only."""
    runtime = Path(tempfile.mkdtemp(prefix="g", dir=os.environ["JUPYTER_RUNTIME_DIR"]))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    yield runtime
    stop_agents(runtime)


def gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie that init has not reaped yet counts)."""
    return identify(pid) is None
