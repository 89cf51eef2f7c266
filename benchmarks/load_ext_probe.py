"""Child process: what ``%load_ext zingy_nb`` costs in a fresh IPython shell.

A fresh process is the only honest place to time it: in the benchmark's own process
zingy_nb and its imports are already loaded. Times ``import zingy_nb`` plus
``load_ipython_extension`` (through IPython's extension manager, as ``%load_ext``
does) and reports which heavy modules are in ``sys.modules`` afterwards, and which of
them the extension itself brought in. Prints one JSON document.
"""

from __future__ import annotations

import json
import sys
from time import perf_counter_ns

WATCHED = ("ipywidgets", "keyring", "jupyter_server", "tornado")


def main() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    manager = shell.extension_manager
    assert manager is not None
    before = set(sys.modules)
    t0 = perf_counter_ns()
    result = manager.load_extension("zingy_nb")
    elapsed = perf_counter_ns() - t0
    if result not in (None, "already loaded"):
        raise SystemExit(f"load_extension returned {result!r}")
    assert "zingyConn" in shell.user_ns, "the extension did not push zingyConn"
    added = sorted(set(sys.modules) - before)
    print(
        json.dumps(
            {
                "ns": elapsed,
                "present": [m for m in WATCHED if m in sys.modules],
                "added": [m for m in WATCHED if m in added],
                "new_modules": len(added),
                "top_new": sorted({m.split(".")[0] for m in added}),
            }
        )
    )


if __name__ == "__main__":
    main()
