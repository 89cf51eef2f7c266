"""How often a kernel reads the OS keyring in its lifetime (the master key lives there).

A keyring read costs milliseconds over D-Bus, so a kernel should read the key once and
never again, whatever it retrieves. A real kernel runs with a real Secret Service: its
store's key is in gnome-keyring. Before the first retrieval, a cell wraps
``SecretService.Keyring.get_password`` with a counter (instrumentation only: it calls
the original). The kernel then retrieves several profiles many times over several
cells, another process changes a profile in between (so the kernel must notice and
decrypt again), and the counter is read. A last probe read checks that the counter
really counts.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import scaled

NAMES = [f"svc-{i}" for i in range(5)]
ROUNDS = scaled(200, 2)  # per cell, over every name

SETUP = """
from zingy_nb.profiles import Profiles
p = Profiles()
for i, name in enumerate({names!r}):
    p.set(name, "initial-secret-%d-abcdef" % i, "second-slot-%d-abcdef" % i)
print(p.key_status().key_source)
"""

LOAD_EXT = """
from time import perf_counter_ns as _znb_ns
_znb_t0 = _znb_ns()
get_ipython().run_line_magic("load_ext", "zingy_nb")
print(_znb_ns() - _znb_t0)
"""

INSTRUMENT = """
import keyring.backends.SecretService as _znb_ss
_znb_reads = [0]
_znb_original = _znb_ss.Keyring.get_password
def _znb_counting(self, service, username):
    _znb_reads[0] += 1
    return _znb_original(self, service, username)
_znb_ss.Keyring.get_password = _znb_counting
"""

RETRIEVE = """
for _ in range({rounds}):
    for _n in {names!r}:
        _info = zingyConn.apikey(_n)
print(_znb_reads[0])
"""

CHANGE = """
from zingy_nb.profiles import Profiles
Profiles().update("svc-0", {"secret1": "changed-secret-abcdef"})
"""


@dataclass
class KeyringReads:
    reads: int
    retrievals: int
    key_source: str
    counter_works: bool
    load_ext_ns: float
    modules_in_kernel: list[str]


def measure(service: Any) -> KeyringReads:
    """Run the kernel described above under ``service`` (a running Secret Service)."""
    from tests.kernels import running_kernel

    root = Path(tempfile.mkdtemp(prefix="reads-"))
    home = root / "zingy"
    try:
        done = service.python(home, SETUP.format(names=NAMES))
        if done.returncode != 0:
            raise RuntimeError(f"store setup failed: {done.stderr.strip()[-300:]}")
        key_source = done.stdout.strip().splitlines()[-1]
        env = service.child_env(home, {"ZINGY_NB_FLOW": "cloud-flow"})
        with running_kernel(env, log=root / "kernel.log") as kernel:
            load_ext_ns = float(kernel.ok(LOAD_EXT).stdout.strip())
            modules = kernel.ok(
                "import sys; print(','.join(m for m in ('ipywidgets', 'keyring', "
                "'jupyter_server', 'tornado') if m in sys.modules))"
            ).stdout.strip()
            kernel.ok(INSTRUMENT)
            retrieve = RETRIEVE.format(rounds=ROUNDS, names=NAMES)
            kernel.ok(retrieve)
            kernel.ok(retrieve)
            changed = service.python(home, CHANGE)
            if changed.returncode != 0:
                raise RuntimeError(f"update failed: {changed.stderr.strip()[-300:]}")
            kernel.ok(retrieve)
            seen = kernel.ok("print(zingyConn.apikey('svc-0').secret1 == 'changed-secret-abcdef')")
            if seen.stdout.strip() != "True":
                raise RuntimeError("the kernel did not see another process's change")
            reads = int(kernel.ok(retrieve).stdout.strip())
            probe = kernel.ok(
                "import keyring; keyring.get_password('zingy-nb-bench', 'probe'); "
                "print(_znb_reads[0])"
            )
            counter_works = int(probe.stdout.strip()) == reads + 1
        return KeyringReads(
            reads=reads,
            retrievals=4 * ROUNDS * len(NAMES) + 1,
            key_source=key_source,
            counter_works=counter_works,
            load_ext_ns=load_ext_ns,
            modules_in_kernel=[m for m in modules.split(",") if m],
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
