"""The hostile table's driver: ``python tests/hostile/driver.py CONFIG``, as the user.

It is the person, outside any kernel: with ``ZINGY_NB_MASTER_KEY`` in its environment
(env custody) it saves the made-up profiles; with custody ``locked`` in the config it then
drops the variable, imports the key and protects it with a passphrase, and with
``keyring`` it starts a real gnome-keyring on a D-Bus session of its own and imports the
key there (the desktop's custody); with ``file`` it imports it where no keyring exists,
a 0600 key file beside the store. It installs the zingy kernelspecs, allows the
control notebook (``zingy-nb profiles allow``, from outside a kernel), and starts the
store's agent. Then it starts real kernels from the kernelspecs with ``KernelManager``,
each with the master key in its launch environment (the launcher must strip it): a
cloud-flow kernel of the allowed notebook (the control), a page-flow kernel, and a
cloud-flow kernel of a notebook that was never allowed. It runs ``rows.CONTROL`` in the
first and every row of ``rows.ROWS`` in the other two, undoing after each row that may
widen access what it widened, and writes every message of every cell, as JSON, to the
config's ``result``. Kernels and the agent are stopped at the end, also on failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any

CELL_TIMEOUT = 120
PASSPHRASE = "made-up hostile-table passphrase"
SWEEP_TIMEOUT = 900


def _narrow(db: Path, notebook: str) -> None:
    """Undo what a row may have widened for ``notebook`` (the person does, from here)."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        with conn:
            conn.execute("DELETE FROM notebook_access WHERE notebook = ?", (notebook,))
            conn.execute("DELETE FROM store_meta WHERE key = 'notebook_access'")
    finally:
        conn.close()


def _notebook(path: Path, kernel: str, language: str = "python") -> str:
    nb = {
        "cells": [],
        "metadata": {"kernelspec": {"name": kernel, "display_name": kernel, "language": language}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))
    return os.path.realpath(path)


class _Server:
    """A Jupyter server of the person's, started with a token in its environment and
    its ``jpserver-*.json`` in the runtime folder, as ``jupyter lab`` leaves them. It is
    the token's target only: without zingy-nb's server extension, so it is no front end
    the agent could ask about the rows' notebooks (they are refused at once)."""

    def __init__(self, work: Path) -> None:
        import secrets
        import time
        import urllib.request

        from tests.ports import free_port  # the repo is on sys.path by now (main)

        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        env = {**os.environ, "JUPYTER_TOKEN": secrets.token_hex(24)}
        self.log = open(work / "server.log", "wb")  # closed by stop
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "server", "--no-browser", "--ip=127.0.0.1",
             f"--port={port}", f"--ServerApp.root_dir={work}",
             "--ServerApp.jpserver_extensions=zingy_nb=False"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(self.url + "api", timeout=5):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the Jupyter server did not start") from None
                time.sleep(0.25)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.terminate()
            self.proc.wait(timeout=30)
        with contextlib.suppress(Exception):
            self.proc.kill()
        self.log.close()


def main(config_path: str) -> int:
    cfg = json.loads(Path(config_path).read_text())
    sys.path.insert(0, cfg["repo"])
    from jupyter_client.manager import KernelManager

    from tests.hostile.harness import stop_agents
    from tests.hostile.js_rows import (
        JS_CONTROL,
        JS_KERNELS,
        JS_ROWS,
        js_prelude,
        python_child_source,
    )
    from tests.hostile.kernel_code import CONTROL, PEEK, PRELUDE
    from tests.hostile.rows import ROWS
    from tests.leaks.harness import Recorder
    from zingy_nb import kernels
    from zingy_nb.agent.client import ensure_agent
    from zingy_nb.profiles import Profiles

    for var in ("HOME", "TMPDIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR",
                "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "ZINGY_NB_HOME"):  # fmt: skip
        Path(os.environ[var]).mkdir(parents=True, exist_ok=True, mode=0o700)
    runtime = Path(os.environ["JUPYTER_RUNTIME_DIR"])
    work = Path(cfg["work"])
    work.mkdir(exist_ok=True)
    result: dict[str, Any] = {"kernels": {}, "errors": [], "uid": os.getuid()}

    profiles = Profiles()
    for name, values in cfg["profiles"].items():
        profiles.set(name, *values)
    custody = cfg.get("custody", "environment")
    keyring = None
    if custody == "keyring":  # the desktop's Secret Service, on a session bus of the user's
        from tests.keyring_daemon import start_secret_service

        keyring = start_secret_service(unlock=True)
        os.environ.update({k: v for k, v in keyring.env.items() if k != "HOME"})
    if custody != "environment":  # the person moves the key out of the environment
        key = os.environ.pop("ZINGY_NB_MASTER_KEY")
        steps = [(["key", "import"], key)]
        if custody == "locked":  # from here no process holds it, but the agent, unlocked
            steps.append((["key", "protect", "--stdin"], PASSPHRASE))
        for args, stdin in steps:
            subprocess.run(["zingy-nb", *args], input=stdin + "\n", text=True, check=True,
                           capture_output=True, timeout=120)  # fmt: skip
    result["custody"] = sorted(p.name for p in Path(os.environ["ZINGY_NB_HOME"]).iterdir())
    result["custody_name"] = custody
    kernels.install(user=True)
    allowed = _notebook(work / "allowed.ipynb", "zingy-cloud-flow")
    never = _notebook(work / "never-allowed.ipynb", "zingy-cloud-flow")
    result["javascript"] = kernels.deno_executable() is not None  # the `javascript` extra
    javascript = result["javascript"] and (  # JavaScript kernels, where a JavaScript row runs
        cfg.get("rows") is None or any(row.id in cfg["rows"] for row in JS_ROWS)
    )
    js_allowed = _notebook(work / "js-allowed.ipynb", "zingy-js-cloud-flow", "typescript")
    js_never = _notebook(work / "js-never-allowed.ipynb", "zingy-js-cloud-flow", "typescript")
    for name in cfg["profiles"]:
        for notebook in (allowed, js_allowed) if javascript else (allowed,):
            subprocess.run(
                ["zingy-nb", "profiles", "allow", name, notebook],
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
    with ensure_agent() as client:
        result["agent"] = client.pid  # the agent that must serve the whole run
    db = Path(os.environ["ZINGY_NB_HOME"]) / "profiles.db"
    server = _Server(work)  # the person's JupyterLab, its token in its environment
    context = {
        "names": list(cfg["profiles"]),
        "profile": cfg["profile"],
        "notebook": never,
        "allowed": allowed,
        "runtime": str(runtime),
        "zingy_home": os.environ["ZINGY_NB_HOME"],
        "tmp": os.environ["TMPDIR"],
        "server": server.url,
    }
    prelude = f"import json as _j0\n_HOSTILE = _j0.loads({json.dumps(context)!r})\n" + PRELUDE
    js_context = {**context, "notebook": js_never, "allowed": js_allowed}
    js_context.update(python=sys.executable, python_source=python_child_source(js_context))

    managers: list[Any] = []
    try:
        plan = [
            (
                "control",
                "zingy-cloud-flow",
                allowed,
                prelude,
                [("peek", PEEK), ("control", CONTROL)],
            ),
            ("page-flow", "zingy-page-flow", None, prelude, [("peek", PEEK), *ROWS]),
            ("cloud-flow", "zingy-cloud-flow", never, prelude, [("peek", PEEK), *ROWS]),
        ]
        if javascript:
            js_prelude_code = js_prelude(js_context)
            plan += [
                ("js-control", "zingy-js-cloud-flow", js_allowed, js_prelude_code,
                 [("control", JS_CONTROL)]),
                ("js-page-flow", JS_KERNELS["js-page-flow"], None, js_prelude_code, JS_ROWS),
                ("js-cloud-flow", JS_KERNELS["js-cloud-flow"], js_never, js_prelude_code, JS_ROWS),
            ]  # fmt: skip
        for label, spec, notebook, first, cells in plan:
            env = dict(os.environ)
            if notebook is not None:
                env["JPY_SESSION_NAME"] = notebook
            log = open(work / f"kernel-{label}.log", "wb")  # closed in the finally below
            km = KernelManager(kernel_name=spec)
            managers.append((km, log))
            km.start_kernel(env=env, cwd=str(work), stdout=log, stderr=log)
            kc = km.client()
            kc.start_channels()
            kc.wait_for_ready(timeout=120)
            rec = Recorder(SimpleNamespace(kc=kc))  # type: ignore[arg-type]
            ran: dict[str, Any] = {}
            result["kernels"][label] = ran

            def run(row_id: str, code: str, timeout: float = CELL_TIMEOUT) -> None:
                got = rec.execute(code, timeout=timeout)  # noqa: B023 (called in this loop)
                ran[row_id] = {"code": code, "reply": got.reply, "messages": got.messages}  # noqa: B023

            run("prelude", first)
            for cell in cells:
                if isinstance(cell, tuple):  # the harness's own cells
                    run(*cell)
                    continue
                row = cell
                if not row.runs_in(custody) or (
                    cfg.get("rows") is not None and row.id not in cfg["rows"]
                ):
                    continue
                try:
                    run(row.id, row.cell(), SWEEP_TIMEOUT if row.id == "sweep" else row.timeout)
                except Exception as exc:  # a row that hangs is recorded, the rest still run
                    result["errors"].append(f"{label}/{row.id}: {type(exc).__name__}")
                if row.widens:
                    _narrow(db, js_never if label.startswith("js-") else never)
    except Exception:
        result["errors"].append(traceback.format_exc(limit=5))
    finally:
        for km, log in managers:
            with contextlib.suppress(Exception):
                km.shutdown_kernel(now=True)
            log.close()
        server.stop()
        agent = result.get("agent")
        result["agent_alive_at_end"] = bool(agent) and Path(f"/proc/{agent}").exists()
        result["agents_stopped"] = stop_agents(runtime) + stop_agents(Path(os.environ["TMPDIR"]))
        if keyring is not None:
            with contextlib.suppress(Exception):
                keyring.close()
        result["logs"] = {  # the agent's log never holds a value; kernels' logs, made-up ones
            str(p.relative_to(work.parent)): p.read_text(errors="replace")[-20000:]
            for p in [*work.glob("kernel-*.log"), *Path(work.parent).rglob("agent.log")]
        }
        Path(cfg["result"]).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
