"""The cascade's decision rule: smallest size first, only the undecided images move up.

At stage ``j`` (sizes ascending) an image is classified at ``sizes[j]``; if its confidence
(top-1 probability, or the margin between the two highest) is at least ``thresholds[j]`` it
stops there, otherwise it moves to the next size; the last size takes every image left. With
``combine='mean'`` an image is scored by the mean of the softmax of every size it passed
through (a test-time average that costs nothing extra). Each step runs the images still
undecided as one batch, and an image costs the GFLOPs of every size it passed through.

Standalone (torch only): the library (:class:`~san_plugin.cascade.Cascade`, ``tools/test.py
--cascade``) runs this file and a deployment bundle's runtime embeds it
(:mod:`san_plugin.cascade.standalone`), so both take the same decisions.
"""
from __future__ import annotations

from typing import Callable, Mapping, NamedTuple, Optional, Sequence, Union

import torch

SCORES = ('max_prob', 'margin')
COMBINES = ('last', 'mean')

Views = Union[Mapping[int, torch.Tensor], Callable[[int, Optional[torch.Tensor]], torch.Tensor]]  # Python 3.8+


class CascadeOutcome(NamedTuple):
    """What a cascade gave every image.

    Attributes:
        probs: ``(N, C)`` the probabilities each image was classified with (at its exit).
        exit_stage: ``(N,)`` long: the index in ``sizes`` of the size each image stopped at.
    """

    probs: torch.Tensor
    exit_stage: torch.Tensor


def confidence(probs: torch.Tensor, score: str = 'max_prob') -> torch.Tensor:
    """``(N,)`` confidence of ``(N, C)`` probabilities: the top-1 probability or the top-1 - top-2 margin.

    Example:
        >>> confidence(torch.tensor([[0.7, 0.2, 0.1]]), 'margin')
        tensor([0.5000])
    """
    if score == 'max_prob':
        return probs.max(dim=1).values
    if score == 'margin':
        if probs.size(1) < 2:
            return probs[:, 0]
        top = probs.topk(2, dim=1).values
        return top[:, 0] - top[:, 1]
    raise ValueError(f'score must be one of {SCORES}, got {score!r}')


def check_rule(sizes: Sequence[int], thresholds: Sequence[float], score: str, combine: str) -> None:
    """Raises ``ValueError`` naming what is wrong with a cascade's rule."""
    if not sizes or any(int(s) != s or s <= 0 for s in sizes) or list(sizes) != sorted(set(sizes)):
        raise ValueError(f'sizes must be distinct positive integers in ascending order, got {list(sizes)}')
    if len(thresholds) != len(sizes) - 1:
        raise ValueError(f'need one threshold per size but the last ({len(sizes) - 1} for sizes {list(sizes)}), '
                         f'got {len(thresholds)}: {list(thresholds)}')
    if score not in SCORES:
        raise ValueError(f'score must be one of {SCORES}, got {score!r}')
    if combine not in COMBINES:
        raise ValueError(f'combine must be one of {COMBINES}, got {combine!r}')


def _cascade(stage_probs: Callable[[int, torch.Tensor | None], torch.Tensor], count: int, sizes: Sequence[int],
             thresholds: Sequence[float], score: str, combine: str) -> CascadeOutcome:
    """The decisions, given ``stage_probs(size, rows)``: the probabilities at ``size`` of the
    images ``rows`` (a long tensor; None: every image)."""
    check_rule(sizes, thresholds, score, combine)
    active: torch.Tensor | None = None  # None: every image, in order
    running: torch.Tensor | None = None
    probs_out = exit_stage = None
    for stage, size in enumerate(sizes):
        probs = stage_probs(int(size), active)
        if combine == 'mean':
            running = probs if running is None else running + probs
            probs = running / (stage + 1)
        if probs_out is None:
            probs_out = probs.new_empty(count, probs.size(1))
            exit_stage = torch.full((count,), len(sizes) - 1, dtype=torch.long, device=probs.device)
        if stage == len(sizes) - 1:
            stop = torch.ones(probs.size(0), dtype=torch.bool, device=probs.device)
        else:
            stop = confidence(probs, score) >= thresholds[stage]
        rows = torch.arange(count, device=probs.device) if active is None else active
        probs_out[rows[stop]] = probs[stop]
        exit_stage[rows[stop]] = stage
        active = rows[~stop]
        if running is not None:
            running = running[~stop]
        if active.numel() == 0:
            break
    return CascadeOutcome(probs_out, exit_stage)


def _rows(tensor: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
    return tensor if rows is None else tensor.index_select(0, rows.to(tensor.device))


def run_cascade(classify: Callable[[int, torch.Tensor], torch.Tensor], views: Views, sizes: Sequence[int],
                thresholds: Sequence[float], *, score: str = 'max_prob', combine: str = 'last',
                count: int | None = None) -> CascadeOutcome:
    """Runs a cascade, batched: at every size only the undecided images run, as one batch.

    Args:
        classify: ``(size, batch) -> logits``; e.g. ``lambda size, x: san(x)`` for a SAN (it
            runs at its input's size), or the baked model of that size.
        views: ``{size: (N, ...) batch}`` of every image at every size, or a function
            ``(size, rows) -> batch`` that makes the views of the images ``rows`` (a long
            tensor; None: all) only when they are needed (then give ``count``).
        sizes: ascending.
        thresholds: one per size but the last.
        score: ``'max_prob'`` or ``'margin'``.
        combine: ``'last'`` (the exit size's softmax) or ``'mean'`` (the mean over the sizes passed).
        count: the number of images (read from ``views`` when it is a mapping).

    Example:
        >>> outcome = run_cascade(lambda s, x: san(x), {32: x32, 48: x48, 64: x64}, [32, 48, 64], [0.9, 0.8])
        >>> outcome.exit_stage.bincount(minlength=3)  # images that stopped at 32, 48, 64 px
        tensor([61, 22, 17])
    """
    if isinstance(views, Mapping):
        missing = [s for s in sizes if int(s) not in views]
        if missing:
            raise KeyError(f'no views at sizes {missing} (have {sorted(views)})')
        count = int(views[int(sizes[0])].size(0))
        make = lambda size, rows: _rows(views[size], rows)  # noqa: E731
    else:
        if count is None:
            raise ValueError('give count= with a views function')
        make = views

    def stage_probs(size: int, rows: torch.Tensor | None) -> torch.Tensor:
        return torch.softmax(classify(size, make(size, rows)).float(), dim=1)

    return _cascade(stage_probs, count, sizes, thresholds, score, combine)


def simulate_cascade(probs: Mapping[int, torch.Tensor], sizes: Sequence[int], thresholds: Sequence[float], *,
                     score: str = 'max_prob', combine: str = 'last') -> CascadeOutcome:
    """The cascade's decisions from precomputed ``{size: (N, C) probabilities}``: what
    :func:`run_cascade` gives when the model returns those probabilities' logits.

    Example:
        >>> simulate_cascade({32: p32, 64: p64}, [32, 64], [0.9]).exit_stage.float().mean()
        tensor(0.3100)
    """
    count = int(probs[int(sizes[0])].size(0))
    return _cascade(lambda size, rows: _rows(probs[size], rows), count, sizes, thresholds, score, combine)


def cumulative_gflops(sizes: Sequence[int], gflops: Mapping[int, float]) -> list[float]:
    """What an image that stops at each size costs: the GFLOPs of every size up to it, its own included.

    Example:
        >>> cumulative_gflops([32, 48, 64], {32: 0.04, 48: 0.08, 64: 0.15})
        [0.04, 0.12, 0.27]
    """
    total, out = 0.0, []
    for size in sizes:
        total += float(gflops[int(size)])
        out.append(total)
    return out


def charged_gflops(exit_stage: torch.Tensor, sizes: Sequence[int], gflops: Mapping[int, float]) -> torch.Tensor:
    """``(N,)`` GFLOPs of each image: the sum over every size it passed through, its exit included."""
    return torch.tensor(cumulative_gflops(sizes, gflops), dtype=torch.float64)[exit_stage.cpu()]
