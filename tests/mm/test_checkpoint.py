"""Tests for san_plugin.mm.checkpoint: safe loading and atomic saving."""
import ast
import builtins
import os
import os.path as osp
import pickle
import signal
import subprocess
import sys
import uuid

import mmengine.hooks.checkpoint_hook as checkpoint_hook_module
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.fileio.backends import backends, prefix_to_backends
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
import mmengine.runner.checkpoint as mm_checkpoint
from mmengine.runner import CheckpointLoader, Runner, load_checkpoint
from mmengine.runner import save_checkpoint as mm_save_checkpoint
from torch.utils.data import Dataset

from san_plugin.mm import checkpoint as ckpt_mod
from san_plugin.mm.checkpoint import (AtomicLocalBackend,
                                      CorruptCheckpointError,
                                      UnsafeCheckpointError, atomic_save,
                                      install_atomic_checkpoint_saving,
                                      register_safe_checkpoint_loader,
                                      safe_load)

TORCH_WEIGHTS_ONLY_DEFAULT = tuple(
    int(v) for v in torch.__version__.split('+')[0].split('.')[:2]) >= (2, 6)


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


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, x, y=None, mode='tensor'):
        out = self.fc(x).squeeze(-1)
        if mode == 'loss':
            return {'loss': ((out - y)**2).mean()}
        return out


class ToyDataset(Dataset):
    metainfo = dict(classes=('a', 'b'), palette=np.arange(6).reshape(2, 3))

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return dict(x=torch.full((2, ), float(index)), y=torch.tensor(1.0))


class CountIters(Hook):

    def __init__(self):
        self.count = 0

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.count += 1


def make_runner(work_dir, max_iters, **kwargs):
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        experiment_name=f'toy_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2,
                            by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0),
        **kwargs)


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


def write_evil_checkpoint(path, reduce_value):

    class Evil:

        def __reduce__(self):
            return reduce_value

    torch.save({'state_dict': {'w': torch.zeros(1)}, 'x': Evil()}, path)


# 1. real mmengine checkpoints -------------------------------------------


def test_safe_load_reads_mmengine_checkpoint(trained_dir):
    ckpt = safe_load(trained_dir / 'iter_2.pth')
    assert ckpt['meta']['iter'] == 2
    np.testing.assert_array_equal(ckpt['meta']['dataset_meta']['palette'],
                                  ToyDataset.metainfo['palette'])
    buffer = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert np.isfinite(buffer.mean())  # statistics restored via getattr
    assert set(ckpt['state_dict']) == {'fc.weight', 'fc.bias'}
    # Nothing leaks into torch's process-wide allowlist.
    assert HistoryBuffer not in torch.serialization.get_safe_globals()


def test_safe_load_keeps_user_allowlist(trained_dir):
    with torch.serialization.safe_globals([HistoryBuffer]):
        safe_load(trained_dir / 'iter_2.pth')
        assert HistoryBuffer in torch.serialization.get_safe_globals()


def test_checkpoint_written_atomically(trained_dir):
    names = set(os.listdir(trained_dir))
    assert {'iter_2.pth', 'last_checkpoint'} <= names
    assert not [n for n in names if n.endswith('.tmp')]
    with open(trained_dir / 'last_checkpoint') as f:
        assert f.read() == osp.join(str(trained_dir), 'iter_2.pth')


@pytest.mark.skipif(not TORCH_WEIGHTS_ONLY_DEFAULT, reason='torch < 2.6')
def test_resume_fails_without_safe_loader(trained_dir, tmp_path):
    # Importing san_plugin.mm registers the safe loader: put mmengine's back.
    CheckpointLoader.register_scheme('', mm_checkpoint.load_from_local,
                                     force=True)
    runner = make_runner(
        tmp_path, max_iters=4, load_from=str(trained_dir / 'iter_2.pth'),
        resume=True)
    with pytest.raises(pickle.UnpicklingError):
        runner.train()


def test_resume_and_load_from_after_register(trained_dir, tmp_path):
    register_safe_checkpoint_loader()
    register_safe_checkpoint_loader()  # idempotent
    assert CheckpointLoader._get_checkpoint_loader(
        str(trained_dir / 'iter_2.pth')) is ckpt_mod.load_from_safe_local
    counter = CountIters()
    runner = make_runner(
        tmp_path, max_iters=4, load_from=str(trained_dir / 'iter_2.pth'),
        resume=True, custom_hooks=[counter])
    runner.train()
    assert runner.iter == 4 and counter.count == 2  # continued from iter 2

    model = ToyModel()
    load_checkpoint(model, str(trained_dir / 'iter_2.pth'))
    saved = safe_load(trained_dir / 'iter_2.pth')['state_dict']
    torch.testing.assert_close(model.fc.weight, saved['fc.weight'])

    runner = make_runner(tmp_path / 'b', max_iters=2,
                         load_from=str(trained_dir / 'iter_2.pth'))
    runner.load_or_resume()
    torch.testing.assert_close(runner.model.fc.bias, saved['fc.bias'])


# 2./3. malicious checkpoints ----------------------------------------------


@pytest.mark.parametrize('kind', ['os.system', 'eval', 'subprocess'])
def test_malicious_reduce_is_refused(tmp_path, kind):
    marker = tmp_path / 'pwned'
    command = f'touch {marker}'
    reduce_value, name = {
        'os.system': ((os.system, (command, )), f'{os.name}.system'),
        'eval': ((eval, (f"__import__('os').system({command!r})", )),
                 'builtins.eval'),
        'subprocess': ((subprocess.call, (['touch', str(marker)], )),
                       'subprocess.call'),
    }[kind]
    path = tmp_path / 'evil.pth'
    write_evil_checkpoint(path, reduce_value)

    with pytest.raises(UnsafeCheckpointError) as info:
        safe_load(path)
    assert info.value.global_name == name
    assert str(path) in str(info.value) and name in str(info.value)

    register_safe_checkpoint_loader()
    with pytest.raises(UnsafeCheckpointError, match=name):
        load_checkpoint(ToyModel(), str(path))
    assert not marker.exists()


@pytest.mark.parametrize('reduce_value,name', [
    ((getattr, (HistoryBuffer.__init__, '__globals__')),
     "getattr(mmengine.logging.history_buffer.HistoryBuffer, '__init__')"),
    ((getattr, (HistoryBuffer, 'register_statistics')),
     "getattr(mmengine.logging.history_buffer.HistoryBuffer, "
     "'register_statistics')"),
    ((getattr, (np.ndarray, 'tofile')), "getattr(numpy.ndarray, 'tofile')"),
])
def test_getattr_outside_allowlist_is_refused(tmp_path, reduce_value, name):
    path = tmp_path / 'evil.pth'
    write_evil_checkpoint(path, reduce_value)
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_load(path)
    assert info.value.global_name == f'builtins.{name}'


def test_getattr_reaching_os_is_refused(tmp_path):
    # Hand-written pickle: getattr(__import__('os'), 'system')('true').
    payload = (b'\x80\x02c__builtin__\ngetattr\nc__builtin__\n__import__\n'
               b'X\x02\x00\x00\x00os\x85RX\x06\x00\x00\x00system\x86R'
               b'X\x04\x00\x00\x00true\x85R.')
    path = tmp_path / 'evil.pth'
    path.write_bytes(payload)
    with pytest.raises(UnsafeCheckpointError, match='__import__'):
        safe_load(path)


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / 'objects.pth'
    torch.save({'a': np.array([1, 'x'], dtype=object)}, path)
    with pytest.raises(UnsafeCheckpointError, match='ObjectDType'):
        safe_load(path)


# 4. plain state dicts ------------------------------------------------------


@pytest.mark.parametrize('wrap', [None, 'state_dict', 'model'])
def test_plain_state_dict_loads(tmp_path, wrap):
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(),
                        nn.LazyLinear(2))
    net(torch.zeros(1, 3, 5, 5))
    state = net.state_dict()
    path = tmp_path / 'weights.pth'
    extra = {'epoch': 3, 'dtype': np.dtype('float32'),
             'score': np.float64(0.5), 'dtype_cls': np.dtypes.Float32DType}
    torch.save(state if wrap is None else {wrap: state, **extra}, path)
    loaded = safe_load(path, map_location='cpu')
    loaded_state = loaded if wrap is None else loaded[wrap]
    assert list(loaded_state) == list(state)
    for key in state:
        torch.testing.assert_close(loaded_state[key], state[key])
    if wrap is not None:
        assert loaded['score'] == 0.5 and loaded['dtype'] == np.float32
    with open(path, 'rb') as f:  # file objects too
        assert list(safe_load(f)) == list(loaded)


# 5. atomic saving ----------------------------------------------------------


def test_install_is_idempotent():
    install_atomic_checkpoint_saving()
    install_atomic_checkpoint_saving()
    assert backends['local'] is AtomicLocalBackend
    assert prefix_to_backends[''] is AtomicLocalBackend
    assert checkpoint_hook_module.open is ckpt_mod._checkpoint_hook_open


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
        patch.setattr(ckpt_mod.os, 'fsync', disk_full)
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
        patch.setattr(ckpt_mod.os, 'replace', lambda *a: 1 / 0)
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


# 6. missing and truncated files ------------------------------------------


def test_missing_file_names_path(tmp_path):
    path = str(tmp_path / 'nope.pth')
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        safe_load(path)
    register_safe_checkpoint_loader()
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_checkpoint(ToyModel(), path)


def test_truncated_file_names_path(trained_dir, tmp_path):
    data = (trained_dir / 'iter_2.pth').read_bytes()
    path = tmp_path / 'cut.pth'
    for size in (0, 10, len(data) // 3, len(data) // 2, len(data) - 10,
                 len(data) - 1):
        path.write_bytes(data[:size])
        with pytest.raises(CorruptCheckpointError) as info:
            safe_load(path)
        assert str(path) in str(info.value)
        assert isinstance(info.value, RuntimeError)


def test_garbage_file_names_path(tmp_path):
    path = tmp_path / 'garbage.pth'
    path.write_bytes(b'not a checkpoint at all' * 10)
    with pytest.raises(CorruptCheckpointError, match='garbage.pth'):
        safe_load(path)


def test_module_imports_only_torch_numpy_mmengine_stdlib():
    with open(ckpt_mod.__file__) as f:
        tree = ast.parse(f.read())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split('.')[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split('.')[0])
    third_party = roots - set(sys.stdlib_module_names)
    assert third_party <= {'torch', 'numpy', 'mmengine'}
