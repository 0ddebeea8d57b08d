"""install_engine_fixes: one explicit call registers the engine components and installs the fixes."""
import ast
from pathlib import Path

import mmengine.hooks.checkpoint_hook as checkpoint_hook_module
from mmengine.fileio.backends import backends
from mmengine.runner import CheckpointLoader

import san_plugin.mm  # noqa: F401  (its import makes the call)
from import_graph import relative_import_levels, third_party_roots
from san_plugin.mm import engine
from san_plugin.mm.engine.atomic_save import AtomicLocalBackend
from san_plugin.mm.engine.safe_load import load_from_safe_local

ENGINE = Path(engine.__file__).parent


def test_every_component_is_registered_under_its_class_name_idempotently():
    engine.install_engine_fixes()
    engine.install_engine_fixes()
    for registry, component in engine.REGISTERED:
        assert registry.get(component.__name__) is component, (registry.name, component.__name__)
    assert {c.__name__ for _, c in engine.REGISTERED} == {
        'SafeLoadImageFromFile', 'CheckedCustomDataset', 'CPUAmpOptimWrapper', 'RandomStateHook',
        'DistWatchdogHook'}
    assert CheckpointLoader._get_checkpoint_loader('work_dirs/x.pth') is load_from_safe_local
    assert backends['local'] is AtomicLocalBackend
    assert checkpoint_hook_module.open is not open


def test_the_engine_fixes_import_nothing_of_the_san():
    """The engine package is about mmengine, mmcv and mmpretrain only: no san_plugin import, and
    the registration happens in install_engine_fixes, not as an import side effect."""
    for path in sorted(ENGINE.glob('*.py')):
        assert 'san_plugin' not in third_party_roots(path), path.name
        assert relative_import_levels(path) <= {1}, f'{path.name} imports from outside the engine package'
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                assert not any('register_module' in ast.unparse(d) for d in node.decorator_list), path.name
