"""Scoring a fitting target honestly: every image judged by a cascade fitted without it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import torch

from san_plugin.evaluation.sweep_result import NoOperatingPointError
from .fit import cascade_frontier, pick
from .thresholds import Cascade


@dataclass
class CrossFitResult:
    """One target scored by cross-fitting: every image judged by a cascade fitted without it.

    Attributes:
        target: ``{'budget': GFLOPs}``, ``{'target_top1': percent}`` or ``{'match_size': S}`` (the
            top-1 of the single size S on the fit data).
        top1: percent over every scored image.
        mean_gflops: per image.
        counts: ``{size: images that stopped there}`` summed over the parts.
        parts: per part: the fitted rule and its top-1/GFLOPs on the fit data and on the part.
        images: how many were scored.
        reference_top1: with ``match_size``: that size's top-1 on the same scored images.
    """

    target: dict[str, float]
    top1: float | None = None
    mean_gflops: float | None = None
    counts: dict[int, int] = field(default_factory=dict)
    parts: list[dict[str, Any]] = field(default_factory=list)
    images: int = 0
    error: str | None = None
    reference_top1: float | None = None


def split_parts(count: int, parts: int = 2, seed: int = 0) -> list[torch.Tensor]:
    """``parts`` disjoint random index sets covering ``range(count)`` (sizes differ by at most 1)."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return [chunk.sort().values for chunk in order.tensor_split(parts)]


def cross_fit(probs: Mapping[int, torch.Tensor], labels: torch.Tensor, gflops: Mapping[int, float],
              targets: Sequence[Mapping[str, float]], *, parts: int = 2, seed: int = 0,
              **front_kwargs: Any) -> list[CrossFitResult]:
    """Scores each target by ``parts``-fold cross-fitting: fit on the other parts, score each part.

    With ``parts=2``: fit on one half, score the other, swap; the result pools both halves.

    Args:
        targets: e.g. ``[{'budget': 0.08}, {'target_top1': 79.4}, {'match_size': 64}]``.
        parts: folds.
        seed: of the random split.
        **front_kwargs: ``sizes``, ``score``, ``combine``, ``grid`` of :func:`cascade_frontier`.

    Example:
        >>> [r.top1 for r in cross_fit(probs, labels, gflops, [{'budget': gflops[48]}])]
        [80.1]
    """
    labels = labels.reshape(-1)
    results = [CrossFitResult(dict(t)) for t in targets]
    hits = [0] * len(targets)
    spent = [0.0] * len(targets)
    reference_hits = [0] * len(targets)
    for part in split_parts(labels.numel(), parts, seed):
        fit_rows = torch.ones(labels.numel(), dtype=torch.bool)
        fit_rows[part] = False
        front = cascade_frontier({s: p[fit_rows] for s, p in probs.items()}, labels[fit_rows], gflops,
                                 **front_kwargs)
        held = {s: p[part] for s, p in probs.items()}
        for index, (target, result) in enumerate(zip(targets, results)):
            if result.error is not None:
                continue
            target_top1 = target.get('target_top1')
            if 'match_size' in target:  # as accurate as that single size, on the fit data
                size = int(target['match_size'])
                right = probs[size][fit_rows].argmax(1) == labels[fit_rows]
                target_top1 = 100.0 * int(right.sum()) / right.numel()
            try:
                point = pick(front, budget=target.get('budget'), target_top1=target_top1)
            except NoOperatingPointError as error:
                result.error = str(error)
                continue
            cascade = Cascade(point.sizes, point.thresholds, {s: gflops[s] for s in point.sizes},
                              score=front_kwargs.get('score', 'max_prob'),
                              combine=front_kwargs.get('combine', 'last'))
            outcome = cascade.simulate(held)
            part_hits = int((outcome.probs.argmax(dim=1) == labels[part]).sum())
            part_gflops = float(cascade.image_gflops(outcome).sum())
            hits[index] += part_hits
            spent[index] += part_gflops
            if 'match_size' in target:
                reference_hits[index] += int((probs[int(target['match_size'])][part].argmax(1) == labels[part]).sum())
            result.images += part.numel()
            for size, count in cascade.counts(outcome).items():
                result.counts[size] = result.counts.get(size, 0) + count
            result.parts.append({'sizes': list(point.sizes), 'thresholds': list(point.thresholds),
                                 'fit_top1': point.top1, 'fit_mean_gflops': point.mean_gflops,
                                 'images': part.numel(), 'top1': 100.0 * part_hits / part.numel(),
                                 'mean_gflops': part_gflops / part.numel()})
    for index, result in enumerate(results):
        if result.error is None and result.images:
            result.top1 = 100.0 * hits[index] / result.images
            result.mean_gflops = spent[index] / result.images
            if 'match_size' in targets[index]:
                result.reference_top1 = 100.0 * reference_hits[index] / result.images
            result.counts = dict(sorted(result.counts.items()))
    return results
