"""The paper's ImageNet configs through the entry points users run, on a tiny ImageNet layout.

``tools/train.py`` then ``tools/test.py --resolution 176`` (ResNet-50), MMPretrain's own
``tools/train.py`` (ResNet-50) and ``tools/dist_train.sh ... 2`` (ResNet-18, two CPU processes),
each in a process of its own (``python`` scripts forked from a warm interpreter: ``script_runner``), exactly as the ImageNet section of docs/training.md shows them, with only the
``--cfg-options`` of ``smoke_options`` added.
"""
from __future__ import annotations

import re
from pathlib import Path

import mmpretrain
import pytest
from mmengine.config import Config

from image_layouts import write_imagenet
from san_tools_helpers import REPO, run_tool, tool_env
from script_runner import run_script
from smoke_options import as_cli, smoke_options

R50 = REPO / 'configs' / 'san_resnet50_imagenet.py'
R18 = REPO / 'configs' / 'san_resnet18_imagenet.py'
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def imagenet(tmp_path_factory) -> Path:
    return write_imagenet(tmp_path_factory.mktemp('imagenet'))


def options(config: Path, data_root: Path) -> list[str]:
    return as_cli(smoke_options(Config.fromfile(str(config)), data_root))


def mean_top1(output: str) -> float:
    found = re.findall(r'accuracy/top1_mean: ([0-9.]+)', output)
    assert found, output[-3000:]
    return float(found[-1])


def test_train_then_test_at_176(imagenet, tmp_path):
    work = tmp_path / 'work'
    trained = run_tool('train.py', str(R50), '--work-dir', str(work), *options(R50, imagenet), timeout=900)
    assert 0 <= mean_top1(trained.stdout + trained.stderr) <= 100
    for size in (224, 192, 160, 128, 96):
        assert f'accuracy/top1_{size}:' in trained.stdout + trained.stderr
    tested = run_tool('test.py', str(R50), str(work / 'epoch_1.pth'), '--resolution', '176', '--work-dir',
                      str(tmp_path / 'test'), *options(R50, imagenet), timeout=900)
    assert re.search(r'accuracy/top1: [0-9.]+', tested.stdout + tested.stderr), tested.stdout[-3000:]


def test_mmpretrain_own_train_py(imagenet, tmp_path):
    stock = Path(mmpretrain.__file__).parent / '.mim' / 'tools' / 'train.py'
    if not stock.exists():
        pytest.skip('this mmpretrain install ships no tools/train.py')
    work = tmp_path / 'stock'
    done = run_script(stock, [str(R50), '--work-dir', str(work), *options(R50, imagenet)], tool_env(), tmp_path,
                      timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (work / 'epoch_1.pth').exists()
    assert 0 <= mean_top1(done.stdout + done.stderr) <= 100


def test_dist_train_two_cpu_processes(imagenet, tmp_path):
    work = tmp_path / 'dist'
    done = run_tool('dist_train.sh', str(R18), '2', '--work-dir', str(work), *options(R18, imagenet), timeout=900)
    assert (work / 'epoch_1.pth').exists()
    assert 0 <= mean_top1(done.stdout + done.stderr) <= 100
