"""``%store`` never writes a secret in clear: real kernels, real IPython profile dirs.

IPython's storemagic pickles a variable into ``<profile>/db/autorestore/NAME``, or
writes its text to a file with ``%store NAME >FILE``. A value zingy-nb knows as secret
in the kernel (retrieved there, or saved there) must be refused on both paths, alone,
inside another value, as a 16-character run of it, or in a numpy string array (UTF-32)
or UTF-16 bytes, and nothing of it may reach the disk; anything else is stored as
before. The secrets reach the kernels only through their environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kernels import Kernel, kernel_env, running_kernel

# Made-up values only.
RETRIEVED = "sk_live_MADEUP_store_guard_retrieved_0123456789"
SAVED = "ghp_MADEUP_store_guard_saved_in_kernel_abcdef"
SECRETS = (RETRIEVED, SAVED)
# Until the extension wires the guard in at load, the kernels install it themselves
# (install is idempotent, so this stays correct once it does).
INSTALL = "from zingy_nb.kernel import store_guard; store_guard.install(get_ipython())"


def disk_holds_a_secret(root: Path) -> list[Path]:
    """Files below ``root`` holding a secret, or a 16-character run of one."""
    runs = [
        s[i : i + 16].encode(encoding)
        for s in SECRETS
        for i in range(len(s) - 15)
        for encoding in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
    ]
    found = []
    for path in root.rglob("*"):
        try:
            data = path.read_bytes() if path.is_file() else b""
        except FileNotFoundError:  # gone since listed (SQLite's journal): it holds nothing
            continue
        if any(run in data for run in runs):
            found.append(path)
    return found


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tmp_path_factory.mktemp("guard-home"), tmp_path_factory.mktemp("guard-ipython")


@pytest.fixture(scope="module")
def kernel(dirs: tuple[Path, Path]) -> Iterator[Kernel]:
    home, ipython_dir = dirs
    env = kernel_env(
        flow="cloud-flow", home=home, IPYTHONDIR=str(ipython_dir),
        ZNB_RETRIEVED=RETRIEVED, ZNB_SAVED=SAVED,
    )  # fmt: skip
    with running_kernel(env) as started:
        started.ok("%load_ext zingy_nb")  # installs the guard
        # One value retrieved through zingyConn, one only saved in this kernel.
        started.ok("%zingy_apikey set guarded --from-env ZNB_RETRIEVED")
        started.ok("%zingy_apikey set saved-only --from-env ZNB_SAVED")
        started.ok(
            "import os\n"
            "tok = zingyConn.apikey('guarded').secret1\n"
            "saved_value = os.environ['ZNB_SAVED']\n"
            "header = {'Authorization': 'Bearer ' + tok}\n"
            "part = 'prefix ' + tok[5:25]\n"
            "plain = ['an ordinary value', 42]\n"
            "import numpy as np\n"  # numpy keeps str arrays in UTF-32
            "arr = np.array([tok])\n"
            "arr_be = np.array(['é ' + saved_value], dtype='>U80')\n"
            "utf16 = tok.encode('utf-16-be')"
        )
        yield started


def autorestore(dirs: tuple[Path, Path]) -> Path:
    return dirs[1] / "profile_default" / "db" / "autorestore"


@pytest.mark.parametrize("var", ["tok", "saved_value", "header", "part", "arr", "arr_be", "utf16"])
def test_store_of_a_secret_is_refused_and_nothing_is_written(
    kernel: Kernel, dirs: tuple[Path, Path], var: str
) -> None:
    cell = kernel.run(f"%store {var}")
    assert cell.ename == "UsageError", cell.describe()
    assert "%store refused" in cell.evalue and "Nothing was stored" in cell.evalue
    assert not (autorestore(dirs) / var).exists()
    assert disk_holds_a_secret(dirs[1]) == []


def test_an_ordinary_value_is_still_stored_and_restored(
    kernel: Kernel, dirs: tuple[Path, Path]
) -> None:
    assert kernel.ok("%store plain").stdout == "Stored 'plain' (list)\n"
    assert (autorestore(dirs) / "plain").is_file()
    kernel.ok("del plain")
    kernel.ok("%store -r plain")
    assert kernel.ok("print(plain)").stdout == "['an ordinary value', 42]\n"


def test_writing_to_the_db_from_code_is_refused_too(
    kernel: Kernel, dirs: tuple[Path, Path]
) -> None:
    cell = kernel.run("get_ipython().db['autorestore/by_code'] = [tok]")
    assert cell.ename == "UsageError", cell.describe()
    assert not (autorestore(dirs) / "by_code").exists()


def test_store_to_a_file_is_refused_for_a_secret_only(
    kernel: Kernel, dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    refused, allowed = tmp_path / "refused.txt", tmp_path / "allowed.txt"
    for var in ("tok", "header"):
        cell = kernel.run(f"%store {var} >{refused}")
        assert cell.ename == "UsageError" and "%store refused" in cell.evalue, cell.describe()
    assert disk_holds_a_secret(tmp_path) == []
    kernel.ok(f"%store plain >>{allowed}")
    assert allowed.read_text() == "['an ordinary value', 42]\n"


def test_the_guard_survives_a_reload_and_is_installed_once(
    kernel: Kernel, dirs: tuple[Path, Path]
) -> None:
    kernel.ok("%reload_ext zingy_nb")
    kernel.ok("%reload_ext zingy_nb")
    kernel.ok(INSTALL)  # installing by hand again changes nothing either
    cell = kernel.run("%store tok")
    assert cell.ename == "UsageError", cell.describe()
    guards = kernel.ok(
        "print(sum(1 for c in type(get_ipython().db).__mro__"
        " if '_zingy_nb_store_guard' in vars(c)),"
        " getattr(get_ipython().magics_manager.magics['line']['store'],"
        " '__wrapped__', None) is not None and not hasattr("
        "get_ipython().magics_manager.magics['line']['store'].__wrapped__,"
        " '_zingy_nb_store_guard'))"
    ).stdout
    assert guards == "1 True\n"
    assert disk_holds_a_secret(dirs[1]) == []
