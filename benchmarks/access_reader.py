"""Child of ``measure_access``: warm ``zingyConn.apikey`` timings in a process whose
notebook identity comes from ``JPY_SESSION_NAME`` (or none), printed as JSON.

The identity is fixed once per process, as in a kernel, hence one child per case.
"""

from __future__ import annotations

import json
import sys
from time import perf_counter_ns


def main(name: str, number: int, repeat: int) -> int:
    from zingy_nb import access
    from zingy_nb.kernel.conn import zingyConn

    identity = access.init_from_env()
    apikey = zingyConn.apikey
    apikey(name)  # cold: decrypts, judges the notebook once, audits
    samples = []
    for _ in range(repeat):
        t0 = perf_counter_ns()
        for _ in range(number):
            apikey(name)
        samples.append((perf_counter_ns() - t0) / number)
    print(json.dumps({"identity": identity, "samples": samples}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
