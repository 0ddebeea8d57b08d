"""tools/test.py --tta: every image tested at several resolutions, softmax scores averaged."""
from __future__ import annotations

import pickle

import pytest
import torch

from san_tools_helpers import run_tool, write_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def trained(image_folder, tmp_path_factory):
    root = tmp_path_factory.mktemp('tta')
    config = write_config(root / 'config.py', image_folder, max_iters=2, ckpt_interval=2)
    run_tool('train.py', str(config), '--work-dir', str(root / 'work'))
    return root, config, root / 'work' / 'iter_2.pth'


def predictions(trained, *args: str) -> list[torch.Tensor]:
    root, config, checkpoint = trained
    name = '_'.join(a.strip('-') for a in args)
    out = root / f'{name}.pkl'
    run_tool('test.py', str(config), str(checkpoint), *args, '--out', str(out), '--work-dir', str(root / name))
    return [sample['pred_score'] for sample in pickle.loads(out.read_bytes())]


def test_tta_scores_are_the_mean_of_the_single_resolution_scores(trained):
    at_32, at_24 = predictions(trained, '--resolution', '32'), predictions(trained, '--resolution', '24')
    averaged = predictions(trained, '--tta', '32', '24')
    assert len(averaged) == len(at_32) == 8
    for tta, a, b in zip(averaged, at_32, at_24):
        torch.testing.assert_close(tta, (a + b) / 2)


@pytest.mark.parametrize('args, message', [(['--tta', '32'], 'two or more distinct'),
                                           (['--tta', '32', '24', '--resolution', '32'], 'exclude each other')])
def test_bad_tta_arguments_are_refused(trained, args, message):
    root, config, checkpoint = trained
    done = run_tool('test.py', str(config), str(checkpoint), *args, check=False)
    assert done.returncode != 0 and message in done.stderr
