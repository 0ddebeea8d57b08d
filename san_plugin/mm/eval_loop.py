"""The sweeps' evaluation loop on an MMPretrain config: the adapter of
:func:`san_plugin.evaluation.topk.topk_percentages` (the loop itself, toolbox-free).

It builds the test loader from a rewritten copy of the config, shows a progress bar on rank 0
and all-reduces the counts across processes. What an entry is (a BN row at one test
resolution, a combination of views) is the caller's ``score_batch``.
"""
from __future__ import annotations

import copy
from typing import Callable

from mmengine.config import Config
from mmengine.dist import all_reduce, get_rank
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

from san_plugin.evaluation.topk import ScoreBatch, topk_percentages


def config_topk_percentages(cfg: Config, set_pipeline: Callable[[Config], None], score_batch: ScoreBatch,
                            entries: int) -> list[tuple[float, float]]:
    """Top-1/top-5 of every entry over the config's test set, all-reduced across processes.

    Args:
        cfg: the model's config; left unchanged (the loader is built from a copy).
        set_pipeline: rewrites the copy's test pipeline (one test resolution, or every view).
        score_batch: a loader batch -> ``(scores, labels)`` per entry.
        entries: how many pairs ``score_batch`` yields per batch.

    Example:
        >>> config_topk_percentages(cfg, lambda c: set_model_resolution(c, 64, 0.875),
        ...                         lambda batch: [plain_scores(batch)], entries=1)
        [(71.2, 93.0)]
    """
    loader_cfg = copy.deepcopy(cfg)
    set_pipeline(loader_cfg)
    loader = Runner.build_dataloader(loader_cfg.test_dataloader)
    progress = ProgressBar(len(loader)) if get_rank() == 0 else None
    return topk_percentages(loader, score_batch, entries, reduce=all_reduce,
                            after_batch=None if progress is None else progress.update)
