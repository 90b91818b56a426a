"""What `pip install .` (the README's first command) puts in place: every package of the tree."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_of_the_tree_is_listed_for_installation():
    """The list is explicit (schemas/ ships as pipeline.schemas): a new package left out of it works from the
    source tree and in the tests, and fails on a merchant's machine with ModuleNotFoundError."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    tree = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "pipeline").rglob("__init__.py")
            if "__pycache__" not in p.parts}
    assert tree <= listed, f"missing from pyproject.toml's packages: {sorted(tree - listed)}"

