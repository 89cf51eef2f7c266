"""The zingy kernelspecs' argv: ``python -m zingy_nb.agent.launch FLOW -- KERNEL-ARGV``
(written as ``python -c "from zingy_nb.agent.launch import main; main()" FLOW -- ...``,
which skips runpy).

Every tool that starts a kernel from its kernelspec runs this first (the Jupyter
server, nbclient, papermill, Voila, Kernel Gateway, VS Code...). It asks the store's
agent (started on demand, and handed ``ZINGY_NB_MASTER_KEY`` / ``ZINGY_NB_MEMBER_KEY``
if this process has them) to register a kernel: this process, the flow named in the
kernelspec, and the notebook the launching tool named in ``JPY_SESSION_NAME``. Then it
``exec``s the kernel in this same process with the capability in its environment and
without either key variable: ``exec`` gives the kernel a fresh environment block, so not
even its own ``/proc/self/environ`` holds a key. If no capability can be had, the kernel
still starts, without a key, and says why on the first thing that needs the agent (one
line on stderr here). A flow never widens: ``ZINGY_NB_FLOW=page-flow`` in the launching
environment narrows a cloud-flow kernelspec.

Every kernel start pays for this process, so while the agent runs it imports almost
nothing (``fastpath``); only starting the agent loads the full client.
"""

from __future__ import annotations

import os
import sys

from ..paths import (
    CAP_ENV,
    ERROR_ENV,
    KEY_ENV,
    MEMBER_KEY_ENV,
    SESSION_ENV,
    VIA_ENV,
    identity_from_env,
)
from . import confine, fastpath

TYPE_CHECKING = False  # not typing's: this module's imports are a kernel start's cost
if TYPE_CHECKING:
    from typing import NoReturn

USAGE = "usage: python -m zingy_nb.agent.launch cloud-flow|page-flow -- KERNEL-ARGV..."
#: ``flow``'s names, repeated: importing ``flow`` (``errors``, so ``typing``) costs
#: more than this launcher may (tests/test_launch_fast.py checks that they agree).
FLOW_ENV = "ZINGY_NB_FLOW"
PAGE_FLOW = "page-flow"
MODES = ("cloud-flow", PAGE_FLOW)


def kernel_environment(mode: str) -> tuple[dict[str, str], str]:
    """The kernel's environment and its flow: no key, the narrower of the two flows."""
    stated = (os.environ.get(FLOW_ENV) or "").strip()
    if stated and stated != mode:
        mode = PAGE_FLOW  # another or an invalid value: never wider than either
    dropped = (KEY_ENV, MEMBER_KEY_ENV, CAP_ENV, ERROR_ENV)  # keys, and a launcher's own
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env[FLOW_ENV] = mode
    return env, mode


def kernel_id(argv: list[str]) -> str | None:
    """Jupyter's id of the kernel, from its connection file's name (``kernel-<id>.json``,
    as the Jupyter server names it), for the audit; None where it is named otherwise."""
    for arg in argv:
        name = os.path.basename(arg.rpartition("=")[2])
        if name.startswith("kernel-") and name.endswith(".json"):
            return name[len("kernel-") : -len(".json")] or None
    return None


def capability(mode: str, kernel: list[str] | None = None) -> str:
    """A capability for this process from the agent (which this call may start)."""
    notebook = identity_from_env(os.environ)  # judged, where the Jupyter server named it
    via = os.environ.get(VIA_ENV) or None  # audited: the runner ...
    named = os.environ.get(SESSION_ENV) or None  # ... and the notebook it named
    kid = kernel_id(kernel or [])
    cap = fastpath.register(mode, notebook, via, named, kid)  # the agent runs: most starts
    if cap is not None:
        return cap
    from .client import ensure_agent

    with ensure_agent() as client:
        return client.register(mode, notebook, via=via, named=named, kernel_id=kid)


def main(argv: list[str] | None = None) -> NoReturn:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3 or args[0] not in MODES or args[1] != "--":
        sys.stderr.write(USAGE + "\n")
        raise SystemExit(2)
    kernel = args[2:]
    env, mode = kernel_environment(args[0])
    try:
        env[CAP_ENV] = capability(mode, kernel)
    except Exception as exc:
        from ..errors import ZingyError  # imported only now: it costs the start ~10 ms

        if not isinstance(exc, ZingyError):
            raise
        env[ERROR_ENV] = str(exc)
        sys.stderr.write(f"zingy-nb: this kernel has no capability: {exc}\n")
    argv, why = confine.confined(kernel, env)
    if why is not None:
        sys.stderr.write(f"zingy-nb: this kernel runs unconfined: {why}\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main()
