"""tools/test.py --tta: every image tested at several resolutions, softmax scores averaged; the
sweep's --tta (tools/eval_resolutions.py) reports the accuracy of those scores."""
from __future__ import annotations

import json
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


def dumped(trained, *args: str) -> list[dict]:
    """The samples ``tools/test.py ... --out`` dumps (``pred_score``, ``gt_label``...)."""
    root, config, checkpoint = trained
    name = '_'.join(a.strip('-') for a in args)
    out = root / f'{name}.pkl'
    run_tool('test.py', str(config), str(checkpoint), *args, '--out', str(out), '--work-dir', str(root / name))
    return pickle.loads(out.read_bytes())


def predictions(trained, *args: str) -> list[torch.Tensor]:
    return [sample['pred_score'] for sample in dumped(trained, *args)]


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


def test_the_sweep_reports_the_accuracy_and_summed_cost_of_the_averaged_softmax(trained):
    root, config, checkpoint = trained
    out = root / 'sweep' / 'tta'
    run_tool('eval_resolutions.py', str(config), str(checkpoint), '--resolutions', '32', '24', '--tta', '32,24',
             '--tta', '40,32,24', '--out', str(out))
    sweep = json.loads(out.with_suffix('.json').read_text())
    assert sweep['test_resolutions'] == [40, 32, 24]  # the views' sizes join the single-resolution columns
    entries = {tuple(entry['resolutions']): entry for entry in sweep['tta']}
    assert list(entries) == [(32, 24), (40, 32, 24)] and {e['source'] for e in entries.values()} == {'proxy'}
    md = out.with_suffix('.md').read_text().split('## Multi-resolution testing')[1]
    for combination, entry in entries.items():
        samples = dumped(trained, '--tta', *map(str, combination))
        hits = [int(s['pred_score'].argmax()) == int(s['gt_label']) for s in samples]
        assert entry['top1'] == pytest.approx(100.0 * sum(hits) / len(hits))
        assert entry['cost']['gflops'] == pytest.approx(sum(sweep['costs'][str(s)]['gflops'] for s in combination))
        views = '+'.join(map(str, combination))
        assert f"| SAN (proxy) | {views} | {entry['top1']:.2f} | {entry['top5']:.2f} | {entry['cost']['gflops']:.3f} |" in md
    assert out.with_name('tta_tta.csv').read_text().count('SAN (proxy)') == 2


def test_bad_sweep_combinations_are_refused(trained):
    root, config, checkpoint = trained
    done = run_tool('eval_resolutions.py', str(config), str(checkpoint), '--resolutions', '32', '--tta', '32',
                    check=False)
    assert done.returncode != 0 and "--tta '32'" in done.stderr and 'two or more distinct' in done.stderr
