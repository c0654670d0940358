"""The shape of the package: data flows one way, and no module touches another's private state.

Two static checks over ``realtime_dispatch``'s source (no import needed):

- the import graph has no cycle, counting imports inside functions too (those are cycles in
  disguise) but not those under ``if TYPE_CHECKING:``;
- no module reads or writes a private attribute (``obj._name``) that only another module's
  classes define: parts talk through small public interfaces (``SessionListener``, ``Outbox``...).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "realtime_dispatch"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]


def _imported(module: str, node: ast.ImportFrom) -> list[str]:
    if node.level:
        base = _package_of(module).split(".")
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, *([node.module] if node.module else [])])
    else:
        target = node.module or ""
    submodules = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in MODULES]
    names_from_target = len(submodules) < len(node.names)  # `from pkg import name` runs pkg/__init__
    return ([target] if target in MODULES and names_from_target else []) + submodules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text())
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if _is_type_checking(node.test):
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            found.update(_imported(module, node))

        def visit_Import(self, node: ast.Import) -> None:
            found.update(alias.name for alias in node.names if alias.name in MODULES)

    Visitor().visit(tree)
    found.discard(module)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    graph = {module: _runtime_imports(module) for module in MODULES}
    assert _cycles(graph) == []


def test_a_cycle_is_found_when_there_is_one() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _private_attributes_defined() -> dict[str, set[str]]:
    """For each private attribute name, the modules whose classes set it on ``self`` (or declare it)."""
    owners: dict[str, set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
                if node.attr.startswith("_") and not node.attr.startswith("__"):
                    owners[node.attr].add(module)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("_"):
                owners[node.name].add(module)
    return owners


# The one deliberate exception: picows' frame callback inlines ``InboundQueue``'s delivery (one
# Python call per frame instead of two) on the ``PicowsTransport`` it builds, a subclass of it.
INLINED = {("realtime_dispatch.transports._picows", "realtime_dispatch.transports._inline")}


def test_no_module_touches_another_modules_private_attributes() -> None:
    owners = _private_attributes_defined()
    trespasses = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            defined_by = owners.get(node.attr, set())
            if defined_by and module not in defined_by and not any((module, o) in INLINED for o in defined_by):
                trespasses.append(f"{module}:{node.lineno} .{node.attr} (private to {', '.join(sorted(defined_by))})")
    assert trespasses == []
