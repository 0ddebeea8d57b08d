"""The one loop of the sweeps' evaluations (rows at a test resolution, multi-resolution testing).

A test loader from a rewritten copy of the config, top-1/top-5 counted for every entry of every
batch, a progress bar on rank 0, the counts all-reduced across processes, percentages. What an
entry is (a BN row, a combination of views) is the caller's ``score_batch``.
"""
from __future__ import annotations

import copy
from typing import Callable, Iterable

import torch
from mmengine.config import Config
from mmengine.dist import all_reduce, get_rank
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

from san_plugin.evaluation.topk import topk_correct

ScoreBatch = Callable[[dict], Iterable[tuple[torch.Tensor, torch.Tensor]]]
"""One loader batch -> ``(scores, labels)`` of every entry, in entry order."""


def topk_percentages(cfg: Config, set_pipeline: Callable[[Config], None], score_batch: ScoreBatch,
                     entries: int) -> list[tuple[float, float]]:
    """Top-1/top-5 of every entry over the config's test set.

    Args:
        cfg: the model's config; left unchanged (the loader is built from a copy).
        set_pipeline: rewrites the copy's test pipeline (one test resolution, or every view).
        score_batch: a loader batch -> ``(scores (N, classes), labels (N,))`` per entry; called
            under ``torch.no_grad()``.
        entries: how many pairs ``score_batch`` yields per batch.

    Returns:
        ``(top1, top5)`` in percent per entry, all-reduced across processes.

    Example:
        >>> topk_percentages(cfg, lambda c: set_model_resolution(c, 64, 0.875),
        ...                  lambda batch: [plain_scores(batch)], entries=1)
        [(71.2, 93.0)]
    """
    loader_cfg = copy.deepcopy(cfg)
    set_pipeline(loader_cfg)
    loader = Runner.build_dataloader(loader_cfg.test_dataloader)
    counts = torch.zeros(entries, 3, dtype=torch.float64)
    progress = ProgressBar(len(loader)) if get_rank() == 0 else None
    for batch in loader:
        with torch.no_grad():  # not inference_mode: MetaConv2d caches kernels by parameter version
            for index, (scores, labels) in enumerate(score_batch(batch)):
                counts[index] += torch.tensor([topk_correct(scores, labels, 1), topk_correct(scores, labels, 5),
                                               labels.numel()], dtype=torch.float64)
        if progress is not None:
            progress.update()
    all_reduce(counts)
    return [(100.0 * top1 / total, 100.0 * top5 / total) for top1, top5, total in counts.tolist()]
