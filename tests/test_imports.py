"""Start-up stays cheap and the package has no import cycle.

Importing one module loads only what it needs: the solver, PuLP, matplotlib and the Excel engine are
imported where they are used (docs/performance.md, "Start-up"). And no allocator module imports
itself again through others, late (function-level) imports included.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "allocator"
#: Loaded only by the code that solves, writes workbooks, draws charts or drives another solver.
HEAVY = ("highspy", "pulp", "matplotlib", "openpyxl")


def python(script: str) -> str:
    """What a fresh interpreter prints running `script`."""
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout


def loaded_after(statement: str) -> set[str]:
    """The top-level modules a fresh interpreter holds after running `statement`."""
    return set(python(f"{statement}\nimport sys\nprint(' '.join({{name.partition('.')[0] for name in sys.modules}}))").split())


@pytest.mark.parametrize("module", ["allocator", "allocator.compare", "allocator.solve"])
def test_importing_a_module_does_not_load_the_heavy_libraries(module):
    assert loaded_after(f"import {module}").isdisjoint(HEAVY)


def test_the_command_line_starts_without_the_numerical_stack():
    """`allocate --help` answers before numpy, pandas or scipy (or the workbench's web server) would have loaded."""
    assert loaded_after("import allocator.cli").isdisjoint({*HEAVY, "numpy", "pandas", "scipy", "starlette", "uvicorn", "jinja2"})


def test_a_name_of_the_package_is_the_function_even_after_its_module_is_imported():
    script = "import allocator.solve, allocator.compare\nfrom allocator import compare, solve\nprint(type(solve).__name__, type(compare).__name__)"
    assert python(script).split() == ["function", "function"]


# -- import cycles ---------------------------------------------------------------------------------------------

def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
           (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement at or under `node`, at any depth, except those only a type checker runs."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    elif isinstance(node, ast.If) and _type_checking_only(node):
        for other in node.orelse:
            yield from _imports(other)
    else:
        for child in ast.iter_child_nodes(node):
            yield from _imports(child)


def imported_by(name: str) -> set[str]:
    """The allocator modules `name` imports (``from package import module`` counts as the module)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, *([base] if base else [])])
        targets |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names}
    return {target for target in targets if target in MODULES and target != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as the list of its modules (the first repeated at the end), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], _ = "open", path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*path[path.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node], _ = "done", path.pop()
        return None

    return next((cycle for node in sorted(graph) if node not in state and (cycle := visit(node))), None)


def test_no_allocator_module_imports_itself_back_late_imports_included():
    graph = {name: imported_by(name) for name in MODULES}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_late_import_cycle():
    late = ast.parse("def f():\n    from allocator.b import x\n")
    assert [n.module for n in _imports(late)] == ["allocator.b"]
    typed = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from allocator.b import x\n")
    assert [n.module for n in _imports(typed)] == ["typing"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
