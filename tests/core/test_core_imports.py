"""``san_plugin.core`` is the method in plain PyTorch: it imports no toolbox, not even timm."""
from pathlib import Path

import san_plugin.core
from import_graph import relative_import_levels, third_party_roots
from toolbox_blocker import OPENMMLAB, run_without

CORE = Path(san_plugin.core.__file__).parent


def test_core_modules_import_only_torch_the_standard_library_and_each_other():
    for path in sorted(CORE.glob('*.py')):
        assert third_party_roots(path) <= {'torch'}, path.name
        assert relative_import_levels(path) <= {1}, f'{path.name} imports from outside core'


def test_every_core_module_imports_and_converts_without_any_toolbox():
    done = run_without(('timm', 'matplotlib') + OPENMMLAB, '''
        import importlib
        import pkgutil

        import torch

        import san_plugin.core
        for module in pkgutil.iter_modules(san_plugin.core.__path__):
            importlib.import_module(f'san_plugin.core.{module.name}')
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
        san, _ = san_plugin.core.convert(net, [32, 16])
        san.eval()(torch.randn(1, 3, 24, 24))
        assert loaded_blocked() == [], loaded_blocked()
        print('core: OK')
    ''')
    assert 'core: OK' in done.stdout
