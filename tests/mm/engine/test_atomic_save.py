"""Tests for san_plugin.mm.engine.atomic_save: checkpoints are written atomically."""
import builtins
import os
import os.path as osp
import signal

import mmengine.hooks.checkpoint_hook as checkpoint_hook_module
import pytest
import torch
from mmengine.fileio.backends import backends, prefix_to_backends
from mmengine.runner import save_checkpoint as mm_save_checkpoint

from san_plugin.mm.engine import atomic_save as atomic_save_module
from san_plugin.mm.engine.atomic_save import AtomicLocalBackend, atomic_save, install_atomic_checkpoint_saving
from import_graph import third_party_roots
from san_plugin.mm.engine.safe_load import CorruptCheckpointError, safe_load


def test_checkpoint_written_atomically(trained_dir):
    names = set(os.listdir(trained_dir))
    assert {'iter_2.pth', 'last_checkpoint'} <= names
    assert not [n for n in names if n.endswith('.tmp')]
    with open(trained_dir / 'last_checkpoint') as f:
        assert f.read() == osp.join(str(trained_dir), 'iter_2.pth')


# 5. atomic saving ----------------------------------------------------------


def test_install_is_idempotent():
    install_atomic_checkpoint_saving()
    install_atomic_checkpoint_saving()
    assert backends['local'] is AtomicLocalBackend
    assert prefix_to_backends[''] is AtomicLocalBackend
    assert checkpoint_hook_module.open is atomic_save_module._checkpoint_hook_open


def _assert_untouched(directory, path, old_bytes):
    assert os.listdir(directory) == [osp.basename(path)]
    with open(path, 'rb') as f:
        assert f.read() == old_bytes


def test_failed_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    install_atomic_checkpoint_saving()
    path = str(tmp_path / 'iter_2.pth')
    mm_save_checkpoint({'state_dict': {'w': torch.ones(3)}}, path)
    with open(path, 'rb') as f:
        old_bytes = f.read()

    def disk_full(fd):
        raise OSError(28, 'No space left on device')

    with monkeypatch.context() as patch:
        patch.setattr(atomic_save_module.os, 'fsync', disk_full)
        with pytest.raises(OSError, match='No space'):
            mm_save_checkpoint({'state_dict': {'w': torch.zeros(1000)}},
                               path)
    _assert_untouched(tmp_path, path, old_bytes)
    assert safe_load(path)['state_dict']['w'].tolist() == [1.0, 1.0, 1.0]


def test_failed_pickling_keeps_previous_file(tmp_path):
    path = str(tmp_path / 'model.pth')
    atomic_save({'w': torch.ones(2)}, path)
    with open(path, 'rb') as f:
        old_bytes = f.read()
    with pytest.raises(Exception):
        atomic_save({'w': torch.zeros(2), 'bad': lambda: None}, path)
    _assert_untouched(tmp_path, path, old_bytes)


def test_last_checkpoint_pointer_is_atomic(tmp_path, monkeypatch):
    install_atomic_checkpoint_saving()
    pointer = str(tmp_path / 'last_checkpoint')
    with checkpoint_hook_module.open(pointer, 'w') as f:
        f.write('/old/iter_2.pth')
    with monkeypatch.context() as patch:
        patch.setattr(atomic_save_module.os, 'replace', lambda *a: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            with checkpoint_hook_module.open(pointer, 'w') as f:
                f.write('/new/iter_4.pth')
    _assert_untouched(tmp_path, pointer, b'/old/iter_2.pth')
    with checkpoint_hook_module.open(pointer) as f:  # reads unchanged
        assert f.read() == '/old/iter_2.pth'


def _save_killed_midway(path, atomic):
    """Fork; the child overwrites ``path`` and is SIGKILLed mid-write."""
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        try:
            if atomic:
                install_atomic_checkpoint_saving()
            else:  # importing san_plugin.mm (e.g. another test in this worker) installed it
                from mmengine.fileio.backends import LocalBackend, register_backend
                register_backend('local', LocalBackend, force=True, prefixes='')
            real_open = builtins.open

            class DiesMidWrite:

                def __init__(self, file):
                    self.file = file

                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    self.file.close()

                def write(self, data):
                    self.file.write(data[:len(data) // 2])
                    self.file.flush()
                    os.kill(os.getpid(), signal.SIGKILL)

                def __getattr__(self, name):
                    return getattr(self.file, name)

            def open_dying(file, mode='r', *args, **kwargs):
                handle = real_open(file, mode, *args, **kwargs)
                if 'b' in mode and ('w' in mode or 'x' in mode):
                    return DiesMidWrite(handle)
                return handle

            builtins.open = open_dying
            mm_save_checkpoint({'state_dict': {'w': torch.zeros(4096)}},
                               path)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


@pytest.mark.skipif(not hasattr(os, 'fork'), reason='needs os.fork')
@pytest.mark.parametrize('atomic', [False, True])
def test_sigkill_mid_write(tmp_path, atomic):
    path = str(tmp_path / 'iter_2.pth')
    atomic_save({'state_dict': {'w': torch.ones(4096)}}, path)
    _save_killed_midway(path, atomic)
    if atomic:
        assert safe_load(path)['state_dict']['w'].sum() == 4096
        leftovers = [n for n in os.listdir(tmp_path) if n != 'iter_2.pth']
        assert len(leftovers) == 1 and leftovers[0].endswith('.tmp')
    else:  # stock mmengine: the previous checkpoint is destroyed
        with pytest.raises(CorruptCheckpointError):
            safe_load(path)


def test_module_imports_only_torch_numpy_mmengine_stdlib():
    third_party = third_party_roots(atomic_save_module.__file__)
    assert third_party <= {'torch', 'numpy', 'mmengine'}
