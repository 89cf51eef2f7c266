"""``python -m zingy_nb.cli``: the ``zingy-nb`` command."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
