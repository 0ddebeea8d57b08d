"""Tests for san_plugin.mm.engine.safe_load: checkpoints load with weights_only=True and a narrow allowlist."""
import os
import pickle
import subprocess

import mmengine.runner.checkpoint as mm_checkpoint
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader, load_checkpoint

from san_plugin.mm.engine import safe_load as safe_load_module
from san_plugin.mm.engine.safe_load import (CorruptCheckpointError, NotACheckpointError, UnsafeCheckpointError,
                                            register_safe_checkpoint_loader, safe_load)
from import_graph import third_party_roots
from toy_runs import CountIters, ToyDataset, ToyModel, make_runner

TORCH_WEIGHTS_ONLY_DEFAULT = tuple(
    int(v) for v in torch.__version__.split('+')[0].split('.')[:2]) >= (2, 6)


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
        str(trained_dir / 'iter_2.pth')) is safe_load_module.load_from_safe_local
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
    third_party = third_party_roots(safe_load_module.__file__)
    assert third_party <= {'torch', 'numpy', 'mmengine'}


def test_a_file_that_is_not_a_checkpoint_is_called_what_it_is(tmp_path):
    """An image or a text file is not 'the partial write of an interrupted save'."""
    from PIL import Image

    image = tmp_path / 'photo.JPEG'
    Image.new('RGB', (8, 8)).save(image)
    text = tmp_path / 'notes.pth'
    text.write_text('epoch 6: top-1 71.2\n')
    for path, kind in ((image, 'a JPEG image'), (text, 'a text file')):
        with pytest.raises(NotACheckpointError) as info:
            safe_load(path)
        assert str(info.value).startswith(f'{path} is not a PyTorch checkpoint: it is {kind}, not the zip archive')
        assert 'interrupted save' not in str(info.value)
        assert isinstance(info.value, CorruptCheckpointError)
