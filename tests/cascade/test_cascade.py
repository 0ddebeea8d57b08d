"""The per-image resolution cascade: batched decisions, equality with single-size runs, the
thresholds file and its refusals, fingerprints, and the library path of a timm user."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from san_plugin.cascade import (Cascade, CascadeMismatchError, collect_probabilities, fit_cascade, model_fingerprint,
                                run_cascade, simulate_cascade, single_size, state_fingerprint)
from san_plugin.cascade.fit import threshold_grid
from san_plugin.cascade.rule import confidence
from san_plugin.evaluation import MultiSizeViews, deployed_gflops
from tiny_models import tiny_san

SIZES = (16, 24, 32)
GFLOPS = {16: 1.0, 24: 2.0, 32: 4.0}


@pytest.fixture(scope='module')
def san():
    return tiny_san((32, 16), w_std=0.3).eval()


@pytest.fixture(scope='module')
def views():
    generator = torch.Generator().manual_seed(0)
    return {s: torch.randn(40, 3, s, s, generator=generator) for s in SIZES}


def softmax_at(model, views) -> dict[int, torch.Tensor]:
    with torch.no_grad():
        return {s: torch.softmax(model(x), dim=1) for s, x in views.items()}


def median_thresholds(probs, score='max_prob') -> tuple[float, float]:
    return tuple(float(threshold_grid(confidence(probs[s], score), 1)[0]) for s in SIZES[:-1])


class Recorder:
    """A SAN that records the size and batch of every call."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def __call__(self, size, x):
        self.calls.append((size, x.size(0)))
        assert x.shape[-1] == size
        return self.model(x)


@pytest.mark.parametrize('score', ['max_prob', 'margin'])
def test_each_size_runs_only_the_undecided_images_as_one_batch(san, views, score):
    probs = softmax_at(san, views)
    thresholds = median_thresholds(probs, score)
    confident = [confidence(probs[s], score) >= t for s, t in zip(SIZES, thresholds)]
    expected_exit = torch.where(confident[0], 0, torch.where(confident[1], 1, 2))
    recorder = Recorder(san)
    with torch.no_grad():
        outcome = run_cascade(recorder, views, SIZES, thresholds, score=score)
    undecided = [40, int((~confident[0]).sum()), int((~confident[0] & ~confident[1]).sum())]
    assert recorder.calls == list(zip(SIZES, undecided)) and 0 < undecided[2] < undecided[1] < 40
    assert torch.equal(outcome.exit_stage, expected_exit)
    for stage, size in enumerate(SIZES):  # each image keeps the softmax of its own exit size
        rows = expected_exit == stage
        torch.testing.assert_close(outcome.probs[rows], probs[size][rows], rtol=1e-5, atol=1e-6)
    simulated = simulate_cascade(probs, SIZES, thresholds, score=score)
    assert torch.equal(simulated.exit_stage, outcome.exit_stage)
    torch.testing.assert_close(simulated.probs, outcome.probs, rtol=1e-5, atol=1e-6)


def test_lazy_views_are_made_only_for_the_images_that_reach_a_size(san, views):
    probs = softmax_at(san, views)
    thresholds = median_thresholds(probs)
    asked = []

    def make(size, rows):
        asked.append((size, None if rows is None else rows.tolist()))
        return views[size] if rows is None else views[size][rows]

    with torch.no_grad():
        outcome = run_cascade(lambda s, x: san(x), make, SIZES, thresholds, count=40)
    assert asked[0] == (16, None)
    assert asked[1] == (24, torch.nonzero(outcome.exit_stage >= 1).flatten().tolist())
    assert asked[2] == (32, torch.nonzero(outcome.exit_stage == 2).flatten().tolist())
    with pytest.raises(ValueError, match='give count='):
        run_cascade(lambda s, x: san(x), make, SIZES, thresholds)


def test_combine_mean_scores_an_image_by_the_mean_over_the_sizes_it_passed(san, views):
    probs = softmax_at(san, views)
    running = torch.cumsum(torch.stack([probs[s] for s in SIZES]), dim=0) / torch.arange(1, 4).view(3, 1, 1)
    thresholds = median_thresholds({16: running[0], 24: running[1]})
    with torch.no_grad():
        outcome = run_cascade(lambda s, x: san(x), views, SIZES, thresholds, combine='mean')
    expected = running[outcome.exit_stage, torch.arange(40)]
    torch.testing.assert_close(outcome.probs, expected, rtol=1e-5, atol=1e-6)
    confident = [running[j].max(1).values >= thresholds[j] for j in range(2)]
    assert torch.equal(outcome.exit_stage, torch.where(confident[0], 0, torch.where(confident[1], 1, 2)))
    assert outcome.exit_stage.bincount(minlength=3).min() > 0


def test_every_image_stopping_at_one_size_equals_the_single_size_run(san, views):
    probs = {}
    with torch.no_grad():
        for size in SIZES:
            probs[size] = torch.softmax(san(views[size]).float(), dim=1)
        alone = single_size(24, GFLOPS).run(lambda s, x: san(x), views)
        first = Cascade(SIZES, (0.0, 0.0), GFLOPS)
        at_first = first.run(lambda s, x: san(x), views)
        last = Cascade(SIZES, (2.0, 2.0), GFLOPS)
        at_last = last.run(lambda s, x: san(x), views)
    assert torch.equal(alone.probs, probs[24]) and torch.equal(alone.exit_stage, torch.zeros(40, dtype=torch.long))
    assert torch.equal(at_first.probs, probs[16]) and first.counts(at_first) == {16: 40, 24: 0, 32: 0}
    assert torch.equal(at_last.probs, probs[32]) and last.counts(at_last) == {16: 0, 24: 0, 32: 40}
    assert first.mean_gflops(at_first) == 1.0 and last.mean_gflops(at_last) == 7.0  # every size passed is charged


def test_the_thresholds_file_round_trips_and_refuses_other_models(san, tmp_path):
    cascade = Cascade(SIZES, (0.7, 0.6), GFLOPS, score='margin', resolutions=(32, 16),
                      fingerprint=model_fingerprint(san), checkpoint='work/epoch_3.pth', fit={'budget_gflops': 2.0})
    path = cascade.save(tmp_path / 'epoch_3_cascade.json')
    loaded = Cascade.load(path)
    assert loaded == cascade
    loaded.check_model(san)
    with pytest.raises(CascadeMismatchError, match=r'fitted for other weights \(work/epoch_3.pth, sha256:'):
        loaded.check_model(tiny_san((32, 16), seed=1))
    with pytest.raises(CascadeMismatchError, match=r'trained at \[32, 16\] px, this model is trained at \[32, 24\]'):
        loaded.check_model(tiny_san((32, 24)))

    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, 'thresholds': [0.7]}))
    with pytest.raises(ValueError, match=r'epoch_3_cascade.json: need one threshold per size but the last'):
        Cascade.load(path)
    path.write_text(json.dumps({**data, 'sizes': [32, 24, 16]}))
    with pytest.raises(ValueError, match='ascending order'):
        Cascade.load(path)
    path.write_text(json.dumps({**data, 'version': 2}))
    with pytest.raises(ValueError, match='thresholds file of version 2; this san_plugin reads version 1'):
        Cascade.load(path)
    path.write_text(json.dumps({'format': 'san_plugin.bundle'}))
    with pytest.raises(ValueError, match='is not a thresholds file'):
        Cascade.load(path)
    with pytest.raises(FileNotFoundError, match='thresholds file not found'):
        Cascade.load(tmp_path / 'missing.json')


def test_fingerprints_follow_the_weights(san, tmp_path):
    assert model_fingerprint(copy.deepcopy(san)) == model_fingerprint(san)
    torch.save(san.state_dict(), tmp_path / 'weights.pth')
    assert state_fingerprint(torch.load(tmp_path / 'weights.pth', weights_only=True)) == model_fingerprint(san)
    changed = copy.deepcopy(san)
    with torch.no_grad():
        next(m for m in changed.modules() if hasattr(m, 'running_mean')).running_mean[0] += 1e-3
    assert model_fingerprint(changed) != model_fingerprint(san)


def test_a_timm_user_fits_and_runs_a_cascade(tmp_path):
    timm = pytest.importorskip('timm')
    datasets = pytest.importorskip('torchvision.datasets')
    from image_layouts import write_image_folder
    root = write_image_folder(tmp_path, classes=('a', 'b', 'c'), per_split={'val': 6},
                              sizes=((40, 40), (52, 40), (40, 47)))
    torch.manual_seed(0)
    model = timm.create_model('san_resnet18', resolutions=[32, 16], num_classes=3).eval()
    sizes = [32, 24, 16]
    dataset = datasets.ImageFolder(str(root / 'val'), transform=MultiSizeViews(sizes))
    loader = torch.utils.data.DataLoader(dataset, batch_size=5)
    probs, labels = collect_probabilities(lambda s, x: model(x), loader, sizes)
    assert probs[24].shape == (18, 3) and labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    gflops = deployed_gflops(model, sizes)
    assert 0 < gflops[16] < gflops[24] < gflops[32]
    cascade = fit_cascade(probs, labels, gflops, budget=gflops[24], resolutions=(32, 16),
                          fingerprint=model_fingerprint(model))
    cascade.check_model(model)
    fitted = cascade.simulate(probs)
    assert cascade.mean_gflops(fitted) == pytest.approx(cascade.fit['fit_mean_gflops'])
    assert cascade.fit['fit_mean_gflops'] <= gflops[24] * (1 + 1e-9)
    hits = (fitted.probs.argmax(1) == labels).float().mean() * 100
    assert float(hits) == pytest.approx(cascade.fit['fit_top1'])
    all_views = {s: torch.cat([batch[s] for batch, _ in loader]) for s in sizes}
    with torch.no_grad():
        ran = cascade.run(lambda s, x: model(x), all_views)
    assert torch.equal(ran.exit_stage, fitted.exit_stage)
    torch.testing.assert_close(ran.probs, fitted.probs, rtol=1e-5, atol=1e-6)
