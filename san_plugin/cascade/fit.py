"""Fitting a cascade's thresholds for a GFLOPs budget or a target top-1.

Every candidate is scored exactly on the fit data from each image's softmax at every size
(:func:`~san_plugin.cascade.probabilities.collect_probabilities`): every non-empty subset of the
sizes (a single size included), and per stage a grid of thresholds placed between the fit
images' sorted confidences. The candidates on the accuracy / mean-GFLOPs Pareto front are
kept; a budget takes the most accurate within it, a target top-1 the cheapest that reaches it.
A stage's GFLOPs are charged to every image that reaches it.

Fitting and reporting on the same images flatters the cascade: fit on held-out data, or
:func:`~san_plugin.cascade.cross_fitting.cross_fit` (fit on one part, score the other, for every part).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch

from san_plugin.evaluation.sweep_result import NoOperatingPointError
from .rule import COMBINES, SCORES, confidence
from .thresholds import Cascade

DEFAULT_GRID = 16
MAX_COMBINATIONS = 1 << 16  # threshold combinations scored per subset of sizes
_CHUNK = 2048


@dataclass(frozen=True)
class OperatingPoint:
    """A cascade's rule and what it gave on the data it was measured on.

    Attributes:
        sizes: ascending.
        thresholds: one per size but the last.
        top1: percent.
        mean_gflops: per image.
    """

    sizes: tuple[int, ...]
    thresholds: tuple[float, ...]
    top1: float
    mean_gflops: float


def threshold_grid(conf: torch.Tensor, points: int) -> torch.Tensor:
    """Up to ``points`` thresholds near evenly spaced quantiles of ``conf``, each halfway between
    two consecutive distinct sorted values (so no image sits on a threshold), ascending.

    Example:
        >>> threshold_grid(torch.tensor([0.2, 0.4, 0.6, 0.8]), 3)
        tensor([0.3000, 0.5000, 0.7000])
    """
    ordered = conf.sort().values
    n = ordered.numel()
    boundaries = torch.nonzero(ordered[1:] > ordered[:-1]).flatten() + 1  # k: ordered[k - 1] < ordered[k]
    if boundaries.numel() == 0:
        return ordered[:0]
    wanted = torch.arange(1, points + 1) * n // (points + 1)
    right = torch.searchsorted(boundaries, wanted).clamp(max=boundaries.numel() - 1)
    left = (right - 1).clamp(min=0)
    nearer = torch.where((boundaries[left] - wanted).abs() <= (boundaries[right] - wanted).abs(), left, right)
    k = boundaries[nearer.unique()]
    return ((ordered[k - 1] + ordered[k]) / 2).unique()


def _stages(probs: Mapping[int, torch.Tensor], labels: torch.Tensor, sizes: Sequence[int], score: str,
            combine: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per stage of a subset: every image's confidence and whether its prediction is right."""
    confs, correct = [], []
    running = None
    for stage, size in enumerate(sizes):
        p = probs[size]
        if combine == 'mean':
            running = p if running is None else running + p
            p = running / (stage + 1)
        confs.append(confidence(p, score))
        correct.append(p.argmax(dim=1) == labels)
    return confs, correct


def _score_subset(confs: list[torch.Tensor], correct: list[torch.Tensor], costs: list[float],
                  grids: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hits and summed GFLOPs of every threshold combination of one subset of sizes.

    Returns ``(hits (K,), gflops (K,), combinations (K, stages - 1) grid indices)``.
    """
    n = correct[0].numel()
    if len(confs) == 1:
        return correct[0].sum().view(1).double(), torch.tensor([costs[0] * n], dtype=torch.float64), \
            torch.zeros(1, 0, dtype=torch.long)
    passes = [conf[None, :] >= grid[:, None] for conf, grid in zip(confs[:-1], grids)]  # (G_j, N)
    combos = torch.cartesian_prod(*[torch.arange(len(g)) for g in grids]).view(-1, len(grids))
    hits, gflops = [], []
    for chunk in combos.split(_CHUNK):
        undecided = torch.ones(chunk.size(0), n, dtype=torch.bool)
        chunk_hits = torch.zeros(chunk.size(0), dtype=torch.float64)
        chunk_gflops = torch.zeros(chunk.size(0), dtype=torch.float64)
        for stage, stage_passes in enumerate(passes):
            chunk_gflops += undecided.sum(1) * costs[stage]
            stop = undecided & stage_passes[chunk[:, stage]]
            chunk_hits += (stop & correct[stage]).sum(1)
            undecided &= ~stop
        chunk_gflops += undecided.sum(1) * costs[-1]
        chunk_hits += (undecided & correct[-1]).sum(1)
        hits.append(chunk_hits)
        gflops.append(chunk_gflops)
    return torch.cat(hits), torch.cat(gflops), combos


def cascade_frontier(probs: Mapping[int, torch.Tensor], labels: torch.Tensor, gflops: Mapping[int, float], *,
                     sizes: Sequence[int] | None = None, score: str = 'max_prob', combine: str = 'last',
                     grid: int = DEFAULT_GRID) -> list[OperatingPoint]:
    """The accuracy / mean-GFLOPs Pareto front of cascades on these images, cheapest first.

    Args:
        probs: ``{size: (N, C) softmax}`` of every image at every size.
        labels: ``(N,)``.
        gflops: ``{size: GFLOPs of one image}``.
        sizes: the sizes to choose from (default: every size of ``probs``).
        score, combine: the cascade's rule (see :class:`~san_plugin.cascade.thresholds.Cascade`).
        grid: thresholds tried per stage (fewer for subsets of many sizes, at most
            ``MAX_COMBINATIONS`` combinations per subset).

    Example:
        >>> front = cascade_frontier(probs, labels, {64: 0.15, 48: 0.08, 32: 0.04})
        >>> [(p.sizes, round(p.top1, 1), round(p.mean_gflops, 3)) for p in front][:2]
        [((32,), 71.2, 0.04), ((32, 48), 74.0, 0.052)]
    """
    if score not in SCORES or combine not in COMBINES:
        raise ValueError(f'score must be one of {SCORES} and combine one of {COMBINES}, got {score!r}, {combine!r}')
    sizes = sorted({int(s) for s in (sizes if sizes is not None else probs)})
    missing = [s for s in sizes if s not in probs or s not in gflops]
    if missing:
        raise KeyError(f'no probabilities or GFLOPs at sizes {missing}')
    labels = labels.reshape(-1)
    n = labels.numel()
    if n == 0:
        raise ValueError('cannot fit a cascade on no images')
    points: list[OperatingPoint] = []
    for m in range(1, len(sizes) + 1):
        for subset in itertools.combinations(sizes, m):
            confs, correct = _stages(probs, labels, subset, score, combine)
            per_stage = max(1, int(MAX_COMBINATIONS ** (1 / (m - 1)))) if m > 1 else 0
            grids = [threshold_grid(conf, min(grid, per_stage)) for conf in confs[:-1]]
            if any(g.numel() == 0 for g in grids):
                continue
            hits, cost, combos = _score_subset(confs, correct, [float(gflops[s]) for s in subset], grids)
            points += _front(subset, grids, 100.0 * hits / n, cost / n, combos)
    return _front_of(points)


def _front(subset, grids, top1, mean_gflops, combos) -> list[OperatingPoint]:
    """The Pareto-optimal combinations of one subset, as operating points."""
    top1, mean_gflops = top1.tolist(), mean_gflops.tolist()
    kept, best = [], -1.0
    for i in sorted(range(len(top1)), key=lambda i: (mean_gflops[i], -top1[i])):
        if top1[i] > best:
            best = top1[i]
            thresholds = tuple(float(grids[j][combos[i, j]]) for j in range(len(grids)))
            kept.append(OperatingPoint(tuple(subset), thresholds, best, mean_gflops[i]))
    return kept


def _front_of(points: list[OperatingPoint]) -> list[OperatingPoint]:
    front, best = [], -1.0
    for point in sorted(points, key=lambda p: (p.mean_gflops, -p.top1, len(p.sizes))):
        if point.top1 > best:
            front.append(point)
            best = point.top1
    return front


def pick(front: Sequence[OperatingPoint], *, budget: float | None = None,
         target_top1: float | None = None) -> OperatingPoint:
    """The most accurate point within ``budget`` GFLOPs, or the cheapest with ``target_top1``.

    Raises:
        NoOperatingPointError: nothing fits (naming the cheapest cost or the best top-1 there is).
    """
    if (budget is None) == (target_top1 is None):
        raise ValueError('give exactly one of budget and target_top1')
    if budget is not None:
        within = [p for p in front if p.mean_gflops <= budget * (1 + 1e-9)]
        if not within:
            raise NoOperatingPointError(f'no cascade fits {budget:.4g} GFLOPs per image; the cheapest costs '
                                        f'{min(p.mean_gflops for p in front):.4g}')
        return max(within, key=lambda p: (p.top1, -p.mean_gflops))
    reaching = [p for p in front if p.top1 >= target_top1 - 1e-9]  # percentages computed in other orders
    if not reaching:
        raise NoOperatingPointError(f'no cascade reaches top-1 {target_top1:.2f}% on the fit data; the best '
                                    f'reaches {max(p.top1 for p in front):.2f}%')
    return min(reaching, key=lambda p: (p.mean_gflops, -p.top1))


def fit_cascade(probs: Mapping[int, torch.Tensor], labels: torch.Tensor, gflops: Mapping[int, float], *,
                budget: float | None = None, target_top1: float | None = None, sizes: Sequence[int] | None = None,
                score: str = 'max_prob', combine: str = 'last', grid: int = DEFAULT_GRID,
                fit_info: Mapping[str, Any] | None = None, **cascade_fields: Any) -> Cascade:
    """The cascade for a GFLOPs budget (most accurate within it) or a target top-1 (cheapest reaching it).

    Args:
        probs, labels, gflops, sizes, score, combine, grid: as in :func:`cascade_frontier`.
        budget: mean GFLOPs per image.
        target_top1: percent.
        fit_info: recorded in the cascade's ``fit`` (e.g. which data it was fitted on).
        **cascade_fields: ``resolutions``, ``fingerprint``, ``checkpoint``, ``crop_ratio``.

    Example:
        >>> cascade = fit_cascade(probs, labels, gflops, budget=gflops[48], resolutions=(64, 56, 48, 40, 32),
        ...                       fingerprint=model_fingerprint(san))
        >>> cascade.save('work_dirs/san/epoch_15_cascade.json')
    """
    front = cascade_frontier(probs, labels, gflops, sizes=sizes, score=score, combine=combine, grid=grid)
    point = pick(front, budget=budget, target_top1=target_top1)
    fit = {'budget_gflops': budget, 'target_top1': target_top1, 'images': int(labels.numel()), 'grid': grid,
           'fit_top1': point.top1, 'fit_mean_gflops': point.mean_gflops, **dict(fit_info or {})}
    return Cascade(point.sizes, point.thresholds, {s: gflops[s] for s in point.sizes}, score=score,
                   combine=combine, fit=fit, **cascade_fields)

