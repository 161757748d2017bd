"""The package's shape stays what the README's architecture section says: no import cycles,
each package imports only from the layers below it (a frame's flow: sources -> runtime ->
pipeline -> sinks; nothing reaches up into a command), and no module name means two things.

The imports are read from the source (every ``import``, also inside functions and under
TYPE_CHECKING: a lazy import is still a dependency), so nothing is imported to check."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edgecam"

# lowest first; packages on one line are peers and must not import each other
LAYERS = [
    {"util"},
    {"models"},
    {"sources"},
    {"runtime"},
    {"pipeline"},
    {"sinks"},
    {"run"},
    {"tune", "train", "cluster", "service", "studio"},
    {"commands"},
    {"cli"},
    {"__main__"},
]
SHARED_NAMES = {"__init__", "factory"}  # sources and sinks each have one factory of URIs


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the edgecam modules it imports (``from a import b`` counts as a.b when b is
    a module)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:
        return None  # the package root: the facade (``__version__``, ``predict``)
    for level, names in enumerate(LAYERS):
        if parts[1] in names:
            return level
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS and the README")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert len(graph) > 80  # the walk found the package
    assert cycles(graph) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_each_package_imports_only_from_the_layers_below() -> None:
    upward = []
    for module, deps in import_graph().items():
        mine = layer_of(module)
        for dep in deps:
            theirs = layer_of(dep)
            if mine is None or theirs is None:
                continue
            same_package = module.split(".")[1] == dep.split(".")[1]
            if not same_package and theirs >= mine:
                upward.append(f"{module} -> {dep}")
    assert upward == []


def test_nothing_imports_a_command_or_the_cli() -> None:
    graph = import_graph()
    users = {m for m, deps in graph.items()
             if any(d.startswith(("edgecam.commands", "edgecam.cli")) for d in deps)}
    assert {m.split(".")[1] for m in users} <= {"commands", "cli", "__main__"}


def test_no_module_name_means_two_things() -> None:
    names = Counter(p.stem for p in PACKAGE.rglob("*.py"))
    assert {n for n, count in names.items() if count > 1} - SHARED_NAMES == set()


def test_top_level_is_small() -> None:
    """The root holds the entry points only; the work lives in packages."""
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py", "__main__.py",
                                                            "cli.py"]
