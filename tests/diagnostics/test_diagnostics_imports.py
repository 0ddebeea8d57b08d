"""``san_plugin.diagnostics`` is toolbox-free like ``core``: torch, the standard library and the core."""
from pathlib import Path

import san_plugin.diagnostics
from import_graph import absolute_imports, relative_import_levels, third_party_roots

DIAGNOSTICS = Path(san_plugin.diagnostics.__file__).parent


def test_diagnostics_import_only_torch_the_standard_library_and_the_core():
    modules = sorted(DIAGNOSTICS.glob('*.py'))
    assert {path.stem for path in modules} >= {'divergence', 'loss_scale', 'meta_report'}
    for path in modules:
        assert third_party_roots(path) <= {'torch', 'san_plugin'}, path.name
        ours = {name for name in absolute_imports(path) if name.split('.')[0] == 'san_plugin'}
        assert all(name.startswith('san_plugin.core') for name in ours), f'{path.name} imports {sorted(ours)}'
        assert relative_import_levels(path) <= {1}, f'{path.name} imports from outside diagnostics by a relative import'
