"""A notebook enters secrets through the panel; the saved file must hold none of them.

The notebook runs in a real kernel through nbclient with ``store_widget_state=True``,
which writes the widget state a front end would save into the notebook's metadata.
The secrets reach the kernel only through its environment, so neither a cell's source
nor its output could explain a find. The file's raw bytes are searched for each
secret as text, JSON-escaped, hex and base64 (at every alignment, as a buffer would
be encoded).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.kernels import kernel_env
from zingy_nb.profiles import Profiles

# Made-up values only.
S1 = "sk_test_MADEUP_notebook_one"
S2 = 'pk_test_MADEUP_notebook_two \u00fcn\u00efc\u00f8d\u00e9 "quoted"'
S1_NEW = "sk_test_MADEUP_notebook_rotated"
KEY = "-----BEGIN MADE-UP KEY-----\r\nAAAAmadeupnotebookline1\u00e9\nAAAAmadeupnotebookline2\n-----END MADE-UP KEY-----\n"
SECRETS = {"ZNB_PANEL_S1": S1, "ZNB_PANEL_S2": S2, "ZNB_PANEL_NEW": S1_NEW, "ZNB_PANEL_KEY": KEY}

CELLS = [
    "%load_ext zingy_nb",
    "from zingy_nb.kernel.panel import show_panel\npanel = show_panel()\npanel",
    # Typing into the fields and choosing a file, as the front end would, then Save.
    """import os
panel.name.value = "nb-profile"
panel.secret_inputs["secret1"].value = os.environ["ZNB_PANEL_S1"]
panel.secret_inputs["secret2"].value = os.environ["ZNB_PANEL_S2"]
data = os.environ["ZNB_PANEL_KEY"].encode("utf-8")
panel.uploads["secret3"].set_state({"value": [{
    "name": "id_madeup", "type": "text/plain", "size": len(data),
    "content": memoryview(data), "last_modified": 1700000000000}]})
del data
panel.save_button.click()
print(panel.message_kind, panel.message)""",
    # An update of Secret only: the other slots stay.
    """panel.profile_list.value = "nb-profile"
panel.secret_inputs["secret1"].value = os.environ["ZNB_PANEL_NEW"]
panel.save_button.click()
print(panel.message_kind, panel.message)""",
]


def encodings(secret: str) -> set[bytes]:
    """Every form in which ``secret`` could sit in a notebook file."""
    raw = secret.encode("utf-8")
    forms = {raw, raw.hex().encode()}
    for ensure_ascii in (True, False):
        forms.add(json.dumps(secret, ensure_ascii=ensure_ascii)[1:-1].encode("utf-8"))
    for offset in range(3):  # base64 of a buffer holding the secret, at any alignment
        chunk = raw[offset:]
        chunk = chunk[: len(chunk) // 3 * 3]
        forms.add(base64.b64encode(chunk))
        forms.add(base64.urlsafe_b64encode(chunk))
    return forms


def models(nb: Any) -> dict[str, dict[str, Any]]:
    return dict(nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"])


@pytest.mark.parametrize("flow", ["page-flow", "cloud-flow"])
def test_saved_notebook_holds_widget_state_but_no_secret(
    zingy_home: Path, tmp_path: Path, flow: str
) -> None:
    # Given a notebook that enters secrets through the panel, in a kernel of either flow
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    client = NotebookClient(
        nb, kernel_name="python3", timeout=120, store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )  # fmt: skip
    # When it runs and is written to disk
    client.execute(env=kernel_env(flow=flow, home=zingy_home, **SECRETS))
    path = tmp_path / "panel.ipynb"
    nbformat.write(nb, path)
    # Then both saves succeeded, in a kernel of either flow
    outputs = ["".join(o.get("text", "") for o in cell.outputs) for cell in nb.cells]
    assert "ok Saved new profile 'nb-profile' (Secret, Secret2, Secret3 set)." in outputs[2]
    assert "ok Updated profile 'nb-profile' (Secret changed)" in outputs[3]
    # And the store has exactly the values entered, the file's bytes included
    assert Profiles(zingy_home).secrets("nb-profile") == (S1_NEW, S2, KEY, None)
    # And the notebook holds the panel's widget state, as of after the saves
    saved = nbformat.read(path, as_version=4)
    state = models(saved)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for model in state.values():
        by_name.setdefault(model["model_name"], []).append(model["state"])
    assert len(by_name["PasswordModel"]) == 4
    assert all(m.get("value", "") == "" for m in by_name["PasswordModel"])
    assert len(by_name["FileUploadModel"]) == 4
    assert all(m.get("value", []) == [] for m in by_name["FileUploadModel"])
    assert any("Updated profile" in m.get("value", "") for m in by_name["HTMLModel"])
    # And no secret is in the file, in any encoding
    content = path.read_bytes()
    for secret in (S1, S2, S1_NEW, KEY, "AAAAmadeupnotebookline1"):
        for form in encodings(secret):
            assert form not in content, f"a form of a secret is in the notebook: {form[:12]!r}"
