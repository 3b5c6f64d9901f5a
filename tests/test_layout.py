"""The import directions docs/DESIGN.md draws: no cycles, and front ends on top.

Imports inside functions count (they are how a cycle hides); imports under TYPE_CHECKING do not.
"""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
FRONT_ENDS = ("painterly.cli", "painterly.server")  # may import the library; the library never imports them


def import_graph(package: str) -> dict[str, set[str]]:
    root = SRC / package
    paths = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        here = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        typing_only = {id(n) for node in ast.walk(tree)
                       if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        deps = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom):
                base = here.split(".")[: len(here.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                deps |= {f"{target}.{a.name}" if f"{target}.{a.name}" in paths else target for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
        graph[name] = {d for d in deps if d in paths and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_itself_round_a_cycle():
    for package in ("painterly", "capsnet"):
        assert cycles(import_graph(package)) == []


def test_the_library_never_imports_its_front_ends():
    graph = import_graph("painterly")
    for module, deps in graph.items():
        if module.startswith(FRONT_ENDS) or module == "painterly.__main__":
            continue
        assert not {d for d in deps if d.startswith(FRONT_ENDS)}, module
