"""Re-run the example notebooks on the test profiles and store their outputs.

Run this after a deliberate change to what a notebook prints; the nbval regression
test then compares against the new outputs. Uses a throwaway store, like the plugin.

    .venv/bin/python scripts/refresh-notebooks.py                   # every example
    .venv/bin/python scripts/refresh-notebooks.py page_flow.ipynb   # only these
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from zingy_nb.pytest_plugin import load_profiles_file, make_store

ROOT = Path(__file__).resolve().parents[1] / "notebooks"


def main() -> int:
    os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp), load_profiles_file(ROOT / "test-profiles.toml"))
        os.environ.update(store.env)
        chosen = [ROOT / name for name in sys.argv[1:]] or sorted(ROOT.glob("*.ipynb"))
        for path in chosen:
            nb = nbformat.read(path, as_version=4)
            NotebookClient(
                nb, timeout=120, record_timing=False, resources={"metadata": {"path": str(ROOT)}}
            ).execute()
            nbformat.write(nb, path)
            print(f"refreshed {path.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
