"""Child of ``measure_pg``: poll ``zingyConn.apikey(NAME)`` in a tight loop and print
``<CLOCK_MONOTONIC ns> <secret1>`` the first time each new value is seen.

The store is whatever the environment says (``ZINGY_NB_HOME`` / ``ZINGY_NB_STORE_URL``),
as in a kernel. Prints ``ready <ns>`` once warm (for a team store: once its change
listener is healthy, so warm reads make no query); stops when it sees the value ``stop``.
"""

from __future__ import annotations

import sys
import time


def main(name: str) -> int:
    from zingy_nb.kernel.conn import zingyConn
    from zingy_nb.profiles import get_profiles

    apikey, now = zingyConn.apikey, time.monotonic_ns
    last = apikey(name).secret1
    listener = getattr(get_profiles().store, "_listener", None)
    deadline = time.monotonic() + 10
    while listener is not None and not listener.healthy and time.monotonic() < deadline:
        time.sleep(0.01)
        last = apikey(name).secret1
    print(f"ready {now()}", flush=True)
    while True:
        value = apikey(name).secret1
        if value != last:
            seen = now()
            last = value
            print(f"{seen} {value}", flush=True)
            if value == "stop":
                return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
