"""Imports users rely on keep working after the package layout changed (issue: layout).

Each check runs in a fresh interpreter, so one import cannot satisfy another's.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

OLD_NAMES = {
    "zingy_nb.profile": "zingy_nb.rules",
    "zingy_nb.sqlite_store": "zingy_nb.store.sqlite",
    "zingy_nb.pg_store": "zingy_nb.store.postgres",
    "zingy_nb.store_url": "zingy_nb.store.url",
    "zingy_nb.migrations": "zingy_nb.store.migrations",
    "zingy_nb.magic": "zingy_nb.kernel.magic",
    "zingy_nb.panel": "zingy_nb.kernel.panel",
    "zingy_nb.kernel_ext": "zingy_nb.kernel.extension",
    "zingy_nb.history": "zingy_nb.kernel.history",
    "zingy_nb.conn": "zingy_nb.kernel.conn",
}


def run(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("old", sorted(OLD_NAMES))
def test_an_old_module_name_is_the_moved_module(old: str) -> None:
    new = OLD_NAMES[old]
    run(
        f"import importlib, sys\n"
        f"old = importlib.import_module({old!r})\n"
        f"assert old is importlib.import_module({new!r}), (old, {new!r})\n"
        f"assert sys.modules[{old!r}] is old\n"
    )


@pytest.mark.parametrize(
    "code",
    [
        "from zingy_nb import get_profiles, Profiles, zingyConn, ZingyConn, KeyInfo, panel",
        "import zingy_nb.errors as e; assert issubclass(e.CloudFlowOnlyError, PermissionError)",
        "from zingy_nb.profiles import Profiles, get_profiles",
        "from zingy_nb.redact import register_value",
        "from zingy_nb.conn import zingyConn, KeyInfo, ZingyConn",
        "from zingy_nb.store import Row, Store, StoreInfo, AuditEntry, utcnow",
        "import zingy_nb; assert callable(zingy_nb.panel)",
        "import zingy_nb.panel, zingy_nb; p = zingy_nb.panel(); assert type(p).__name__ == 'ProfilesPanel'",
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
