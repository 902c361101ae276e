"""README's architecture tree names every module of the product, so a newcomer finds each one there."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def readme_tree() -> str:
    """The fenced block of README.md that draws the tree (from launch.py to the end of cosmos_core/)."""
    readme = REPO.joinpath("README.md").read_text()
    start = readme.index("launch.py               `cosmos dashboard`")
    return readme[start:readme.index("\n```\n", start)]


def test_every_product_module_is_named_in_the_readmes_tree():
    tree = readme_tree()
    named = set(re.findall(r"(?<![\w.])(\w+\.py)\b", tree))
    modules = [p for package in ("app", "cosmos_core") for p in (REPO / package).rglob("*.py")
               if p.name != "__init__.py" or p.parent.name == "cli"]  # cli/__init__.py is `cosmos` itself
    assert sorted(str(p.relative_to(REPO)) for p in modules if p.name not in named) == []
