"""Smoke test of the Imagenette cascade benchmark on a tiny SAN and generated images: the
single-size, averaging, cross-fitted cascade and learned-predictor numbers, the timing and the report
are written."""
import json

import pytest
import torch

pytest.importorskip('mmpretrain')
from image_layouts import write_image_folder  # noqa: E402
from tiny_models import save_confident_san  # noqa: E402

from benchmarks.imagenette import cascade  # noqa: E402
from benchmarks.imagenette import resolution_predictor as predictor  # noqa: E402


@pytest.fixture
def tiny_run(tmp_path):
    from mmengine.config import Config

    import san_plugin.mm  # noqa: F401
    data = write_image_folder(tmp_path / 'data', per_split={'val': 6}, sizes=((40, 40), (52, 40), (40, 47)))
    cfg = Config.fromfile('configs/demo/san_resnet18_demo.py')
    cfg.merge_from_dict({'model.backbone.base_channels': 8, 'model.backbone.stem_channels': 8,
                         'model.head.in_channels': 64, 'model.head.num_classes': 2, 'data_preprocessor.num_classes': 2,
                         'test_dataloader.dataset.data_root': str(data), 'test_dataloader.num_workers': 0,
                         'test_dataloader.persistent_workers': False})
    config = tmp_path / 'san_run_config.py'
    cfg.dump(str(config))
    checkpoint = tmp_path / 'epoch_1.pth'
    save_confident_san(cfg, checkpoint)
    sweep = tmp_path / 'sweep.json'
    sweep.write_text(json.dumps({'best_vs_best': {
        'baseline_64': {'lr': 0.1, 'top1': 60.0, 'rates_tried': [0.1]},
        'baseline_32': {'lr': 0.05, 'top1': 50.0, 'rates_tried': [0.05, 0.1]}, 'san': {'lr': 0.1}}}))
    return config, checkpoint, sweep, tmp_path / 'results' / 'imagenette_cascade'


def test_the_benchmark_reports_every_comparison(tiny_run):
    config, checkpoint, sweep, out = tiny_run
    threads = torch.get_num_threads()
    try:
        result = cascade.main(['--config', str(config), '--checkpoint', str(checkpoint), '--sweep', str(sweep),
                               '--splits', '2', '--grid', '4', '--timing-rounds', '2', '--batch-size', '5',
                               '--num-workers', '0', '--out', str(out)])
    finally:
        torch.set_num_threads(threads)
    assert result['images'] == 12 and result['sizes'] == [32, 48, 64]
    assert result['gflops'] == pytest.approx(result['plain_gflops'])  # baked SAN = the unconverted model
    assert [b['size'] for b in result['baselines']] == [64, 32] and result['baselines'][0]['gflops'] > 0
    assert [t['sizes'] for t in result['tta']] == [[64, 48], [48, 32], [64, 48, 32]]
    for rows in result['curves'].values():
        for row in rows:
            if 'top1' in row:
                assert sum(row['counts'].values()) == pytest.approx(12) and 0 <= row['top1'] <= 100
    predicted = [row for row in result['predictor'] if 'top1' in row]
    assert predicted and all(sum(row['counts'].values()) == pytest.approx(12) for row in predicted)
    assert all(row['mean_gflops'] <= row['budget'] * 1.5 for row in predicted)
    equal = result['targets']['at_equal_top1']
    assert equal['target'] == {'match_size': 64} and 'gain' in equal
    timing = result['timing']
    assert timing['exits_differing_from_simulation'] == 0 and timing['ratio'] > 0
    assert len(timing['times_s']['single']) == len(timing['times_s']['cascade']) == 2
    md = out.with_suffix('.md').read_text()
    assert '## Targets' in md and 'ratio' in md and 'imagenette_lr_sweep.json' in md
    assert json.loads(out.with_suffix('.json').read_text())['single_size']['64']['top1'] == \
        result['single_size'][64]['top1']
    assert str(config) not in md and str(checkpoint) not in md  # the paths of this machine are not printed
    # the same markdown again from the json alone
    out.with_suffix('.md').unlink()
    cascade.main(['--from', str(out.with_suffix('.json')), '--out', str(out)])
    assert out.with_suffix('.md').read_text() == md


def test_a_predictor_that_sees_the_answer_picks_the_cheapest_right_size():
    generator = torch.Generator().manual_seed(0)
    correct = torch.rand(80, 3, generator=generator) < torch.tensor([0.4, 0.6, 0.8])
    x = correct.float() + 0.01 * torch.randn(80, 3, generator=generator)  # it sees where the SAN is right
    gflops = {16: 1.0, 24: 2.0, 32: 4.0}
    rows = predictor.crossfit_predictor(x, correct, [16, 24, 32], gflops, [0.5, 6.0], splits=2)
    assert 'top1' not in rows[0] and rows[0]['splits'] == 0  # below the smallest size's cost
    assert rows[1]['top1'] == pytest.approx(100.0 * float(correct.any(1).float().mean()))  # right wherever it can be
    cheapest_right = torch.tensor([[1.0, 3.0, 5.0]]).expand(80, 3).masked_fill(~correct, 99).min(1).values
    oracle = float(torch.where(correct.any(1), cheapest_right, 1.0).mean())  # hopeless images: no need to climb
    assert rows[1]['mean_gflops'] == pytest.approx(oracle, abs=0.1) and oracle < 0.5 * rows[1]['budget']
