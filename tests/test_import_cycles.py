"""No import circle in ``san_plugin`` or ``benchmarks``, function-local imports included, and no
benchmark script edits ``sys.path`` (the scripts import each other as the ``benchmarks`` package)."""
from __future__ import annotations

import ast
from pathlib import Path

from import_graph import find_cycle, import_graph

ROOT = Path(__file__).resolve().parents[1]


def test_san_plugin_and_benchmarks_import_without_a_cycle():
    graph = import_graph(ROOT, ['san_plugin', 'benchmarks'])
    assert 'benchmarks.imagenette.common' in graph['benchmarks.imagenette.report']  # the graph sees the package
    assert 'san_plugin.core.scale' in graph['san_plugin.core']
    assert find_cycle(graph) is None, ' -> '.join(find_cycle(graph))


def test_a_cycle_closed_by_a_function_local_import_is_found(tmp_path: Path):
    package = tmp_path / 'pkg'
    package.mkdir()
    (package / '__init__.py').write_text('')
    (package / 'a.py').write_text('from pkg.b import helper\n')
    (package / 'b.py').write_text('def helper():\n    from . import a\n    return a\n')
    (package / 'c.py').write_text('from .a import helper\n')
    graph = import_graph(tmp_path, ['pkg'])
    assert graph == {'pkg': set(), 'pkg.a': {'pkg.b'}, 'pkg.b': {'pkg.a'}, 'pkg.c': {'pkg.a'}}
    assert find_cycle(graph) == ['pkg.a', 'pkg.b', 'pkg.a']
    assert find_cycle({**graph, 'pkg.b': set()}) is None


def sys_path_edits(path: Path) -> list[int]:
    """Lines of ``sys.path.insert(...)`` / ``sys.path.append(...)`` calls in a file."""
    return [node.lineno for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ('insert', 'append', 'extend') and ast.unparse(node.func.value) == 'sys.path']


def test_no_benchmark_script_edits_sys_path(tmp_path: Path):
    script = tmp_path / 'script.py'
    script.write_text('import sys\nsys.path.insert(0, "..")\nsys.path.append("x")\nsys.argv.append("y")\n')
    assert sys_path_edits(script) == [2, 3]
    edits = {str(path.relative_to(ROOT)): lines for path in sorted((ROOT / 'benchmarks').rglob('*.py'))
             if (lines := sys_path_edits(path))}
    assert edits == {}
