"""The recipes ship beside verify.py to the inspector's computer, whose Python may be old and bare: each module of
pipeline/chains/ parses as Python 3.6 and imports nothing but the standard library and its own package."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CHAINS = Path(__file__).resolve().parents[2] / "pipeline" / "chains"
MODULES = sorted(CHAINS.glob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_a_recipe_module_is_python_3_6_and_standard_library_only(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), feature_version=(3, 6))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in sys.stdlib_module_names, f"{path.name} imports {name}"


def test_every_recipe_module_is_registered():
    from pipeline import chains

    registered = {type(r).__module__.rsplit(".", 1)[-1] for r in chains.RECIPES.values()}
    assert registered == {p.stem for p in MODULES} - {"__init__", "content", "walk", "php"}
