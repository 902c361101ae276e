"""The tree keeps the shape README's architecture section draws (issue 18): no import circle, type-only
imports included; the page reaches the core through its API alone; no module of the product over ~400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("cosmos_core", "app")
MAX_LINES = 420  # "no module over ~400 lines"


def modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the product."""
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The product's modules `name` imports, wherever in it (under TYPE_CHECKING too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                found |= {f"{base}.{alias.name}"} & known or {base} & known
    return found - {name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, set(known)) for name, path in known.items()}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle found by a depth-first walk (each named once, from where the walk met it)."""
    found, state = [], {}

    def walk(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [node, nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                walk(nxt, [*path, node])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            walk(node, [])
    return found


def test_no_module_imports_one_that_imports_it_back():
    assert circles(graph()) == []


def test_a_circle_is_found():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) != []


def test_the_page_reaches_the_core_through_its_api_alone():
    edges = graph()
    reached = {(name, target) for name, targets in edges.items() if name.startswith("app")
               for target in targets if target.startswith("cosmos_core") and target != "cosmos_core.api"}
    assert reached == set()


def test_no_module_of_the_product_is_over_about_400_lines():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}
