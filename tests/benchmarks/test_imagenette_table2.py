"""The Table 2 script (ideal inference before/after BN calibration, interpolation, proxy inference, the
diagnosis of off-grid sizes) on a tiny SAN and a tiny baseline that run.py trains for one iteration on a
generated class-folder dataset; its settings and views on their own."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip('mmpretrain')
from image_layouts import write_image_folder  # noqa: E402
from tiny_models import randomise_san_  # noqa: E402

TESTS = ['52', '48', '44']  # 48 is a training size, 52 and 44 lie between training sizes
CALIB_IMAGES = 5


@pytest.fixture(scope='module')
def measured(tmp_path_factory):
    """One trained tiny SAN and baseline, and one table2 run with --diagnose."""
    from benchmarks.imagenette import run, table2
    root = tmp_path_factory.mktemp('table2')
    data = write_image_folder(root / 'data', per_split={'train': 4, 'val': 3}, sizes=((40, 40), (52, 44), (60, 48)))
    work = root / 'work'
    threads = torch.get_num_threads()
    try:
        run.main(['--data-root', str(data), '--work-dir', str(work), '--models', 'san,baseline_48', '--epochs', '1',
                  '--batch-size', '8', '--num-workers', '0', '--width', '0.25', '--steps', 'train', '--in-process',
                  '--threads', '1'])
        prefix = root / 'results' / 'imagenette_table2_resnet18'
        table2.main([str(work / 'san'), '--baselines', str(work / 'baseline_48'), '--data-root', str(data),
                     '--tests', *TESTS, '--calib-images', str(CALIB_IMAGES), '--calib-batch-size', '4', '--out',
                     str(prefix), '--diagnose', '--diagnose-pairs', '44:48', '--num-workers', '0'])
    finally:
        torch.set_num_threads(threads)
    return dict(data=data, work=work, prefix=prefix, result=json.loads(Path(f'{prefix}.json').read_text()))


def test_every_setting_is_a_full_grid(measured):
    result = measured['result']
    train = ['64', '56', '48', '40', '32']
    assert result['tests'] == [52, 48, 44] and result['train_resolutions'] == [64, 56, 48, 40, 32]
    assert result['num_images'] == 6 and result['proxy_row'] == {'52': 56, '48': 48, '44': 48}
    cells = result['cells']
    for setting in ('before', 'calibrated', 'proxy'):
        assert list(cells[setting]) == train
        assert all(list(row) == TESTS and all(0 <= v <= 100 for v in row.values()) for row in cells[setting].values())
    assert list(cells['interpolated']) == TESTS and list(cells['baselines']) == ['baseline_48']
    assert result['interpolation_weights'] == {'52': pytest.approx({'56': 0.5, '48': 0.5}),
                                               '44': pytest.approx({'48': 0.5, '40': 0.5})}
    per_size = result['summary']['per_size']
    assert per_size['44']['nearest'] == 48 and per_size['44']['proxy'] == cells['proxy']['48']['44']
    assert per_size['44']['envelope'] == cells['baselines']['baseline_48']['44']
    assert result['san']['run_info']['epochs'] == 1 and result['baselines']['baseline_48']['train_resolutions'] == [48]
    assert result['command'].startswith('python benchmarks/imagenette/table2.py ')


def test_ideal_before_calibration_is_proxy_on_the_diagonal(measured):
    result = measured['result']
    assert result['cells']['before']['48']['48'] == result['cells']['proxy']['48']['48']
    checks = result['checks']['max_abs_logit_difference']
    assert checks == {'48': {'before_vs_proxy': 0.0, 'interpolated_vs_proxy': 0.0}}


def test_calibration_reads_only_training_images(measured):
    calib = measured['result']['calibration']
    data = measured['data']
    train_files = {p.relative_to(data).as_posix() for p in (data / 'train').rglob('*.JPEG')}
    assert calib['split'] == 'train' and calib['num_images'] == CALIB_IMAGES == len(set(calib['paths']))
    assert set(calib['paths']) <= train_files
    assert all(n == CALIB_IMAGES for row in calib['images_used'].values() for n in row.values())
    assert calib['step']['type'] == 'MultiResolution' and calib['step']['crop_ratio_range'] == [0.35, 1.0]
    assert calib['batch_size'] == 4 and set(calib['wall_s']) == {'64', '56', '48', '40', '32'}


def test_from_json_rewrites_the_same_markdown(measured):
    from benchmarks.imagenette import table2
    md = Path(f'{measured["prefix"]}.md')
    written = md.read_bytes()
    md.unlink()

    def no_model(*args, **kwargs):
        raise AssertionError('--from-json evaluated a model')

    measure, table2.measure = table2.measure, no_model
    try:
        table2.main(['--from-json', f'{measured["prefix"]}.json'])
    finally:
        table2.measure = measure
    assert md.read_bytes() == written
    text = written.decode()
    for heading in ('## Ideal inference before BN calibration', '## Ideal inference after BN calibration',
                    '## Proxy inference', '## Data-free BN interpolation', '## Per test size',
                    "## Compared with the paper's pattern", '## Checks', '### Feature-map size after each stage',
                    '### The same pixels at another size', '### Test crops'):
        assert heading in text
    assert Path(f'{measured["prefix"]}.png').stat().st_size > 0
    assert str(measured['work']) not in text  # no path of the machine that ran it


def test_diagnosis_tables(measured):
    result = measured['result']
    diag = result['diagnose']
    maps = diag['feature_maps']
    assert set(maps) == {'san', 'baseline_48'} and maps['san'] == maps['baseline_48']
    assert list(maps['san']) == ['conv1', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4']  # no norm/relu rows
    assert maps['san']['maxpool']['44'] == [11, 11] and maps['san']['layer2']['44'] == [6, 6]
    assert maps['san']['layer3']['52'] == [4, 4] and maps['san']['layer4']['48'] == [2, 2]
    rows = {(r['model'], r['size'], r['to']): r for r in diag['resized']}
    assert set(rows) == {('san', 44, 48), ('baseline_48', 44, 48)}
    assert rows['san', 44, 48]['at_size'] == result['cells']['proxy']['48']['44']
    assert rows['baseline_48', 44, 48]['at_to'] == result['cells']['baselines']['baseline_48']['48']
    assert all(r['padded'] is not None for r in rows.values())
    crops = {c['variant']: c for c in diag['crops'] if c['size'] == 44}
    assert crops['standard (round)']['short'] == 50 and crops['short side rounded up']['short'] == 51
    assert crops['standard (round)']['top1']['san'] == result['cells']['proxy']['48']['44']
    assert 'crop of 48 resized to 44' in crops and 'centre 44 of the short side for 40' in crops


def test_row_model_runs_eps_of_t_with_the_rows_branch(measured):
    """A row's copy: every test size runs eps(T) with S_j's branch (a training size's own branch is
    replaced); calibration then changes the branch's statistics only."""
    from benchmarks.imagenette.evaluate import build_model, model_dir_inputs
    from benchmarks.imagenette.table2_settings import calibrate_row, row_model
    from san_plugin.core import get_controller, private_norms
    san = build_model(*model_dir_inputs(measured['work'] / 'san'))
    randomise_san_(san.backbone)
    before = row_model(san, [52, 48, 44], source=56)
    controller = get_controller(before.backbone)
    assert controller.mode == 'ideal' and get_controller(san.backbone).mode == 'proxy'
    for t in (52, 48, 44):
        plan = controller.inference_plan(t)
        assert plan.eps == controller.encoding(t) and plan.bn_key == str(t)
        for norm in private_norms(before.backbone):
            for name, value in norm.branch(t).state_dict().items():
                assert torch.equal(value, norm.branch(56).state_dict()[name]), (t, name)
    x = torch.randn(2, 3, 56, 56)
    with torch.no_grad():
        assert torch.equal(before(x, mode='tensor'), san(x, mode='tensor'))  # T = S_j: the SAN itself

    images = torch.randn(6, 3, 44, 44)
    calibrated, used, _ = calibrate_row(before, lambda t: [images[:3], images[3:]], [44], source=56)
    assert used == {44: 6}
    norm = next(private_norms(calibrated.backbone))
    old = next(private_norms(before.backbone)).branch(44)
    assert torch.equal(norm.branch(44).weight, old.weight) and not torch.equal(norm.branch(44).running_mean,
                                                                               old.running_mean)


def test_standard_view_is_the_test_pipelines_crop(tmp_path):
    """ViewMaker's standard crop is MultiResolutionTest's, pixel for pixel; a padded view is zeros around it."""
    from mmpretrain.registry import TRANSFORMS
    import san_plugin.mm  # noqa: F401
    from benchmarks.imagenette.table2_views import View, ViewMaker, fit_view
    image = np.random.default_rng(0).integers(0, 255, size=(61, 83, 3), dtype=np.uint8)
    expected = TRANSFORMS.build(dict(type='MultiResolutionTest', resolutions=[44, 36]))(dict(img=image))['img']
    views = [View.standard(44), View.standard(36), View.standard(44).resized(48)]
    made = ViewMaker([v.pixels for v in views])(dict(img=image))['img']
    assert np.array_equal(made[0], expected[0]) and np.array_equal(made[1], expected[1])
    assert made[2].shape == (48, 48, 3)
    x = torch.ones(1, 3, 44, 44)
    padded = fit_view(x, View.standard(44).padded(48))
    assert padded.shape == (1, 3, 48, 48) and padded.sum() == x.sum() and torch.equal(padded[..., 2:46, 2:46], x)


def test_view_names_and_neighbours():
    from benchmarks.imagenette.table2_views import View, nearest_multiples, short_side
    assert (short_side(44), short_side(44, 'floor'), short_side(44, 'ceil'), short_side(72)) == (50, 50, 51, 82)
    assert nearest_multiples(44) == [48, 40, 32] and nearest_multiples(72) == [80, 64]
    assert View.standard(44).padded(48).key == 's50c44p48'
    with pytest.raises(ValueError, match='cannot pad a 44 px crop to 40 px'):
        View.standard(44).padded(40)


def test_bad_options_are_refused():
    from benchmarks.imagenette import table2
    with pytest.raises(SystemExit):
        table2.parse_args([])  # neither a SAN folder nor --from-json
    with pytest.raises(SystemExit):
        table2.parse_args(['san', '--diagnose-pairs', '44:48'])  # without --diagnose
    with pytest.raises(SystemExit):
        table2.parse_args(['san', '--tests', '48', '48'])
    assert table2.parse_pair('36:40,32') == (36, (40, 32))
