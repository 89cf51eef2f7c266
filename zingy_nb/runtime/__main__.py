"""``python -m zingy_nb.runtime serve|run ...``: the runners without the ``zingy-nb`` script."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
