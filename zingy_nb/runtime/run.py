"""``zingy-nb run``: a cloud-flow notebook run once, unattended, through papermill.

papermill does the work (its ``parameters`` cell convention, the output notebook, saving
after each cell); this module checks the notebook first, marks the kernel as started by
``run``, and turns a failed cell into a non-zero exit with one line on stderr naming the
cell and the error; the whole traceback is in the output notebook, where a person looks
at it. The error text is the kernel's own error message, redacted by the kernel before
it left it; papermill never prompts (the kernel gets no stdin). The kernel logs nothing
below CRITICAL to the terminal: its shutdown (an interrupt, then a shutdown request)
would otherwise end every run with "KeyboardInterrupt caught in kernel".
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..sources import hide
from .notebook_flow import NotebookKernel, create_profile_hint, mark_kernels

#: Kernel options for a run: the terminal gets no kernel log below CRITICAL.
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=CRITICAL",)


def parameter_value(text: str) -> Any:
    """papermill's ``-p`` typing: True/False/None, int, float, else the string itself."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _cell_number(notebook: Path, source: str) -> int | None:
    """The failed cell's 1-based position among the notebook's code cells."""
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return None
    code = [c for c in cells if c.get("cell_type") == "code"]
    for i, cell in enumerate(code, start=1):
        text = cell.get("source", "")
        if ("".join(text) if isinstance(text, list) else text) == source:
            return i
    return None


def describe_failure(notebook: Path, exc: Any, *, output: bool) -> str:
    """One stderr line: the failed cell's number, the kernel's error (for a missing
    profile, how to create it), where the rest is."""
    number = _cell_number(notebook, exc.source)
    where = f"cell {number}" if number is not None else "a cell papermill injected"
    error = " ".join(f"{exc.ename}: {exc.evalue}".split())
    if exc.ename == "ProfileNotFoundError":
        error += " " + create_profile_hint(str(exc.evalue), "run it again")
    rest = (
        "the output notebook shows its traceback"
        if output
        else "run with --output OUT.ipynb to keep its traceback"
    )
    return f"zingy-nb run: {where} failed: {error} ({rest})"


class _Stopped(KeyboardInterrupt):
    """SIGTERM (systemd, cron's kill) arriving while the notebook runs."""


def _stop(signum: int, frame: Any) -> None:
    raise _Stopped(signum)


def run(
    notebook: Path,
    kernel: NotebookKernel,
    *,
    parameters: Sequence[tuple[str, str]] = (),
    output: Path | None = None,
) -> int:
    """Run the (checked) notebook to the end: 0, or 1 if a cell or the kernel failed
    (128 + the signal's number when stopped by SIGTERM or Ctrl-C)."""
    mark_kernels("run", notebook)
    import papermill
    from papermill.exceptions import PapermillExecutionError

    signal.signal(signal.SIGTERM, _stop)  # unwinds like Ctrl-C: papermill ends the kernel
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output) if output is not None else None,
            parameters={name: parameter_value(value) for name, value in parameters},
            kernel_name=kernel.name,
            progress_bar=False,
            cwd=str(notebook.parent),
            coalesce_streams=True,  # the kernel's redactor may split a stream message
            extra_arguments=list(KERNEL_ARGUMENTS),
        )
    except KeyboardInterrupt as exc:
        print("zingy-nb run: stopped before the end; the kernel was shut down.", file=sys.stderr)
        return 128 + (exc.args[0] if isinstance(exc, _Stopped) else signal.SIGINT)
    except PapermillExecutionError as exc:
        print(describe_failure(notebook, exc, output=output is not None), file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"zingy-nb run: error: {exc.strerror or type(exc).__name__}: check the notebook "
            "and the --output path and their permissions (paths are not shown).",
            file=sys.stderr,
        )
        return 1
    except Exception as exc:  # the kernel died, timed out, or papermill refused
        text = " ".join(f"{type(exc).__name__}: {exc}".split())
        typed = [str(notebook), notebook.name, str(output or "")]
        print(f"zingy-nb run: the run stopped: {hide(text, typed)}", file=sys.stderr)
        return 1
    return 0
