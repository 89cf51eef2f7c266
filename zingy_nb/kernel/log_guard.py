"""``%logstart`` writes redacted: what IPython's logger writes passes the redactor.

``%logstart -o`` logs each result's repr (and, when started late, the session's earlier
inputs and outputs) to a file of the user's: a retrieved value printed by the cell
would be kept there in clear. Every write goes through ``Logger.log_write``, which is
wrapped on the shell's logger, so inputs and outputs are redacted (a whole write at a
time) with the process redactor before they reach the file.
"""

from __future__ import annotations

from typing import Any, Final

from .. import redact

_MARK: Final = "_zingy_nb_redacting"


def install(ipython: Any) -> bool:
    """Wrap ``ipython.logger.log_write`` once (False if there is none or it is wrapped)."""
    logger: Any = getattr(ipython, "logger", None)
    original = getattr(logger, "log_write", None)
    if original is None or getattr(original, _MARK, False):
        return False

    def log_write(data: str, kind: str = "input") -> None:
        if isinstance(data, str):
            data = redact.redactor.text(data)
        original(data, kind)

    setattr(log_write, _MARK, True)
    logger.log_write = log_write
    return True
