"""Which flow a notebook would run in, decided from its kernelspec before anything starts.

Every runner (``zingy-nb serve``, ``zingy-nb run``, jupyter-scheduler jobs) asks here
first and starts no kernel unless the answer is cloud-flow: the notebook's kernelspec
sets ``ZINGY_NB_FLOW=cloud-flow`` in the kernel's env, says so in its metadata (or says
nothing there), and loads the extension at start, without which nothing the kernel
sends would be redacted. A runner started from a page-flow process (``!zingy-nb run``
in a page-flow kernel) is refused as well: the kernelspec's env would widen it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import flow
from ..access import SESSION_ENV  # the notebook identity a Jupyter server gives a kernel
from ..audit import VIA_ENV  # how a kernel was started, recorded with each retrieval
from ..errors import CloudFlowOnlyError
from ..rules import is_valid_name

__all__ = [
    "SESSION_ENV",
    "VIA_ENV",
    "NotebookKernel",
    "check",
    "create_profile_hint",
    "mark_kernels",
    "read_kernel",
]

EXTENSION_ARG = "--ext=zingy_nb"
#: What in a kernelspec's argv makes its kernel redact what it sends: the extension
#: (Python), or the JavaScript kernels' proxy (``zingy_nb.js``).
REDACTING_ARGS = (EXTENSION_ARG, "zingy_nb.js.proxy")
CLOUD_KERNEL = "zingy-cloud-flow"
_SWITCH = (
    'Switch the notebook to the "Python 3 (Zingy Cloud Flow)" kernel (JupyterLab: Kernel > '
    "Change Kernel; `zingy-nb kernels install` adds it) and start it again."
)

_PROFILE_NAME = re.compile(r"profile named '([^']+)'")


def create_profile_hint(evalue: str, then: str) -> str:
    """How to create the profile a failed cell asked for (its name is in the error's
    text, as ``ProfileNotFoundError`` words it), then what to do next."""
    named = _PROFILE_NAME.search(evalue)
    name = named.group(1) if named and is_valid_name(named.group(1)) else "NAME"
    return (
        f"Create the profile first (`zingy-nb profiles set {name}` prompts for its "
        f"secrets; JupyterLab's API Keys sidebar works too), then {then}."
    )


@dataclass(frozen=True)
class NotebookKernel:
    """What a notebook's kernelspec says about the kernel a runner would start."""

    name: str | None  # metadata.kernelspec.name; None if the notebook names none
    display_name: str
    installed: bool
    flow: str | None  # cloud-flow, page-flow, invalid, or None (unflagged)
    loads_extension: bool  # ``REDACTING_ARGS`` in argv: the kernel redacts what it sends

    @property
    def runnable(self) -> bool:
        return self.installed and self.flow == flow.CLOUD_FLOW and self.loads_extension

    def refusal(self) -> str:
        """One line: why this notebook does not run unattended, and how to fix it."""
        if self.name is None:
            return f"The notebook names no kernel, so it has no flow mode. {_SWITCH}"
        which = f'"{self.display_name}" ({self.name})'
        if not self.installed:
            return f"The notebook's kernel {which} is not installed here. {_SWITCH}"
        if self.flow == flow.PAGE_FLOW:
            why = (
                "a page-flow kernel: page-flow code stands for code in the end user's "
                "browser and never runs as a Cloud Flow"
            )
        elif self.flow == flow.CLOUD_FLOW:
            why = (
                "a cloud-flow kernelspec that does not load zingy_nb at start, so nothing "
                "it sends would be redacted"
            )
        elif self.flow == flow.INVALID:
            why = "a kernelspec whose flow settings are invalid or disagree"
        else:
            why = "a kernel with no flow mode (only cloud-flow notebooks run as a Cloud Flow)"
        return f"The notebook runs on {which}, {why}. {_SWITCH}"


def _spec_flow(env: dict[str, Any], metadata: dict[str, Any]) -> str | None:
    """The mode a kernel of this spec starts in; disagreeing settings count as invalid."""
    raw = env.get(flow.ENV_VAR)
    declared = (metadata.get("zingy_nb") or {}).get("flow")
    mode = None if raw is None or not str(raw).strip() else str(raw).strip()
    if mode is None:  # the kernel would inherit the runner's env: never cloud-flow by spec
        return flow.PAGE_FLOW if declared == flow.PAGE_FLOW else None
    if mode not in flow.MODES or declared not in (None, mode):
        return flow.INVALID
    return mode


def read_kernel(path: str | os.PathLike[str]) -> NotebookKernel:
    """The notebook's kernel as Jupyter would find it. OSError/ValueError if unreadable."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(nb, dict):
        raise ValueError("not a notebook")
    spec_meta = (nb.get("metadata") or {}).get("kernelspec") or {}
    name = spec_meta.get("name") or None
    display = str(spec_meta.get("display_name") or name or "")
    if name is None:
        return NotebookKernel(None, display, False, None, False)
    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return NotebookKernel(name, display, False, None, False)
    return NotebookKernel(
        name,
        spec.display_name or display,
        True,
        _spec_flow(spec.env or {}, spec.metadata or {}),
        any(arg in spec.argv for arg in REDACTING_ARGS),
    )


def process_refusal() -> str | None:
    """Why this process may not start a Cloud Flow run (None if it may)."""
    mode = flow.current()
    if mode == flow.PAGE_FLOW:
        return (
            f"This process is page-flow ({flow.ENV_VAR}=page-flow) and a flow mode never "
            "widens: a page-flow kernel cannot start a Cloud Flow run. Start it from a "
            "terminal, a cron job or a cloud-flow kernel instead."
        )
    if mode == flow.INVALID:
        return (
            f"This process's {flow.ENV_VAR} is not a flow mode, so it starts nothing. "
            f"Unset it or set it to {flow.CLOUD_FLOW}."
        )
    return None


def check(path: str | os.PathLike[str]) -> NotebookKernel:
    """The notebook's kernel if it may run unattended; ``CloudFlowOnlyError`` if not."""
    why = process_refusal()
    if why is not None:
        raise CloudFlowOnlyError(why)
    kernel = read_kernel(path)
    if not kernel.runnable:
        raise CloudFlowOnlyError(kernel.refusal())
    return kernel


def mark_kernels(via: str, notebook: str | os.PathLike[str]) -> None:
    """Kernels started from now on by this process record ``via`` and the notebook they
    run with each retrieval. Any identity inherited from a notebook that started the
    runner is replaced; with ``via`` set, notebook access asks nothing: the person who
    started the runner chose the notebook."""
    os.environ[VIA_ENV] = via
    os.environ[SESSION_ENV] = os.path.realpath(notebook)
