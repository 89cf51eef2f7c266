"""Old import path of ``zingy_nb.kernel.conn``, kept for existing imports (the same module)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("zingy_nb.kernel.conn")
