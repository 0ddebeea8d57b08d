"""What a Python file imports, read from its source (nothing is imported).

Test modules import it as ``import_graph`` (``tests/`` is on ``sys.path`` through its conftest).
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path


def absolute_imports(path: str | Path) -> set[str]:
    """The modules a file imports by absolute name (``import a.b``, ``from a.b import c``), anywhere in it."""
    names = set()
    for node in ast.walk(ast.parse(Path(path).read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


def third_party_roots(path: str | Path) -> set[str]:
    """The top-level packages outside the standard library that a file imports by absolute name."""
    return {name.split('.')[0] for name in absolute_imports(path)} - set(sys.stdlib_module_names)


def relative_import_levels(path: str | Path) -> set[int]:
    """The levels of a file's relative imports (1: ``from .x``, 2: ``from ..x``)."""
    return {node.level for node in ast.walk(ast.parse(Path(path).read_text()))
            if isinstance(node, ast.ImportFrom) and node.level}
