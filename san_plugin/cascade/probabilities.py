"""Every image's softmax at every size: what fitting a cascade and its reports read."""
from __future__ import annotations

from typing import Callable, Sequence

import torch


def collect_probabilities(classify: Callable[[int, torch.Tensor], torch.Tensor], batches,
                          sizes: Sequence[int]) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    """Every image's softmax at every size, for fitting and reports.

    Args:
        classify: ``(size, batch) -> logits``.
        batches: an iterable of ``({size: batch}, labels)``.
        sizes: the sizes to run.

    Returns:
        ``({size: (N, C) probabilities}, (N,) labels)`` on the CPU.

    Example:
        >>> probs, labels = collect_probabilities(lambda s, x: san(x), loader, [64, 48, 32])
    """
    probs: dict[int, list[torch.Tensor]] = {int(s): [] for s in sizes}
    labels = []
    with torch.no_grad():
        for views, batch_labels in batches:
            for size in probs:
                probs[size].append(torch.softmax(classify(size, views[size]).float(), dim=1).cpu())
            labels.append(torch.as_tensor(batch_labels).reshape(-1).cpu())
    return {s: torch.cat(p) for s, p in probs.items()}, torch.cat(labels)
