"""Smoke test of the Imagenette Table 1 benchmark (issue 7): every model of the experiment trains
one iteration on a tiny generated folder dataset, is evaluated at two test resolutions and with
two multi-resolution combinations, and the report (markdown, json, png) is written; multi-resolution
entries are then added to eval.json files that lack them (run.py --steps tta, evaluate.py) without
re-running what is there. Catches broken configs, runner, evaluation or report."""
import json
from pathlib import Path

import pytest

pytest.importorskip('mmpretrain')
from image_layouts import write_image_folder  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def run_module():
    from benchmarks.imagenette import run  # noqa: PLC0415  (after the mmpretrain skip)
    return run


def test_every_model_trains_evaluates_and_reports(tmp_path, run_module):
    import torch
    data = write_image_folder(tmp_path / 'data', per_split={'train': 4, 'val': 4},  # Imagenette's wnids
                              sizes=((40, 40), (44, 40), (48, 40), (52, 40)), grayscale_first=True)
    work, out = tmp_path / 'work', tmp_path / 'results' / 'imagenette_resnet18'
    threads = torch.get_num_threads()
    options = ['--data-root', str(data), '--work-dir', str(work), '--out', str(out), '--epochs', '1', '--batch-size',
               '8', '--finetune-epochs', '1', '--num-workers', '0', '--width', '0.25', '--test-resolutions', '48', '32',
               '--eval-batch-size', '8', '--in-process', '--threads', '1', '--tta', '48,32', '56,48']
    try:  # --threads 1: no OpenMP spin-waiting when the machine is busy
        run_module.main(options)
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
        # multi-resolution testing: every model, its GFLOPs counted at every size it needs
        assert {k: v['resolutions'] for k, v in result['tta'].items()} == {'48+32': [48, 32], '56+48': [56, 48]}
        assert all(0 <= v['top1'] <= 100 for v in result['tta'].values())
        assert list(result['gflops']) == ['56', '48', '32'] and 0 < result['gflops']['32'] < result['gflops']['56']
    assert json.loads((work / 'san' / 'eval.json').read_text())['proxy'] == {'48': 48, '32': 32}

    md = out.with_suffix('.md').read_text()
    assert '## Baselines' in md and '## Diagonal' in md and '## Targets (SAN' in md
    assert 'Not finished' not in md
    summary = json.loads(out.with_suffix('.json').read_text())['summary']
    assert set(summary['san']['diagonal_gain']) == {'48', '32'}  # only these are tested here
    assert out.with_suffix('.png').stat().st_size > 0
    tta_md = md.split('## Multi-resolution testing')[1]
    assert '| 48+32 | ' in tta_md and '| 56+48 | ' in tta_md and 'baseline trained at 64' in tta_md
    san_tta = {e['views']: e for e in summary['tta']['san']}
    gflops = json.loads((work / 'san' / 'eval.json').read_text())['gflops']
    assert san_tta['56+48']['gflops'] == pytest.approx(gflops['56'] + gflops['48'])
    assert san_tta['56+48']['at_largest'] is None and san_tta['48+32']['at_largest']['resolution'] == 48

    tta_added_later(run_module, work, options)


def tta_added_later(run_module, work: Path, options: list[str]) -> None:
    """eval.json files without multi-resolution entries (as written before them) get them from
    ``run.py --steps tta`` and ``evaluate.py``, equal to those of a full evaluation; what is there
    is not evaluated again."""
    from benchmarks.imagenette import evaluate  # noqa: PLC0415
    full = {name: json.loads((work / name / 'eval.json').read_text()) for name in ('san', 'baseline_64')}
    for name, result in full.items():
        old = {k: v for k, v in result.items() if k not in ('tta', 'gflops')}
        (work / name / 'eval.json').write_text(json.dumps(old))
    run_module.main(options + ['--models', 'san,baseline_64', '--steps', 'tta'])
    for name, result in full.items():
        added = json.loads((work / name / 'eval.json').read_text())
        assert added['rows'] == result['rows'] and added['gflops'] == pytest.approx(result['gflops'])
        assert {k: v['top1'] for k, v in added['tta'].items()} == \
            pytest.approx({k: v['top1'] for k, v in result['tta'].items()})

    san = work / 'san'
    evaluate.main([str(san), '--tta', '40,32', '48,32', '--batch-size', '8', '--num-workers', '0'])
    added = json.loads((san / 'eval.json').read_text())
    assert list(added['tta']) == ['48+32', '56+48', '40+32'] and '40' in added['gflops']
    assert added['tta']['48+32'] == full['san']['tta']['48+32']

    def no_model(*args):
        raise AssertionError('a complete eval.json was evaluated again')

    build_model, evaluate.build_model = evaluate.build_model, no_model
    try:
        evaluate.main([str(san), '--tta', '40,32', '48,32'])
    finally:
        evaluate.build_model = build_model
    with pytest.raises(ValueError, match=r"got \[40, 40\]"):
        evaluate.add_tta(san / 'eval.json', None, '', [(40, 40)])


def run_configs() -> dict:
    from benchmarks.imagenette import run  # noqa: PLC0415
    return {f'{arch}:{name}': path for arch in ('resnet18', *run.ARCH_CONFIGS)
            for name, path in run.configs_for(arch).items()}


def test_config_family_is_one_recipe():
    from mmengine.config import Config
    from san_plugin.mm.resolutions import apply_training_sizes
    cfgs = {p.stem: Config.fromfile(str(p)) for p in sorted((REPO / 'configs' / 'imagenette').glob('*.py'))}
    assert set(cfgs) == {Path(path).stem for path in run_configs().values()}  # the runner trains every one
    for family in ('resnet18', 'mobilenetv2'):
        recipes = {(c.optim_wrapper.optimizer.lr, c.optim_wrapper.optimizer.weight_decay, c.train_cfg.max_epochs,
                    c.train_dataloader.batch_size, c.data_root) for n, c in cfgs.items()
                   if family in n and not n.endswith('_finetune')}
        assert len(recipes) == 1, family  # the fine-tuned SAN has its own (shorter) schedule, the same data and decay
    for name, cfg in cfgs.items():
        if 'mobilenetv2' in name:
            assert cfg.model.backbone.type == 'MobileNetV2' and cfg.optim_wrapper.optimizer.weight_decay == 4e-5
            continue
        assert cfg.model.backbone.depth == 18 and cfg.model.backbone.get('deep_stem', False) is False
        if name.startswith('baseline'):
            size = int(name.rsplit('_', 1)[1])
            assert cfg.train_resolution == size  # the one key; the crops follow it when the runner starts
            apply_training_sizes(cfg)
            crop = cfg.train_dataloader.dataset.pipeline[1]
            assert crop.type == 'RandomResizedCrop' and crop.scale == size and crop.backend == 'pillow'
            assert cfg.val_dataloader.dataset.pipeline[2].crop_size == size
    assert cfgs['san_resnet18_imagenette_nodistill'].model.head.distill is None
    assert cfgs['san_resnet18_imagenette_sharedconv'].model.san.convs == 'shared'
    assert cfgs['san_mobilenetv2_imagenette_mean'].model.head.loss_form == 'mean'
    assert cfgs['san_mobilenetv2_imagenette_clip'].optim_wrapper.clip_grad.max_norm == 20.0
    assert cfgs['san_mobilenetv2_imagenette_warmup5'].warmup_epochs == 5


def test_mobilenetv2_family_trains_evaluates_and_reports(tmp_path, run_module):
    """``--arch mobilenetv2``: every model gets mmpretrain's MobileNetV2 (the paper's weight decay) in
    the ResNet-18's place, the SAN converts it, and the report names it."""
    import torch
    data = write_image_folder(tmp_path / 'data', per_split={'train': 2, 'val': 2}, sizes=((40, 40), (48, 40)))
    work, out = tmp_path / 'work', tmp_path / 'results' / 'imagenette_mobilenetv2'
    threads = torch.get_num_threads()
    try:
        run_module.main(['--arch', 'mobilenetv2', '--width', '0.25', '--models', 'san,baseline_64,baseline_32',
                         '--data-root', str(data), '--work-dir', str(work), '--out', str(out), '--epochs', '1',
                         '--batch-size', '8', '--num-workers', '0', '--test-resolutions', '48', '32',
                         '--eval-batch-size', '8', '--in-process', '--threads', '1', '--tta', '48,32'])
    finally:
        torch.set_num_threads(threads)
    for name in ('san', 'baseline_64', 'baseline_32'):
        config = (work / name / f'{name}_run_config.py').read_text()
        assert "type='MobileNetV2'" in config and 'widen_factor=0.25' in config and 'weight_decay=4e-05' in config
        assert json.loads((work / name / 'timing.json').read_text())['arch'] == 'mobilenetv2'
        result = json.loads((work / name / 'eval.json').read_text())
        assert result['num_images'] == 4 and all(0 <= v <= 100 for row in result['rows'].values() for v in row.values())
    md = out.with_suffix('.md').read_text()
    assert md.startswith('# Table 1 on Imagenette: MobileNetV2 SAN') and 'widen_factor 0.25' in md
    assert '## Baselines (one MobileNetV2 per training resolution)' in md


def test_unknown_arch_is_refused(run_module):
    with pytest.raises(SystemExit):
        run_module.parse_args(['--arch', 'vgg'])


def test_views_from_crop_rewrites_only_the_san_pipeline(run_module):
    """``--views crop``: every SAN view is resized from the crop in the workers (the ResNet-18 sweep's
    pipeline); the shipped configs' default makes the smaller ones in the preprocessor; baselines untouched."""
    crop = run_module.parse_args(['--views', 'crop'])
    shipped = run_module.parse_args([])
    san, _ = run_module.model_config('san', crop)
    step = [s for s in san.train_dataloader.dataset.pipeline if s.type == 'MultiResolution'][0]
    assert step.largest_only is False and san.data_preprocessor.resize_on_device is False
    default, _ = run_module.model_config('san', shipped)
    step = [s for s in default.train_dataloader.dataset.pipeline if s.type == 'MultiResolution'][0]
    assert step.largest_only is True and default.data_preprocessor.resize_on_device is True
    baseline, _ = run_module.model_config('baseline_64', crop)
    assert baseline.to_dict() == run_module.model_config('baseline_64', shipped)[0].to_dict()


def test_a_run_killed_mid_way_resumes_from_its_last_epoch(tmp_path, run_module, monkeypatch):
    """Every epoch leaves a checkpoint; running the same command again continues after the last one
    instead of starting over (a machine lost mid-run costs at most one epoch)."""
    import torch
    from mmengine.runner import EpochBasedTrainLoop
    data = write_image_folder(tmp_path / 'data', per_split={'train': 2, 'val': 2}, sizes=((40, 40),))
    work = tmp_path / 'work'
    options = ['--models', 'baseline_32', '--width', '0.25', '--data-root', str(data), '--work-dir', str(work),
               '--epochs', '2', '--warmup-epochs', '0', '--batch-size', '8', '--num-workers', '0', '--steps', 'train',
               '--in-process', '--threads', '1']
    run_epoch = EpochBasedTrainLoop.run_epoch

    def killed_in_second_epoch(loop):
        if loop.epoch == 1:
            raise KeyboardInterrupt('machine lost')
        run_epoch(loop)

    threads = torch.get_num_threads()
    try:
        monkeypatch.setattr(EpochBasedTrainLoop, 'run_epoch', killed_in_second_epoch)
        with pytest.raises(KeyboardInterrupt):
            run_module.main(options)
        run_dir = work / 'baseline_32'
        assert (run_dir / 'epoch_1.pth').exists() and not (run_dir / 'timing.json').exists()
        monkeypatch.setattr(EpochBasedTrainLoop, 'run_epoch', run_epoch)
        run_module.main(options)
    finally:
        torch.set_num_threads(threads)
    timing = json.loads((run_dir / 'timing.json').read_text())
    assert timing['resumed_after_epoch'] == 1 and Path(timing['checkpoint']).name == 'epoch_2.pth'
    assert (run_dir / 'epoch_2.pth').exists() and not (run_dir / 'epoch_1.pth').exists()
    assert torch.load(run_dir / 'epoch_2.pth', map_location='cpu', weights_only=False)['meta']['epoch'] == 2
