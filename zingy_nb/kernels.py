"""The two kernelspecs: ``zingy-cloud-flow`` and ``zingy-page-flow``.

Each runs the Python it was installed from, sets ``ZINGY_NB_FLOW``, loads the extension
at start (``--ext=zingy_nb``, so ``zingyConn`` exists in the first cell) and carries its
mode in the kernelspec metadata, where the JupyterLab extension reads it.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from .flow import CLOUD_FLOW, ENV_VAR, PAGE_FLOW

KERNELS = {
    "zingy-cloud-flow": (CLOUD_FLOW, "Python 3 (Zingy Cloud Flow)"),
    "zingy-page-flow": (PAGE_FLOW, "Python 3 (Zingy Page Flow)"),
}


def kernel_json(mode: str, display_name: str) -> dict[str, Any]:
    return {
        "argv": [
            sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
            "--ext=zingy_nb",
        ],
        "display_name": display_name,
        "language": "python",
        "env": {ENV_VAR: mode},
        "metadata": {"debugger": True, "zingy_nb": {"flow": mode}},
    }  # fmt: skip


def install(*, user: bool = False, prefix: str | None = None) -> list[str]:
    """Install (or refresh) both kernelspecs; default: into ``sys.prefix``."""
    from jupyter_client.kernelspec import KernelSpecManager

    ksm = KernelSpecManager()
    if not user and prefix is None:
        prefix = sys.prefix
    installed = []
    for name, (mode, display) in KERNELS.items():
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "kernel.json").write_text(json.dumps(kernel_json(mode, display), indent=1))
            installed.append(
                ksm.install_kernel_spec(tmp, name, user=user, prefix=prefix, replace=True)
            )
    return installed


def kernels_dir(*, user: bool = False, prefix: str | None = None) -> Path:
    """The folder ``install`` writes to for the same options."""
    if user:
        from jupyter_core.paths import jupyter_data_dir

        return Path(jupyter_data_dir()) / "kernels"
    return Path(prefix if prefix is not None else sys.prefix) / "share" / "jupyter" / "kernels"


def uninstall(*, user: bool = False, prefix: str | None = None) -> list[str]:
    """Remove both kernelspecs from the place ``install`` put them with these options."""
    import shutil

    removed = []
    for name in KERNELS:
        path = kernels_dir(user=user, prefix=prefix) / name
        if path.is_dir():
            shutil.rmtree(path)
            removed.append(str(path))
    return removed
