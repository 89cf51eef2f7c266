"""Jupyter Kernel Gateway's notebook-http mode, narrowed to what a Cloud Flow web hook needs.

Kernel Gateway does the serving: one endpoint per annotated cell (``# POST /path``), the
request in ``REQUEST``, the response from what the cell prints, status and headers from
``# ResponseInfo`` cells. What changes here is how its kernels are started and driven:

- every kernel gets ``--HistoryManager.enabled=False``: Kernel Gateway runs each request
  as code (``REQUEST = "..."``), so bodies and headers would otherwise land in
  ``history.sqlite``; requests are also executed with ``store_history=False``, so a
  long-running kernel does not keep every request in ``In``;
- requests never allow stdin: a cell that prompts fails at once instead of hanging;
- each kernel's env says how it runs (``ZINGY_NB_VIA=serve``) and which notebook it
  serves (for the audit; notebook access asks nothing under ``ZINGY_NB_VIA``); the rest (``ZINGY_NB_FLOW``, ``--ext=zingy_nb``) comes from the checked
  cloud-flow kernelspec, so the kernel's own redactor filters every response;
- a kernel that fails to start or to run the notebook's ordinary cells stops the
  server with one line, where Kernel Gateway would leave requests waiting forever (a
  missing profile: the line says how to create it);
- the address is logged once, when the kernels are ready, not by Kernel Gateway's
  "available at" before they are;
- SIGINT stops the server like SIGTERM (no interactive confirmation), kernels included.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from kernel_gateway.gatewayapp import KernelGatewayApp
from kernel_gateway.notebook_http import NotebookHTTPPersonality
from kernel_gateway.services.kernels.manager import (
    KernelGatewayIOLoopKernelManager,
    SeedingMappingKernelManager,
)
from traitlets import DottedObjectName, Type

from .notebook_flow import VIA_ENV, create_profile_hint

HISTORY_OFF = "--HistoryManager.enabled=False"
READY = "zingy-nb serve: ready"


class NoStdinClient(AsyncKernelClient):
    """Executes with stdin refused and history not stored, whatever the caller asks."""

    allow_stdin = False

    def execute(
        self,
        code: str,
        silent: bool = False,
        store_history: bool = False,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool | None = None,
        stop_on_error: bool = True,
    ) -> str:
        return super().execute(code, silent, False, user_expressions, False, stop_on_error)


class ServeKernelManager(KernelGatewayIOLoopKernelManager):
    """One served kernel: history off, marked as started by ``serve``."""

    client_class = DottedObjectName(f"{__name__}.NoStdinClient")
    client_factory = Type(NoStdinClient, klass=AsyncKernelClient)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> Any:
        env = kw["env"]
        env[VIA_ENV] = "serve"  # and SESSION_ENV, the served notebook (mark_kernels)
        return await super()._async_launch_kernel([*kernel_cmd, HISTORY_OFF], **kw)


class ServeMappingKernelManager(SeedingMappingKernelManager):
    """Kernel Gateway's seeding manager, starting ``ServeKernelManager`` kernels."""

    def _kernel_manager_class_default(self) -> str:
        return f"{__name__}.ServeKernelManager"


class ServePersonality(NotebookHTTPPersonality):
    """notebook-http, with a failed kernel start ending the server instead of hanging it."""

    async def init_configurables(self) -> None:
        app = self.parent
        try:
            await super().init_configurables()
        except Exception as exc:
            app.failure = _describe(exc)  # said by serve_gateway once the loop has stopped
            for future in (
                self.kernel_pool.pool_initialized,
                self.kernel_pool.managed_pool_initialized,
            ):
                if not future.done():
                    future.set_result(False)
            await app.kernel_manager.shutdown_all(now=True)
            app.stop()
            return
        self.log.info(
            "%s: %d kernel(s) of %s serving at http://%s:%d/",
            READY, len(self.kernel_pool.kernel_clients), app.kernel_manager.seed_kernelspec,
            app.ip, app.port,
        )  # fmt: skip


def _describe(exc: Exception) -> str:
    """What went wrong starting the kernels, from the kernel's (redacted) error reply."""
    if len(exc.args) == 2 and isinstance(exc.args[1], dict):  # "Error seeding kernel memory"
        content = exc.args[1]
        ename = str(content.get("ename", "Error"))
        error = " ".join(f"{ename}: {content.get('evalue', '')}".split()).rstrip(".")
        return f"an ordinary cell of the notebook failed while a kernel started: {error}. " + (
            create_profile_hint(str(content.get("evalue", "")), "start serve again")
            if ename == "ProfileNotFoundError"
            else "Fix the cell (run the notebook in JupyterLab to see it) and start serve again."
        )
    return f"a kernel did not start ({type(exc).__name__}: {exc})."


def create_personality(*args: Any, **kwargs: Any) -> ServePersonality:
    """Kernel Gateway's hook for ``KernelGatewayApp.api`` modules."""
    return ServePersonality(*args, **kwargs)


class ServeApp(KernelGatewayApp):
    """Kernel Gateway whose stop signals all shut the kernels down and end the process."""

    failure: str | None = None  # keeps Kernel Gateway's name: its config file still applies

    def init_signal(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            signal.signal(sig, self._signal_stop)

    def start_app(self) -> None:
        # Kernel Gateway's own logs "available at" here, before its kernels are ready;
        # ServePersonality logs READY with the address once they are.
        super(KernelGatewayApp, self).start()


def serve_gateway(argv: list[str]) -> int:
    """Run the gateway until a stop signal; 0 after a clean stop, 1 if kernels failed."""
    app = ServeApp()
    app.initialize(argv)
    app.start()
    if app.failure:
        print(f"zingy-nb serve: {app.failure}", file=sys.stderr)
        return 1
    return 0
