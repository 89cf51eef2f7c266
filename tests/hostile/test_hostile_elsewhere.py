"""The hostile table's rows in kernels started unconfined, where they must get what the
README's threat table says such kernels can still reach, and the rows that reach for a
key with the key kept where a person keeps it (a real gnome-keyring, a key file); see
``table``."""

from __future__ import annotations

import pytest

from ..leaks.values import PROFILES, stored
from .harness import Run, run_driver, unrunnable
from .rows import ROWS, Row, unsmuggle
from .table import (
    CONFINEMENT_ROWS,
    HOSTILE_KERNELS,
    MARKS,
    MASTER_KEY,
    PROFILE,
    _cell,
    _failed_run,
    _stdout,
    judge,
    leaks,
)

pytestmark = MARKS


@pytest.fixture(scope="module")
def unconfined() -> Run:
    """The rows only confinement stops, run in kernels started unconfined."""
    why = unrunnable()
    if why:
        pytest.skip(f"the hostile table runs the repository as another user, and {why}")
    ids = [row.id for row in CONFINEMENT_ROWS]
    run = run_driver(PROFILES, PROFILE, MASTER_KEY, rows=ids, confine=False)
    assert run.result.get("kernels"), _failed_run(run)
    return run


@pytest.mark.parametrize("row", CONFINEMENT_ROWS, ids=[r.id for r in CONFINEMENT_ROWS])
def test_unconfined_the_row_gets_what_the_threat_table_says(unconfined: Run, row: Row) -> None:
    """Without confinement these rows reach what the README's threat table says an
    unconfined kernel can still reach: another kernel (so the values it may read), the
    environment of the process that launched it (there, the master key), and a kernel
    of its own, through a server it started and double-forked away, for any notebook; and
    the server's token, with which it drives the server's API."""
    if row.id == "server-token":
        for kernel in HOSTILE_KERNELS:
            emitted = {label for label, _ in unsmuggle(_stdout(_cell(unconfined, kernel, row.id)))}
            assert "drove the server" in emitted, sorted(emitted)
        return
    found = [
        leak for kernel in HOSTILE_KERNELS for leak in leaks(_cell(unconfined, kernel, row.id))
    ]
    labels = {leak.label for leak in found}
    if row.id in ("other-kernels", "detached-server"):
        assert set(stored()) <= labels, sorted(labels)
    else:
        assert "master-key" in labels, sorted(labels)


#: The rows that reach for a key where it is kept, run once more with the key in each
#: custody a person keeps it in: a real gnome-keyring on a D-Bus session of the user's
#: (the desktop's), and a 0600 key file beside the store (where no keyring exists).
KEY_ROWS = [
    row for row in ROWS
    if row.id in ("environ", "custody", "cipher-on-blob", "vault", "get-profiles",
                  "fresh-profiles", "cli-key-export", "agent-socket", "proc-others")
]  # fmt: skip
KEPT = ("keyring", "file")


def _kept_run(custody: str, confine: bool, rows: list[Row]) -> Run:
    why = unrunnable()
    if why:
        pytest.skip(f"the hostile table runs the repository as another user, and {why}")
    run = run_driver(
        PROFILES, PROFILE, MASTER_KEY, custody=custody, confine=confine,
        rows=[row.id for row in rows],
    )  # fmt: skip
    assert run.result.get("kernels"), _failed_run(run)
    files = run.result["custody"]
    assert ("master.key" in files) == (custody == "file"), files
    return run


@pytest.fixture(scope="module", params=KEPT)
def kept_table(request: pytest.FixtureRequest) -> Run:
    """The key rows in confined kernels, the master key where a person keeps it."""
    return _kept_run(request.param, True, KEY_ROWS)


def test_with_the_key_kept_the_control_reads_every_value(kept_table: Run) -> None:
    """The agent read the key where it is kept: the allowed notebook's kernel reads."""
    seen = {leak.label for leak in leaks(_cell(kept_table, "control", "control"))}
    assert set(stored()) <= seen, sorted(set(stored()) - seen)


@pytest.mark.parametrize("kernel", HOSTILE_KERNELS)
@pytest.mark.parametrize("row", KEY_ROWS, ids=[r.id for r in KEY_ROWS])
def test_with_the_key_kept_no_row_yields_a_value_or_a_key(
    kept_table: Run, kernel: str, row: Row
) -> None:
    judge(kept_table, kernel, row)


@pytest.mark.parametrize("custody", KEPT)
def test_with_the_key_kept_an_unconfined_kernel_reads_it(custody: str) -> None:
    """What the threat table says of the keyring and the key file: any process of yours
    reads the key there, so an unconfined kernel does."""
    run = _kept_run(custody, False, [row for row in ROWS if row.id == "custody"])
    for kernel in HOSTILE_KERNELS:
        labels = {leak.label for leak in leaks(_cell(run, kernel, "custody"))}
        assert "master-key" in labels, sorted(labels)
