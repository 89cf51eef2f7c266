"""The package's shape is enforced, not just described: no import circles, and the
front-end libraries stay in the shells that need them.

grimp builds the import graph from the source, counting imports inside functions and
leaving out only ``if TYPE_CHECKING:`` blocks.
"""

from __future__ import annotations

import graphlib
from pathlib import Path

import grimp
import pytest

import zingy_nb

PACKAGE = "zingy_nb"
FRONT_END_LIBRARIES = ("IPython", "ipykernel", "ipywidgets", "tornado", "jupyter_server")
SHELL_FOLDERS = ("zingy_nb.kernel", "zingy_nb.server", "zingy_nb.runtime", "zingy_nb.cli")
LONGEST = 450  # "a few hundred lines": past this, split along a seam
SHELL_MODULES = ("zingy_nb.kernels", "zingy_nb.pytest_plugin", "zingy_nb.__main__")


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


def test_modules_stay_small() -> None:
    root = Path(zingy_nb.__file__).parent
    sizes = {
        p.relative_to(root).as_posix(): len(p.read_text().splitlines()) for p in root.rglob("*.py")
    }
    assert not {name: n for name, n in sizes.items() if n > LONGEST}
