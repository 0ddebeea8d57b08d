"""tools/cascade.py (fit, evaluate, save beside the checkpoint), tools/test.py --cascade and
tools/export.py --cascade on a tiny SAN and generated images in the ImageNet folder layout; the
MMPretrain cascade gives the single-size predictions when every image stops at one size."""
from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.runner import Runner, load_checkpoint
from mmpretrain.registry import MODELS, TRANSFORMS
from PIL import Image

from san_plugin.cascade import Cascade, CascadeBundle, CascadeMismatchError, cross_fit, fit_cascade, model_fingerprint
from san_plugin.evaluation import deployed_gflops
from san_plugin.evaluation.test_crop import center_crop
from san_plugin.mm.cascade import cascade_probabilities, set_cascade_test
from san_plugin.mm.cli.config import load_config
from san_plugin.mm.eval_pipeline import set_model_resolution
from san_plugin.mm.model_from_config import build_model, model_config
from san_tools_helpers import REPO, run_tool, write_config
from tiny_models import save_confident_san

RESOLUTIONS = (32, 24, 16)
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def tiny(image_folder, tmp_path_factory):
    """A config and a checkpoint of an untrained SAN whose predictions vary from image to image and size to size."""
    root = tmp_path_factory.mktemp('cascade')
    config = write_config(root / 'config.py', image_folder, resolutions=RESOLUTIONS)
    cfg = load_config(str(config))
    checkpoint = root / 'epoch_1.pth'
    model = save_confident_san(cfg, checkpoint)
    model = build_model(cfg, str(checkpoint))
    probs, labels = cascade_probabilities(model, cfg, RESOLUTIONS, crop_ratio=0.875)
    return root, config, cfg, checkpoint, model, probs, labels


def test_the_tool_fits_evaluates_and_saves_beside_the_checkpoint(tiny):
    root, config, cfg, checkpoint, model, probs, labels = tiny
    gflops = deployed_gflops(model, RESOLUTIONS)
    budget = (gflops[16] + gflops[24]) / 2
    done = run_tool('cascade.py', str(config), str(checkpoint), '--budget', str(budget))
    saved = Cascade.load(root / 'epoch_1_cascade.json')
    assert f'thresholds written: {root / "epoch_1_cascade.json"}' in done.stdout
    assert saved.resolutions == RESOLUTIONS and saved.fingerprint == model_fingerprint(model)
    assert saved.checkpoint == str(checkpoint) and saved.gflops == {s: pytest.approx(gflops[s]) for s in saved.sizes}
    refit = fit_cascade(probs, labels, gflops, budget=budget)  # the saved rule: fitted on the whole test set
    assert (saved.sizes, saved.thresholds) == (refit.sizes, pytest.approx(refit.thresholds))
    evaluation = saved.fit['evaluation']
    crossed = cross_fit(probs, labels, gflops, [{'budget': budget}], parts=2, seed=0)[0]
    assert evaluation['top1'] == pytest.approx(crossed.top1) and evaluation['images'] == 8
    assert evaluation['mean_gflops'] == pytest.approx(crossed.mean_gflops)
    assert {int(s): c for s, c in evaluation['counts'].items()} == crossed.counts
    assert 'cross-fitting over halves' in evaluation['method']
    for size in RESOLUTIONS:
        top1 = 100.0 * float((probs[size].argmax(1) == labels).float().mean())
        assert evaluation['single_size'][str(size)]['top1'] == pytest.approx(top1)
        assert f'| SAN at {size} px | {top1:.2f} |' in done.stdout

    tool = load_tool('cascade.py')  # the other paths in this process: no second interpreter start
    tool.main([str(config), str(checkpoint), '--match-size', '16', '--fit-data-prefix', 'train',
               '--out', str(root / 'held_out.json')])
    fitted = Cascade.load(root / 'held_out.json')
    assert fitted.sizes == (16,) and 'held out: train' in fitted.fit['data'] and fitted.fit['images'] == 16
    assert 'held-out data' in fitted.fit['evaluation']['method']
    with pytest.raises(SystemExit, match='--budget: no cascade fits'):
        tool.main([str(config), str(checkpoint), '--budget', str(gflops[16] / 2)])


def test_the_report_names_the_saved_thresholds_and_flags_other_sizes_and_a_cost_over_budget():
    tool = load_tool('cascade.py')
    single = {16: {'top1': 60.0, 'gflops': 0.01}, 24: {'top1': 65.0, 'gflops': 0.02}, 32: {'top1': 70.0, 'gflops': 0.04}}
    fit = {'budget_gflops': 0.03, 'fit_top1': 68.0, 'fit_mean_gflops': 0.0290, 'images': 100,
           'data': 'the whole test set (the evaluation below is cross-fitted over its halves)'}
    saved = Cascade((16, 24), (0.8,), {16: 0.01, 24: 0.02}, fit=fit)
    halves = [{'sizes': [16, 24], 'thresholds': [0.7], 'fit_top1': 67.0, 'fit_mean_gflops': 0.0280, 'images': 50,
               'top1': 66.0, 'mean_gflops': 0.0290},
              {'sizes': [16, 32], 'thresholds': [0.9], 'fit_top1': 69.0, 'fit_mean_gflops': 0.0295, 'images': 50,
               'top1': 68.0, 'mean_gflops': 0.0312}]
    crossed = {'method': 'two-fold cross-fitting over halves of the test set (seed 0)', 'top1': 67.0,
               'mean_gflops': 0.0301, 'counts': {16: 40, 24: 30, 32: 30}, 'parts': halves, 'images': 100,
               'single_size': single}
    text = tool.report(saved, crossed)
    for line in ['| cascade, cross-fitted | 67.00 | 0.0301 | 16 px: 40, 24 px: 30, 32 px: 30 |',
                 '- half 2 (50 images): sizes [16, 32], max_prob thresholds 16 px >= 0.9000; out of sample top-1 '
                 '68.00, mean GFLOPs 0.0312',
                 'Saved thresholds: sizes [16, 24], max_prob thresholds 16 px >= 0.8000, combine=last. They are fitted '
                 'on every test image, so nothing here scores them out of sample (in sample: top-1 68.00 at 0.0290 '
                 'GFLOPs)',
                 "Note: the saved thresholds run sizes [16, 24]; the cascade row's thresholds, fitted on each half, "
                 'ran sizes [16, 24, 32].',
                 'Note: out of sample, half 2 costs 0.0312 GFLOPs per image, over the budget 0.0300 (on the half '
                 'its thresholds were fitted on: 0.0295).']:
        assert line in text
    assert 'half 1 costs' not in text
    same = [dict(h, sizes=[16, 24], mean_gflops=0.0290) for h in halves]
    assert 'Note:' not in tool.report(saved, {**crossed, 'parts': same})

    held_out = dataclasses.replace(saved, fit={**fit, 'data': 'held out: train', 'images': 16})
    scored = {'method': 'thresholds fitted on the held-out data, scored on the test set', 'top1': 66.5,
              'mean_gflops': 0.0305, 'counts': {16: 60, 24: 40}, 'images': 100, 'single_size': single}
    text = tool.report(held_out, scored)
    for line in ['| cascade, saved thresholds | 66.50 | 0.0305 | 16 px: 60, 24 px: 40 |',
                 'Saved thresholds: sizes [16, 24], max_prob thresholds 16 px >= 0.8000, combine=last; fitted on '
                 'held out: train (16 images, top-1 68.00 at 0.0290 GFLOPs there); the cascade row scores them out '
                 'of sample',
                 'Note: out of sample, the saved thresholds cost 0.0305 GFLOPs per image, over the budget 0.0300 (on '
                 'their fit data: 0.0290).']:
        assert line in text
    assert 'Note:' not in tool.report(held_out, {**scored, 'mean_gflops': 0.0299})


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f'tool_{name[:-3]}', REPO / 'tools' / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_test_py_runs_the_thresholds(tiny, tmp_path):
    root, config, cfg, checkpoint, model, probs, labels = tiny
    gflops = deployed_gflops(model, RESOLUTIONS)
    thresholds = fit_cascade(probs, labels, gflops, budget=(gflops[16] + gflops[32]) / 2, grid=4,
                             resolutions=RESOLUTIONS, fingerprint=model_fingerprint(model), checkpoint=str(checkpoint))
    assert len(thresholds.sizes) > 1
    path = thresholds.save(tmp_path / 'cascade.json')
    out = tmp_path / 'predictions.pkl'
    done = run_tool('test.py', str(config), str(checkpoint), '--cascade', str(path), '--out', str(out),
                    '--work-dir', str(tmp_path / 'work'))
    expected = thresholds.simulate(probs)
    samples = pickle.loads(out.read_bytes())
    torch.testing.assert_close(torch.stack([s['pred_score'] for s in samples]), expected.probs, rtol=1e-5, atol=1e-6)
    assert [s['cascade_size'] for s in samples] == [thresholds.sizes[i] for i in expected.exit_stage.tolist()]
    log = done.stdout + done.stderr
    top1 = 100.0 * float((expected.probs.argmax(1) == labels).float().mean())
    assert float(re.search(r'accuracy/top1: ([0-9.]+)', log).group(1)) == pytest.approx(top1, abs=1e-3)
    assert float(re.search(r'cascade/mean_gflops: ([0-9.]+)', log).group(1)) == pytest.approx(
        thresholds.mean_gflops(expected), abs=1e-4)



def test_thresholds_of_other_weights_are_refused_at_the_first_batch(tiny, tmp_path):
    root, config, cfg, checkpoint, model, probs, labels = tiny
    gflops = deployed_gflops(model, RESOLUTIONS)
    cascade = Cascade((16, 32), (0.6,), gflops, resolutions=RESOLUTIONS, fingerprint=model_fingerprint(model),
                      checkpoint=str(checkpoint))
    path = cascade.save(tmp_path / 'cascade.json')
    cascade_cfg = copy.deepcopy(cfg)
    set_cascade_test(cascade_cfg, str(path), cascade)
    other = MODELS.build(model_config(cascade_cfg)).eval()
    state = torch.load(checkpoint, weights_only=True)['state_dict']
    state['head.fc.bias'] += 1.0
    other.load_state_dict(state)
    batch = next(iter(Runner.build_dataloader(cascade_cfg.test_dataloader)))
    with pytest.raises(CascadeMismatchError, match=rf'the thresholds in {path} were fitted for other weights '
                                                   rf'\({checkpoint}, sha256:.*the loaded checkpoint has sha256:'):
        other.test_step(batch)


def test_every_image_stopping_at_one_size_gives_the_single_size_predictions(tiny):
    root, config, cfg, checkpoint, model, probs, labels = tiny
    gflops = deployed_gflops(model, RESOLUTIONS)
    fingerprint = model_fingerprint(model)
    cases = {16: Cascade((16, 24, 32), (0.0, 0.0), gflops, resolutions=RESOLUTIONS, fingerprint=fingerprint),
             24: Cascade((24,), (), gflops, resolutions=RESOLUTIONS, fingerprint=fingerprint),
             32: Cascade((16, 32), (2.0,), gflops, resolutions=RESOLUTIONS, fingerprint=fingerprint)}
    for size, cascade in cases.items():
        path = cascade.save(root / f'at_{size}.json')
        cascade_cfg = copy.deepcopy(cfg)
        set_cascade_test(cascade_cfg, str(path), cascade)
        cascade_model = MODELS.build(model_config(cascade_cfg)).eval()
        load_checkpoint(cascade_model, str(checkpoint), map_location='cpu', strict=True, logger='silent')
        single_cfg = copy.deepcopy(cfg)
        set_model_resolution(single_cfg, size, 0.875)
        with torch.no_grad():
            got = [s for batch in Runner.build_dataloader(cascade_cfg.test_dataloader)
                   for s in cascade_model.test_step(batch)]
            want = [s for batch in Runner.build_dataloader(single_cfg.test_dataloader) for s in model.test_step(batch)]
        assert len(got) == len(want) == 8
        for a, b in zip(got, want):
            assert torch.equal(a.pred_score, b.pred_score) and a.cascade_size == size
            assert torch.equal(a.pred_label, b.pred_label)

    bad = copy.deepcopy(cfg)
    bad.model.san.resolutions = [32, 16]
    with pytest.raises(CascadeMismatchError, match=r'fitted for a SAN trained at \[32, 24, 16\] px, the SAN of '
                                                   r'.*config.py is trained at \[32, 16\] px'):
        set_cascade_test(bad, 'at_24.json', cases[24])
    plain = copy.deepcopy(cfg)
    plain.model.san = None
    with pytest.raises(ValueError, match='the cascade runs a SAN'):
        set_cascade_test(plain, 'at_24.json', cases[24])


def test_export_py_writes_a_runnable_cascade_bundle(tiny, tmp_path):
    root, config, cfg, checkpoint, model, probs, labels = tiny
    gflops = deployed_gflops(model, RESOLUTIONS)
    cascade = Cascade((16, 32), (0.6,), gflops, resolutions=RESOLUTIONS, fingerprint=model_fingerprint(model))
    path = cascade.save(tmp_path / 'cascade.json')
    run_tool('export.py', str(config), str(checkpoint), '--cascade', str(path), '--out', str(tmp_path / 'bundle'))
    spec = json.loads((tmp_path / 'bundle' / 'cascade.json').read_text())
    assert spec['sizes'] == [16, 32] and spec['thresholds'] == [0.6] and spec['artifact_format'] == 'torchscript'
    assert spec['preprocessing']['mean'] == list(cfg.data_preprocessor.mean)
    bundle = CascadeBundle(tmp_path / 'bundle')
    images = sorted((Path(cfg.test_dataloader.dataset.data_root) / 'val').rglob('*.JPEG'))
    results = bundle.classify_files(images)
    expected = cascade.simulate(probs)  # the MMPretrain test pipeline's decode (cv2) and crops
    assert [r['size'] for r in results] == [cascade.sizes[i] for i in expected.exit_stage.tolist()]
    assert [r['label'] for r in results] == expected.probs.argmax(1).tolist()
    torch.testing.assert_close(torch.tensor([r['probability'] for r in results]), expected.probs.max(1).values,
                               rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize('size, rounding', [(16, 'round'), (24, 'floor'), (32, 'round'), (224, 'floor')])
def test_runtime_crops_equal_mmpretrain_test_crops(size, rounding):
    from san_plugin.mm.transforms import eval_resize_steps
    rng = np.random.default_rng(size)
    for width, height in ((53, 41), (40, 47), (500, 375), (41, 41)):
        pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        steps = [TRANSFORMS.build(step) for step in eval_resize_steps(size, 0.875, rounding=rounding)]
        results = {'img': pixels}
        for step in steps:
            results = step(results)
        assert np.array_equal(center_crop(Image.fromarray(pixels), size, 0.875, rounding=rounding), results['img'])
