"""Fitting a cascade's thresholds: a known answer, the exactness of the grid's scores, the budget
and target picks and their errors, and cross-fitting."""
from __future__ import annotations

import pytest
import torch

from san_plugin.cascade import Cascade, cascade_frontier, cross_fit, fit_cascade
from san_plugin.cascade.cross_fitting import split_parts
from san_plugin.cascade.fit import pick, threshold_grid
from san_plugin.evaluation.sweep_result import NoOperatingPointError

GFLOPS = {16: 1.0, 24: 2.0, 32: 4.0}


def known_case(n: int = 40) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    """At 16 px half the images are confident (0.9) and right, half unsure (0.55) and wrong;
    at 24 px every image is right with 0.6, at 32 px with 0.95."""
    labels = torch.arange(n) % 2
    right = torch.nn.functional.one_hot(labels, 2).float()
    sure = (torch.arange(n) // 2) % 2 == 0
    p16 = torch.where(sure[:, None], 0.1 + 0.8 * right, 0.55 - 0.1 * right)
    return {16: p16, 24: 0.4 + 0.2 * right, 32: 0.05 + 0.9 * right}, labels


def random_case(n: int = 60, classes: int = 5, seed: int = 0) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=generator)
    probs = {}
    for step, size in enumerate(GFLOPS):
        logits = torch.randn(n, classes, generator=generator) * 1.5
        logits[torch.arange(n), labels] += 0.7 * step
        probs[size] = torch.softmax(logits, dim=1)
    return probs, labels


def test_the_known_answer():
    probs, labels = known_case()
    gflops = {16: 1.0, 24: 3.0, 32: 4.0}
    cheapest_perfect = fit_cascade(probs, labels, gflops, target_top1=100.0)
    assert cheapest_perfect.sizes == (16, 24) and 0.55 < cheapest_perfect.thresholds[0] < 0.9
    assert cheapest_perfect.fit['fit_top1'] == 100.0 and cheapest_perfect.fit['fit_mean_gflops'] == 2.5  # 1 + 3 / 2
    assert fit_cascade(probs, labels, gflops, budget=2.4).sizes == (16,)  # 50%: nothing better fits
    assert fit_cascade(probs, labels, gflops, budget=2.5).sizes == (16, 24)
    with pytest.raises(NoOperatingPointError, match='no cascade fits 0.5 GFLOPs per image; the cheapest costs 1'):
        fit_cascade(probs, labels, GFLOPS, budget=0.5)
    with pytest.raises(NoOperatingPointError, match=r'no cascade reaches top-1 100.50% on the fit data; the best '
                                                    r'reaches 100.00%'):
        fit_cascade(probs, labels, GFLOPS, target_top1=100.5)
    with pytest.raises(ValueError, match='exactly one of budget and target_top1'):
        fit_cascade(probs, labels, GFLOPS)


@pytest.mark.parametrize('score, combine', [('max_prob', 'last'), ('margin', 'mean')])
def test_every_point_of_the_front_is_what_the_cascade_gives(score, combine):
    probs, labels = random_case()
    front = cascade_frontier(probs, labels, GFLOPS, score=score, combine=combine, grid=6)
    assert len(front) > 3 and {len(p.sizes) for p in front} >= {1, 2}
    assert all(a.mean_gflops <= b.mean_gflops and a.top1 < b.top1 for a, b in zip(front, front[1:]))
    for point in front:
        cascade = Cascade(point.sizes, point.thresholds, GFLOPS, score=score, combine=combine)
        outcome = cascade.simulate(probs)
        top1 = 100.0 * float((outcome.probs.argmax(1) == labels).float().mean())
        assert top1 == pytest.approx(point.top1) and cascade.mean_gflops(outcome) == pytest.approx(point.mean_gflops)
    best_single = max(100.0 * float((probs[s].argmax(1) == labels).float().mean()) for s in GFLOPS)
    assert front[-1].top1 >= best_single


def test_picks_and_thresholds_between_confidences():
    probs, labels = random_case()
    front = cascade_frontier(probs, labels, GFLOPS, grid=6)
    budget = 2.5
    chosen = pick(front, budget=budget)
    assert chosen.mean_gflops <= budget and all(p.top1 <= chosen.top1 for p in front if p.mean_gflops <= budget)
    target = front[len(front) // 2].top1
    cheapest = pick(front, target_top1=target)
    assert cheapest.top1 >= target and all(p.mean_gflops >= cheapest.mean_gflops for p in front if p.top1 >= target)
    grid = threshold_grid(torch.tensor([0.9, 0.1, 0.5, 0.3, 0.7]), 4)
    torch.testing.assert_close(grid, torch.tensor([0.2, 0.4, 0.6, 0.8]))  # halfway between sorted values


def test_cross_fitting_judges_each_image_by_thresholds_fitted_without_it():
    probs, labels = random_case(n=61)
    targets = [{'budget': 2.5}, {'target_top1': 30.0}, {'budget': 0.1}]
    budget, target, impossible = cross_fit(probs, labels, GFLOPS, targets, parts=2, seed=3, grid=6)
    assert impossible.top1 is None and 'no cascade fits 0.1 GFLOPs' in impossible.error
    for result in (budget, target):
        assert result.images == 61 and sum(result.counts.values()) == 61
        assert [p['images'] for p in result.parts] == [31, 30]
    hits, spent = 0, 0.0
    for part in split_parts(61, 2, seed=3):  # by hand: fit on the other half, score this one
        rest = torch.ones(61, dtype=torch.bool)
        rest[part] = False
        cascade = fit_cascade({s: p[rest] for s, p in probs.items()}, labels[rest], GFLOPS, budget=2.5, grid=6)
        outcome = cascade.simulate({s: p[part] for s, p in probs.items()})
        hits += int((outcome.probs.argmax(1) == labels[part]).sum())
        spent += float(cascade.image_gflops(outcome).sum())
    assert budget.top1 == pytest.approx(100.0 * hits / 61) and budget.mean_gflops == pytest.approx(spent / 61)
    matched = cross_fit(probs, labels, GFLOPS, [{'match_size': 32}], parts=2, seed=3, grid=6)[0]
    assert matched.reference_top1 == pytest.approx(100.0 * float((probs[32].argmax(1) == labels).float().mean()))
    for part, rule in zip(split_parts(61, 2, seed=3), matched.parts):  # as accurate as 32 px on its fit half
        rest = torch.ones(61, dtype=torch.bool)
        rest[part] = False
        assert rule['fit_top1'] >= 100.0 * int((probs[32][rest].argmax(1) == labels[rest]).sum()) / int(rest.sum())
    only_24 = cross_fit(probs, labels, GFLOPS, [{'budget': 10.0}], sizes=[24])[0]
    assert only_24.top1 == pytest.approx(100.0 * float((probs[24].argmax(1) == labels).float().mean()))
    assert only_24.mean_gflops == 2.0 and only_24.counts == {24: 61}
