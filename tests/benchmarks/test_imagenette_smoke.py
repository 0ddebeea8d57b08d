"""Smoke test of the Imagenette Table 1 benchmark (issue 7): every model of the experiment trains
one iteration on a tiny generated folder dataset, is evaluated at two test resolutions, and the
report (markdown, json, png) is written. Catches broken configs, runner, evaluation or report."""
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip('mmpretrain')
from image_layouts import write_image_folder  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / 'benchmarks' / 'imagenette'


@pytest.fixture(scope='module')
def run_module():
    sys.path.insert(0, str(BENCH))
    try:
        import run  # noqa: PLC0415
        yield run
    finally:
        sys.path.remove(str(BENCH))


def test_every_model_trains_evaluates_and_reports(tmp_path, run_module):
    import torch
    data = write_image_folder(tmp_path / 'data', per_split={'train': 4, 'val': 4},  # Imagenette's wnids
                              sizes=((40, 40), (44, 40), (48, 40), (52, 40)), grayscale_first=True)
    work, out = tmp_path / 'work', tmp_path / 'results' / 'imagenette_resnet18'
    threads = torch.get_num_threads()
    try:  # --threads 1: no OpenMP spin-waiting when the machine is busy
        run_module.main(['--data-root', str(data), '--work-dir', str(work), '--out', str(out), '--epochs', '1',
                         '--batch-size', '8', '--finetune-epochs', '1', '--num-workers', '0', '--width', '0.25', '--test-resolutions', '48',
                         '32', '--eval-batch-size', '8', '--in-process', '--threads', '1'])
    finally:
        torch.set_num_threads(threads)

    for name in run_module.CONFIGS:
        timing = json.loads((work / name / 'timing.json').read_text())
        assert timing['epochs'] == 1 and Path(timing['checkpoint']).exists()
        result = json.loads((work / name / 'eval.json').read_text())
        assert result['num_images'] == 8
        cells = [(row, t, v) for row, row_cells in result['rows'].items() for t, v in row_cells.items()]
        # the SAN: every BN branch x every test size; a baseline: one row; an ablation: its proxy cells
        assert len(cells) == (5 * 2 if name == 'san' else 2)
        assert {t for _, t, _ in cells} == {'48', '32'} and all(0 <= v <= 100 for _, _, v in cells)
        if name.startswith('san_'):
            assert {(row, t) for row, t, _ in cells} == {('48', '48'), ('32', '32')}
    assert json.loads((work / 'san' / 'eval.json').read_text())['proxy'] == {'48': 48, '32': 32}

    md = out.with_suffix('.md').read_text()
    assert '## Baselines' in md and '## Diagonal' in md and '## Issue targets' in md
    assert 'Not finished' not in md
    summary = json.loads(out.with_suffix('.json').read_text())['summary']
    assert set(summary['san']['diagonal_gain']) == {'48', '32'}  # only these are tested here
    assert out.with_suffix('.png').stat().st_size > 0


def run_configs() -> dict:
    sys.path.insert(0, str(BENCH))
    try:
        import run  # noqa: PLC0415
        return run.CONFIGS
    finally:
        sys.path.remove(str(BENCH))


def test_config_family_is_one_recipe():
    from mmengine.config import Config
    cfgs = {p.stem: Config.fromfile(str(p)) for p in sorted((REPO / 'configs' / 'imagenette').glob('*.py'))}
    assert set(cfgs) == {Path(path).stem for path in run_configs().values()}  # the runner trains every one
    recipes = {(c.optim_wrapper.optimizer.lr, c.optim_wrapper.optimizer.weight_decay, c.train_cfg.max_epochs,
                c.train_dataloader.batch_size, c.data_root) for n, c in cfgs.items() if not n.endswith('_finetune')}
    assert len(recipes) == 1  # the fine-tuned SAN has its own (shorter) schedule, the same data and decay
    for name, cfg in cfgs.items():
        assert cfg.model.backbone.depth == 18 and cfg.model.backbone.get('deep_stem', False) is False
        if name.startswith('baseline'):
            size = int(name.rsplit('_', 1)[1])
            crop = cfg.train_dataloader.dataset.pipeline[1]
            assert crop.type == 'RandomResizedCrop' and crop.scale == size and crop.backend == 'pillow'
            assert cfg.val_dataloader.dataset.pipeline[2].crop_size == size
    assert cfgs['san_resnet18_imagenette_nodistill'].model.head.distill is None
    assert cfgs['san_resnet18_imagenette_sharedconv'].model.san.convs == 'shared'
