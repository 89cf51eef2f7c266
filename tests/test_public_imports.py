"""The public API imports as the README and docs show it, each check in a fresh
interpreter so one import cannot satisfy another's.

zingy-nb was never published: modules that moved have no old import path kept for
them (the layout test keeps the top level to the public API and a few shared modules).
"""

from __future__ import annotations

import subprocess
import sys

import pytest


def run(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "code",
    [
        "from zingy_nb import get_profiles, Profiles, zingyConn, ZingyConn, KeyInfo, panel",
        "import zingy_nb; assert all(getattr(zingy_nb, n) is not None for n in zingy_nb.__all__)",
        "import zingy_nb.errors as e; assert issubclass(e.CloudFlowOnlyError, PermissionError)",
        "from zingy_nb.profiles import Profiles, get_profiles",
        "from zingy_nb.redact import register_value",
        "from zingy_nb.kernel.conn import zingyConn, KeyInfo, ZingyConn",
        "from zingy_nb.store import Row, Store, StoreInfo, AuditEntry, utcnow",
        "import zingy_nb.vault as v; assert all(getattr(v, n) is not None for n in v.__all__)",
        "from zingy_nb.vault import KeyStatus, Vault, open_vault",
        "import zingy_nb; assert callable(zingy_nb.panel)",
        "import zingy_nb; p = zingy_nb.panel(); assert type(p).__name__ == 'ProfilesPanel'",
        "from zingy_nb import load_ipython_extension, unload_ipython_extension",
        "from zingy_nb import _jupyter_server_extension_points, _jupyter_labextension_paths",
        "from zingy_nb import _load_jupyter_server_extension",
        "import zingy_nb.pytest_plugin, zingy_nb.cli",
    ],
)
def test_public_import_works(code: str) -> None:
    run(code)


def test_entry_points_name_importable_modules() -> None:
    run(
        "from importlib.metadata import entry_points\n"
        "import importlib\n"
        "eps = [*entry_points(group='pytest11', name='zingy_nb'),"
        " *entry_points(group='console_scripts', name='zingy-nb')]\n"
        "assert len(eps) == 2, eps\n"
        "for ep in eps: ep.load()\n"
        "from zingy_nb import _jupyter_server_extension_points as points\n"
        "for point in points(): importlib.import_module(point['module'])\n"
    )
