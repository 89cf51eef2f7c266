"""``python -m zingy_nb.agent [--idle-timeout S] [--detach]``: run the agent."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
