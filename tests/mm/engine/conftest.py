"""Fixtures of the engine tests: mmengine's global state restored, a trained toy run."""
import builtins

import mmengine.hooks.checkpoint_hook as checkpoint_hook_module
import pytest
from mmengine.fileio.backends import backends, prefix_to_backends
from mmengine.runner import CheckpointLoader

from san_plugin.mm.engine.atomic_save import install_atomic_checkpoint_saving
from toy_runs import make_runner


@pytest.fixture(autouse=True)
def restore_mmengine_state(monkeypatch):
    """Undo registrations made by a test (mmengine keeps them globally)."""
    monkeypatch.setattr(CheckpointLoader, '_schemes',
                        CheckpointLoader._schemes.copy())
    monkeypatch.setitem(backends, 'local', backends['local'])
    monkeypatch.setitem(prefix_to_backends, '', prefix_to_backends[''])
    monkeypatch.setattr(
        checkpoint_hook_module,
        'open',
        getattr(checkpoint_hook_module, 'open', builtins.open),
        raising=False)


@pytest.fixture(scope='module')
def trained_dir(tmp_path_factory):
    """Work dir of a 2-iteration run, saved with atomic saving installed."""
    saved = (CheckpointLoader._schemes.copy(), backends['local'],
             prefix_to_backends[''], checkpoint_hook_module.__dict__.get('open'))
    work_dir = tmp_path_factory.mktemp('run')
    try:
        install_atomic_checkpoint_saving()
        make_runner(work_dir, max_iters=2).train()
    finally:
        CheckpointLoader._schemes = saved[0]
        backends['local'], prefix_to_backends[''] = saved[1], saved[2]
        if saved[3] is None:
            checkpoint_hook_module.__dict__.pop('open', None)
        else:
            checkpoint_hook_module.open = saved[3]
    return work_dir
