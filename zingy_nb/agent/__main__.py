"""``python -m zingy_nb.agent [--idle-timeout S] [--detach]``: ``zingy-nb agent``."""

from __future__ import annotations

import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main(["agent", *sys.argv[1:]]))
