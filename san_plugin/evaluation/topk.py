"""Top-k hits of a batch of scores: what every accuracy of the sweeps counts."""
from __future__ import annotations

import torch


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
