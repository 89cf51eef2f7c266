"""``zingy-nb serve``: a cloud-flow notebook's annotated cells as HTTP endpoints.

The checks run before Kernel Gateway is even imported, so a refused notebook starts
nothing. Kernel Gateway is then run in this process (``gateway.py``) with every setting
that decides what runs fixed on its command line, where neither its config files nor
``KG_*`` variables can change them: the notebook, its own kernelspec (a
``KG_FORCE_KERNEL_NAME`` cannot swap in an unchecked kernel), our kernel manager, no
download of the notebook's source, a port that is used or refused (never silently
another), and INFO logging (its DEBUG level logs every request's code).
"""

from __future__ import annotations

import os
from pathlib import Path

from .notebook_flow import NotebookKernel, mark_kernels

_GATEWAY = "zingy_nb.runtime.gateway"


def gateway_argv(
    notebook: Path, kernel: NotebookKernel, *, ip: str, port: int, workers: int
) -> list[str]:
    """Kernel Gateway's command line for this notebook (command-line config wins)."""
    assert kernel.name is not None
    app = "--KernelGatewayApp"
    return [
        f"{app}.api={_GATEWAY}",
        f"{app}.seed_uri={notebook}",
        f"{app}.force_kernel_name={kernel.name}",
        f"{app}.kernel_manager_class={_GATEWAY}.ServeMappingKernelManager",
        f"{app}.ip={ip}",
        f"{app}.port={port}",
        f"{app}.port_retries=0",
        f"{app}.prespawn_count={workers}",
        f"{app}.log_level=INFO",
        "--NotebookHTTPPersonality.allow_notebook_download=False",
        # Endpoint annotations are comments: `// POST /path` in a JavaScript notebook
        # (Deno reports its language as typescript)
        "--NotebookHTTPPersonality.comment_prefix=typescript=//",
        "--NotebookHTTPPersonality.comment_prefix=javascript=//",
        "--NotebookHTTPPersonality.comment_prefix=python=#",
    ]


def serve(notebook: Path, kernel: NotebookKernel, *, ip: str, port: int, workers: int) -> int:
    """Serve until SIGTERM/SIGINT. The notebook has been checked (``notebook_flow.check``)."""
    mark_kernels("serve", notebook)
    from .gateway import serve_gateway

    path = Path(os.path.abspath(notebook))
    return serve_gateway(gateway_argv(path, kernel, ip=ip, port=port, workers=workers))
