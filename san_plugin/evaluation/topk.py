"""Top-k hits of a batch of scores, and the loop that counts them over a test set: what every
accuracy of the sweeps is."""
from __future__ import annotations

from typing import Callable, Iterable, TypeVar

import torch

Batch = TypeVar('Batch')
ScoreBatch = Callable[[Batch], Iterable[tuple[torch.Tensor, torch.Tensor]]]
"""One batch -> ``(scores (N, C), labels (N,))`` of every entry, in entry order."""


def topk_correct(scores: torch.Tensor, labels: torch.Tensor, k: int) -> int:
    """How many rows of ``scores`` (N, C) have their label among their ``k`` highest (k <= C).

    Logits and probabilities give the same count; ``k`` above the number of classes counts
    every row.

    Example:
        >>> topk_correct(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1]), 1)
        1
    """
    k = min(k, scores.size(1))
    return int((scores.topk(k, dim=1).indices == labels[:, None]).any(dim=1).sum())


def topk_percentages(batches: Iterable[Batch], score_batch: ScoreBatch, entries: int, *,
                     reduce: Callable[[torch.Tensor], object] | None = None,
                     after_batch: Callable[[], object] | None = None) -> list[tuple[float, float]]:
    """Top-1/top-5 of every entry (a BN row, a combination of views, ...) over all batches.

    Args:
        batches: the test set, e.g. a ``DataLoader``.
        score_batch: a batch -> ``(scores, labels)`` per entry; called under ``torch.no_grad()``
            (not ``inference_mode``: ``MetaConv2d`` caches kernels by parameter version).
        entries: how many pairs ``score_batch`` yields per batch.
        reduce: sums the ``(entries, 3)`` float64 counts (top-1, top-5, images) across processes
            in place, e.g. mmengine's ``all_reduce``; None: this process's counts.
        after_batch: called after every batch (a progress bar's ``update``).

    Returns:
        ``(top1, top5)`` in percent per entry.

    Example:
        >>> topk_percentages([(x, y)], lambda b: [(model(b[0]), b[1])], entries=1)
        [(50.0, 100.0)]
    """
    counts = torch.zeros(entries, 3, dtype=torch.float64)
    for batch in batches:
        with torch.no_grad():
            for index, (scores, labels) in enumerate(score_batch(batch)):
                counts[index] += torch.tensor([topk_correct(scores, labels, 1), topk_correct(scores, labels, 5),
                                               labels.numel()], dtype=torch.float64)
        if after_batch is not None:
            after_batch()
    if reduce is not None:
        reduce(counts)
    return [(100.0 * top1 / total, 100.0 * top5 / total) for top1, top5, total in counts.tolist()]
