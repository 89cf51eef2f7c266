"""Issues #22 and #23's hostile-notebook table: no row yields a value or a key.

One driver run (``harness``, as an unprivileged user) runs every row of ``rows.ROWS``
in a page-flow kernel and in a cloud-flow kernel of a notebook that was never allowed,
both launched from the zingy kernelspecs, so confined (docs/confinement.md): once with
the master key in their launch environment (the runners' custody), once with the key
locked with a passphrase and unlocked in the agent, and (the rows that reach for a key)
with the key in a real gnome-keyring on the user's D-Bus session and in a key file. Each row is judged on everything
its cell sent, as sent and with what it smuggled out decoded (``rows.unsmuggle``), by
``tests/leaks/scanner.py``: no stored value and no form of the master key may show.
The control proves the harness and scanner can see a leak: in a cloud-flow kernel of
an allowed notebook ``zingyConn.apikey`` gives every value, and the same code that peeks
at the agent reads a dumpable child's environment and memory. The rows only
confinement stops run once more in kernels started unconfined, where they must get
what the README's threat table says such kernels can still reach (the key in the
keyring or key file among it).

The tests are in three files, so that three test workers can run their drivers at
once: ``test_hostile_environment`` and ``test_hostile_locked`` (the table, a custody
each: ``TableTests``), ``test_hostile_elsewhere`` (unconfined kernels, and the key rows
with the key kept in a keyring or a key file). Select them with ``-m hostile`` or by
path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zingy_nb.vault.crypto import decode_key, encode_key, new_key

from ..leaks.scanner import Leak, find, scan_messages
from ..leaks.values import PROFILES, STRIPE, stored
from .harness import Run, run_driver, unrunnable
from .js_rows import JS_KERNELS, JS_ROWS, PYTHON_ROW_IDS
from .rows import MARKER, ROWS, Row, unsmuggle, without_smuggled

#: Every hostile test file's marks.
MARKS = [pytest.mark.hostile, pytest.mark.timeout(1500)]

HOSTILE_KERNELS = ("page-flow", "cloud-flow")
MASTER_KEY = encode_key(new_key())
PROFILE = "stripe"


def secrets() -> dict[str, str]:
    """Every stored value and the master key, in the forms a row could get it in."""
    raw = decode_key(MASTER_KEY, where="test")
    return {**stored(), "master-key": MASTER_KEY, "master-key.hex": raw.hex()}


def _failed_run(run: Run) -> str:
    tail = run.stderr[-3000:]
    if find(tail, secrets(), "driver stderr"):
        tail = "(withheld: it holds a value)"
    return f"the driver (uid {run.who.uid}) exited {run.returncode}: {tail}"


def _stdout(cell: dict[str, Any]) -> str:
    return "".join(
        m["content"]["text"]
        for _, m in cell["messages"]
        if m.get("msg_type") == "stream" and m["content"].get("name") == "stdout"
    )


def _cell(run: Run, kernel: str, row_id: str) -> dict[str, Any]:
    cells = run.result["kernels"].get(kernel, {})
    assert row_id in cells, f"{kernel}/{row_id} never ran: {run.result.get('errors')}"
    return dict(cells[row_id])


def _as_sent(messages: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """The cell's messages, smuggled payloads cut out of streams (scanned decoded: a
    hex dump of megabytes would only slow the scan)."""
    out = []
    for channel, msg in messages:
        if msg.get("msg_type") == "stream":
            content = {**msg["content"], "text": without_smuggled(msg["content"]["text"])}
            msg = {**msg, "content": content}
        out.append((channel, msg))
    return out


def leaks(cell: dict[str, Any]) -> list[Leak]:
    """Every value or key in what the cell sent, or in what it smuggled out."""
    values = secrets()
    found = scan_messages(_as_sent(cell["messages"]), values)
    for label, forms in unsmuggle(_stdout(cell)):
        found += find("\n".join(forms), values, f"what {label!r} got")
    return sorted(set(found), key=str)


def judge(run: Run, kernel: str, row: Row) -> None:
    """The row ran to its end and got no value and no key; what it must be refused was."""
    cell = _cell(run, kernel, row.id)
    assert f"{MARKER} {row.id}" in _stdout(cell), (
        f"the row did not run to its end: {cell['reply']['content'].get('ename')}"
    )
    found = leaks(cell)
    assert not found, "\n".join(map(str, found))
    emitted = {label for label, _ in unsmuggle(_stdout(cell))}
    allowed = sorted(label for label in row.denied if label in emitted)
    assert not allowed, f"not refused: {allowed}"


CONFINEMENT_ROWS = [row for row in ROWS if row.confinement]


class TableTests:
    """The table in confined kernels, in the custody ``CUSTODY`` names: the key in the
    environment of the driver, which launches every kernel (the runners' custody), or
    protected with a passphrase (locked custody, the agent unlocked)."""

    CUSTODY: str

    @pytest.fixture(scope="class")
    @classmethod
    def table(cls) -> Run:
        why = unrunnable()
        if why:
            pytest.skip(f"the hostile table runs the repository as another user, and {why}")
        custody = cls.CUSTODY
        run = run_driver(PROFILES, PROFILE, MASTER_KEY, custody=custody)
        assert run.result.get("kernels"), _failed_run(run)
        if custody == "locked":
            assert "master.key.locked" in run.result["custody"], run.result["custody"]
            assert "master.key" not in run.result["custody"], run.result["custody"]
        return run

    def test_runs_as_an_unprivileged_user(self, table: Run) -> None:
        assert table.result["uid"] != 0
        assert table.result["uid"] == table.who.uid
        assert not table.result["errors"], table.result["errors"]
        javascript = ("js-control", *JS_KERNELS) if table.result["javascript"] else ()
        for kernel in ("control", *HOSTILE_KERNELS, *javascript):
            prelude = _cell(table, kernel, "prelude")
            assert prelude["reply"]["content"]["status"] == "ok", prelude["reply"]["content"]
        assert table.result["agent_alive_at_end"], "the agent the driver started did not last"
        assert table.result["agents_stopped"] == [table.result["agent"]], "an agent was restarted"

    def test_the_control_reads_every_value_and_the_scan_sees_it(self, table: Run) -> None:
        cell = _cell(table, "control", "control")
        assert cell["reply"]["content"]["status"] == "ok", cell["reply"]["content"].get("evalue")
        seen = {leak.label for leak in leaks(cell)}
        assert set(stored()) <= seen, sorted(set(stored()) - seen)
        peeked = dict(unsmuggle(_stdout(cell)))
        assert "proc environ" in peeked and "proc mem" in peeked, sorted(peeked)
        for label in ("proc environ", "proc mem"):
            assert any(STRIPE in form for form in peeked[label]), f"{label} of a child"

    @pytest.mark.parametrize("kernel", HOSTILE_KERNELS)
    @pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
    def test_no_row_yields_a_value_or_a_key(self, table: Run, kernel: str, row: Row) -> None:
        custody = table.result["custody_name"]
        if not row.runs_in(custody):
            pytest.skip(f"{row.id} runs in {', '.join(row.custodies or ())} custody only: no "
                        "custody changes its outcome, and it is slow")  # fmt: skip
        judge(table, kernel, row)

    def test_the_hostile_kernels_ran_confined(self, table: Run) -> None:
        for kernel in HOSTILE_KERNELS:
            seen = dict(unsmuggle(_stdout(_cell(table, kernel, "proc-others"))))
            assert len(seen["processes seen"]) < 20, seen["processes seen"]  # its namespace's
            listing = dict(unsmuggle(_stdout(_cell(table, kernel, "other-kernels"))))
            files = [f for d in ("runtime folder", "temp folder") for f in listing[d]]
            assert len([f for f in files if f.endswith(".json")]) == 1, files  # its own

    # The JavaScript flow kernels (docs/javascript.md): Deno under the kernel's proxy.

    @staticmethod
    def _javascript(table: Run) -> None:
        if not table.result["javascript"]:
            pytest.skip("the JavaScript rows need the `javascript` extra (deno)")

    def test_the_javascript_control_reads_every_value_and_the_scan_sees_it(
        self, table: Run
    ) -> None:
        self._javascript(table)
        cell = _cell(table, "js-control", "control")
        assert cell["reply"]["content"]["status"] == "ok", cell["reply"]["content"].get("evalue")
        seen = {leak.label for leak in leaks(cell)}
        assert set(stored()) <= seen, sorted(set(stored()) - seen)
        peeked = dict(unsmuggle(_stdout(cell)))
        assert peeked.get("ptrace attach") == ["attached"], sorted(peeked)  # FFI reaches libc
        for label in ("proc environ", "proc mem"):
            assert any(STRIPE in form for form in peeked[label]), f"{label} of Deno's child"

    @pytest.mark.parametrize("kernel", JS_KERNELS)
    @pytest.mark.parametrize("row", JS_ROWS, ids=[r.id for r in JS_ROWS])
    def test_no_javascript_row_yields_a_value_or_a_key(
        self, table: Run, kernel: str, row: Row
    ) -> None:
        self._javascript(table)
        judge(table, kernel, row)

    def test_the_javascript_rows_reached_what_they_aimed_at(self, table: Run) -> None:
        """The proxy above Deno, the bridge's FIFOs, and every Python row in Deno's
        child: a row that missed its target would pass by not trying."""
        self._javascript(table)
        for kernel in JS_KERNELS:
            proxy = dict(unsmuggle(_stdout(_cell(table, kernel, "js-proxy"))))
            assert any("zingy_nb.js.proxy" in f for f in proxy["proxy cmdline"]), proxy
            bridge = dict(unsmuggle(_stdout(_cell(table, kernel, "js-bridge"))))
            assert not any("undefined" in f for f in bridge["bridge FIFOs"]), bridge
            python = [label for label, _ in unsmuggle(_stdout(_cell(table, kernel, "js-python")))]
            ran = {label.split(": ", 1)[0] for label in python if ": " in label}
            assert ran == set(PYTHON_ROW_IDS), sorted(set(PYTHON_ROW_IDS) ^ ran)
            assert not [label for label in python if label.endswith(": crashed")], python

    def test_the_javascript_kernels_ran_confined(self, table: Run) -> None:
        self._javascript(table)
        for kernel in JS_KERNELS:
            seen = dict(unsmuggle(_stdout(_cell(table, kernel, "js-processes"))))
            assert len(seen["processes seen"]) < 20, seen["processes seen"]  # its namespace's
            listing = dict(unsmuggle(_stdout(_cell(table, kernel, "js-files"))))
            files = [f for d in ("runtime folder", "temp folder") for f in listing[d]]
            connection = {Path(f).name for f in files if f.endswith(".json")}
            assert len(connection) == 2 and "deno-kernel.json" in connection, connection
