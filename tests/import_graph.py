"""What a Python file imports, and the import graph of a tree of packages, read from source (nothing is imported).

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


def module_name(path: Path, root: Path) -> str:
    """The dotted name of a file under ``root`` (a package's ``__init__.py``: the package)."""
    parts = list(path.relative_to(root).with_suffix('').parts)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def project_imports(path: Path, root: Path, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that one file imports, anywhere in it (function-local imports too).

    ``from a import b`` counts as an import of the module ``a.b`` where that is one of ``modules``,
    else of ``a``; relative imports are resolved against the file's package. Implicit imports of
    parent packages are not counted (every submodule would otherwise import its own ``__init__``).
    """
    name = module_name(path, root)
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')[:len(package.split('.')) - node.level + 1]
                base = '.'.join([*anchor, *([base] if base else [])])
            targets = [f'{base}.{alias.name}' if f'{base}.{alias.name}' in modules else base for alias in node.names]
        else:
            continue
        found |= {target for target in targets if target in modules}
    return found - {name}


def import_graph(root: str | Path, packages: list[str]) -> dict[str, set[str]]:
    """Module -> the project modules it imports, for every ``.py`` file of ``packages`` under ``root``."""
    root = Path(root)
    files = {module_name(path, root): path for package in packages for path in sorted((root / package).rglob('*.py'))}
    return {name: project_imports(path, root, set(files)) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as ``[a, b, ..., a]``, or None where there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None
