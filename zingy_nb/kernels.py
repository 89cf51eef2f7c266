"""The flow kernelspecs: ``zingy-cloud-flow`` and ``zingy-page-flow`` (Python), and with
the ``javascript`` extra ``zingy-js-cloud-flow`` and ``zingy-js-page-flow`` (Deno).

Each Python one runs the Python it was installed from, sets ``ZINGY_NB_FLOW``, loads the extension
at start (``--ext=zingy_nb``, so ``zingyConn`` exists in the first cell) and carries its
mode in the kernelspec metadata, where the JupyterLab extension reads it.

Each spec folder also gets its mode's logos (``logo-32x32.png``, ``logo-64x64.png``,
``logo-svg.svg``) from ``kernel_logos/<mode>/``, which ships in the wheel. The PNGs are
rendered from the SVG once and committed:
``rsvg-convert -w 64 -h 64 logo-svg.svg -o logo-64x64.png`` (and the same at 32).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .flow import CLOUD_FLOW, ENV_VAR, PAGE_FLOW

KERNELS = {
    "zingy-cloud-flow": (CLOUD_FLOW, "Python 3 (Zingy Cloud Flow)"),
    "zingy-page-flow": (PAGE_FLOW, "Python 3 (Zingy Page Flow)"),
}
#: With the ``javascript`` extra (Deno): the same two flows in Deno's kernel, behind the
#: proxy of ``zingy_nb.js`` (docs/javascript.md).
JS_KERNELS = {
    "zingy-js-cloud-flow": (CLOUD_FLOW, "JavaScript (Zingy Cloud Flow)"),
    "zingy-js-page-flow": (PAGE_FLOW, "JavaScript (Zingy Page Flow)"),
}
LOGO_FILES = ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg")
LOGOS = Path(__file__).with_name("kernel_logos")
#: How a kernelspec runs the launcher: ``python -c`` rather than ``-m``, which imports
#: ``runpy`` (about 4 ms of the launcher's budget, see ``agent.fastpath``).
LAUNCHER = "from zingy_nb.agent.launch import main; main()"


@dataclass(frozen=True)
class InstalledKernel:
    """A flow kernelspec as Jupyter finds it (the one it would start under that name)."""

    name: str
    flow: str | None  # the spec's ``metadata.zingy_nb.flow``; None if it has none
    display_name: str
    resource_dir: str
    python: str | None  # argv[0]: the interpreter the kernel runs

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def kernel_argv(mode: str) -> list[str]:
    """ipykernel with the extension; on Linux behind the launcher (``agent.launch``),
    which gets the kernel a capability from the agent and execs it without a key.
    Elsewhere there is no agent (and no ``exec`` that keeps the pid, on Windows)."""
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel.append("--ext=zingy_nb")
    return _launched(mode, kernel)


def deno_executable() -> str | None:
    """Deno from the ``deno`` package (the ``javascript`` extra); None without it."""
    try:
        from deno import find_deno_bin
    except ImportError:
        return None
    try:
        return str(find_deno_bin())
    except (FileNotFoundError, OSError):
        return None


def _launched(mode: str, kernel: list[str]) -> list[str]:
    """``kernel`` behind the launcher on Linux (elsewhere there is no agent)."""
    if not sys.platform.startswith("linux"):
        return kernel
    return [sys.executable, "-c", LAUNCHER, mode, "--", *kernel]


def js_kernel_json(mode: str, display_name: str, deno: str) -> dict[str, Any]:
    """Deno's kernel behind the proxy, which the launcher starts as it starts ipykernel."""
    kernel = [sys.executable, "-m", "zingy_nb.js.proxy", "--deno", deno, "{connection_file}"]
    return {
        "argv": _launched(mode, kernel),
        "display_name": display_name,
        "language": "typescript",
        "env": {ENV_VAR: mode},
        "interrupt_mode": "message",
        "metadata": {"zingy_nb": {"flow": mode}},
    }


def kernel_json(mode: str, display_name: str) -> dict[str, Any]:
    return {
        "argv": kernel_argv(mode),
        "display_name": display_name,
        "language": "python",
        "env": {ENV_VAR: mode},
        # A confined kernel runs under bwrap, which a signal would stop: interrupts go
        # as messages, which ipykernel turns into SIGINT inside the sandbox.
        "interrupt_mode": "message",
        "metadata": {"debugger": True, "zingy_nb": {"flow": mode}},
    }  # fmt: skip


def install(*, user: bool = False, prefix: str | None = None) -> list[str]:
    """Install (or refresh) the kernelspecs with their logos (the JavaScript ones where Deno
    is installed); default: into ``sys.prefix``.

    Installed specs are readable by everyone whatever the umask (see ``share``): in a
    shared environment (``--sys-prefix`` on a JupyterHub) every user must find them.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    ksm = KernelSpecManager()
    if not user and prefix is None:
        prefix = sys.prefix
    top = _existing(kernels_dir(user=user, prefix=prefix)) if not user else None
    installed = []
    specs = {name: kernel_json(mode, display) for name, (mode, display) in KERNELS.items()}
    deno = deno_executable()
    if deno is not None:
        for name, (mode, display) in JS_KERNELS.items():
            specs[name] = js_kernel_json(mode, display, deno)
    for name, spec in specs.items():
        mode = spec["metadata"]["zingy_nb"]["flow"]
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "kernel.json").write_text(json.dumps(spec, indent=1))
            for logo in LOGO_FILES:
                shutil.copyfile(LOGOS / mode / logo, Path(tmp, logo))
            installed.append(ksm.install_kernel_spec(tmp, name, user=user, prefix=prefix))
    share(installed, top=top)
    return installed


def _existing(path: Path) -> Path:
    """``path`` or its nearest folder that exists (what ``install`` will not create)."""
    path = path.absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def share(spec_dirs: list[str], *, top: Path | None) -> None:
    """Make installed specs readable by everyone: folders 0755, files 0644.

    ``install_kernel_spec`` copies the modes of its source, a private (0700) temporary
    folder, and creates missing parent folders under the umask. The folders it created
    between ``top`` (the nearest one that existed before, left as it is) and each spec
    gain read and search permission for everyone (nothing is taken away from them).
    """
    for spec in map(Path, spec_dirs):
        spec.chmod(0o755)
        for path in spec.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        if top is None:
            continue
        for parent in spec.parents:
            if parent == top or top not in parent.parents:
                break
            parent.chmod(parent.stat().st_mode & 0o7777 | 0o555)


def installed() -> list[InstalledKernel]:
    """Every flow kernelspec Jupyter finds, sorted by name.

    That is ``zingy-cloud-flow`` and ``zingy-page-flow`` wherever they are on Jupyter's
    path, plus any other kernelspec whose metadata carries ``zingy_nb.flow``. Where one
    name is in several places, the one listed is the one Jupyter would start. A spec
    that cannot be read is left out (Jupyter logs why).
    """
    from jupyter_client.kernelspec import KernelSpecManager

    found = []
    for name, entry in sorted(KernelSpecManager().get_all_specs().items()):
        spec = entry.get("spec") or {}
        meta = spec.get("metadata") or {}
        ours = meta.get("zingy_nb") if isinstance(meta, dict) else None
        flow = ours.get("flow") if isinstance(ours, dict) else None
        if name not in KERNELS and name not in JS_KERNELS and flow is None:
            continue
        argv = spec.get("argv") or []
        found.append(
            InstalledKernel(
                name=name,
                flow=flow if isinstance(flow, str) else None,
                display_name=str(spec.get("display_name", "")),
                resource_dir=str(entry.get("resource_dir", "")),
                python=str(argv[0]) if argv else None,
            )
        )
    return found


def kernels_dir(*, user: bool = False, prefix: str | None = None) -> Path:
    """The folder ``install`` writes to for the same options."""
    if user:
        from jupyter_core.paths import jupyter_data_dir

        return Path(jupyter_data_dir()) / "kernels"
    return Path(prefix if prefix is not None else sys.prefix) / "share" / "jupyter" / "kernels"


def uninstall(*, user: bool = False, prefix: str | None = None) -> list[str]:
    """Remove the kernelspecs from the place ``install`` put them with these options."""
    removed = []
    for name in (*KERNELS, *JS_KERNELS):
        path = kernels_dir(user=user, prefix=prefix) / name
        if path.is_dir():
            shutil.rmtree(path)
            removed.append(str(path))
    return removed
