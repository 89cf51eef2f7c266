"""The package's shape is enforced, not just described: no import circles, the
front-end libraries stay in the shells that need them, keys are reached only through
the vault's public names, and the top level stays a handful of shared modules.

grimp builds the import graph from the source, counting imports inside functions and
leaving out only ``if TYPE_CHECKING:`` blocks.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import grimp
import pytest

import zingy_nb
import zingy_nb.vault

PACKAGE = "zingy_nb"
FRONT_END_LIBRARIES = ("IPython", "ipykernel", "ipywidgets", "tornado", "jupyter_server")
SHELL_FOLDERS = ("zingy_nb.kernel", "zingy_nb.server", "zingy_nb.runtime", "zingy_nb.cli")
SHELL_MODULES = ("zingy_nb.kernels", "zingy_nb.pytest_plugin", "zingy_nb.__main__")
VAULT = "zingy_nb.vault"
#: The top level holds the public API and shared modules; the rest lives in packages
#: named after their concern (kernel, server, runtime, cli, store, vault).
TOP_LEVEL_MAX = 12
NOT_COUNTED = {"__init__", "__main__", "_version"}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(
        PACKAGE, include_external_packages=True, exclude_type_checking_imports=True
    )


def internal_imports(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    own = {m for m in graph.modules if m == PACKAGE or m.startswith(PACKAGE + ".")}
    return {m: graph.find_modules_directly_imported_by(m) & own for m in own}


def test_the_graph_sees_imports_inside_functions(graph: grimp.ImportGraph) -> None:
    # __init__ imports the kernel extension only inside load_ipython_extension
    assert "zingy_nb.kernel.extension" in graph.find_modules_directly_imported_by(PACKAGE)
    assert len(internal_imports(graph)) >= 40


def test_no_import_circle(graph: grimp.ImportGraph) -> None:
    try:
        tuple(graphlib.TopologicalSorter(internal_imports(graph)).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


def in_shell(module: str) -> bool:
    return module in SHELL_MODULES or any(
        module == folder or module.startswith(folder + ".") for folder in SHELL_FOLDERS
    )


@pytest.mark.parametrize("library", FRONT_END_LIBRARIES)
def test_front_end_libraries_only_in_shells(graph: grimp.ImportGraph, library: str) -> None:
    if library not in graph.modules:
        return  # nothing in the package imports it at all
    importers = graph.find_modules_that_directly_import(library)
    assert not {m for m in importers if not in_shell(m)}, f"{library} imported by the core"


def test_the_checks_would_catch_a_violation() -> None:
    circular = {"a": {"b"}, "b": {"a"}}
    with pytest.raises(graphlib.CycleError):
        tuple(graphlib.TopologicalSorter(circular).static_order())
    assert not in_shell("zingy_nb.profiles") and not in_shell("zingy_nb.kernelsx")
    assert in_shell("zingy_nb.kernel.magic") and in_shell("zingy_nb.server")


def vault_imports_outside(module: str, source: str) -> set[str]:
    """What ``module`` (outside the vault) imports from the vault that is not one of its
    public names (``zingy_nb.vault.__all__``): a submodule, or a name kept inside.

    A public name may come from the vault module that defines it: the team store takes
    ``MemberPublicKey`` so, as through the package (whose member vault imports the
    store) the import would be a circle.
    """
    public = set(zingy_nb.vault.__all__)
    package = module.rsplit(".", 1)[0]
    wrong = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            wrong |= {a.name for a in node.names if a.name.startswith(VAULT + ".")}
        elif isinstance(node, ast.ImportFrom):
            origin = node.module or ""
            if node.level:
                parts = package.split(".")
                origin = ".".join([*parts[: len(parts) - node.level + 1], *origin.split(".")])
            if origin == VAULT or origin.startswith(VAULT + "."):
                wrong |= {f"{origin}.{a.name}" for a in node.names if a.name not in public}
    return wrong


def test_keys_are_reached_only_through_the_vaults_public_names() -> None:
    root = Path(zingy_nb.__file__).parent
    wrong = {}
    for path in root.rglob("*.py"):
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        if module.startswith(VAULT + "."):
            continue  # the vault itself (its __init__ included)
        found = vault_imports_outside(module, path.read_text())
        if found:
            wrong[module] = found
    assert not wrong, f"import these through zingy_nb.vault's public names: {wrong}"


def test_the_vault_rule_would_catch_a_violation() -> None:
    assert vault_imports_outside("zingy_nb.profiles", "from .vault.crypto import Cipher")
    assert vault_imports_outside("zingy_nb.cli.key", "from ..vault import custody")
    assert vault_imports_outside("zingy_nb.cli.key", "import zingy_nb.vault.custody")
    assert vault_imports_outside("zingy_nb.store.postgres_members", "from ..vault import _Keyring")
    assert not vault_imports_outside("zingy_nb.cli.key", "from ..vault import write_private")
    assert not vault_imports_outside("zingy_nb.profiles", "from .vault import open_vault")
    assert not vault_imports_outside("zingy_nb.cli.key", "from ..store import Store")
    assert not vault_imports_outside("zingy_nb.cli.__init__", "from .. import vault")
    assert vault_imports_outside(
        "zingy_nb.cli.__init__", "from ..vault.member import MemberKeyVault"
    )


def test_the_top_level_holds_the_public_api_and_a_few_shared_modules() -> None:
    root = Path(zingy_nb.__file__).parent
    modules = sorted(p.stem for p in root.glob("*.py") if p.stem not in NOT_COUNTED)
    assert len(modules) <= TOP_LEVEL_MAX, modules
