"""ResolutionAccuracy: top-k at every resolution of one validation pass, and their mean."""
from __future__ import annotations

from typing import Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmpretrain.evaluation import Accuracy
from mmpretrain.registry import METRICS


@METRICS.register_module()
class ResolutionAccuracy(BaseMetric):
    """Top-k accuracy per resolution from ``SANClassifier``'s multi-view predictions.

    Reports ``top1_<S>`` (and ``top5_<S>``...) for each resolution and ``top1_mean``,
    under the prefix ``accuracy`` (so ``accuracy/top1_mean`` can pick the best
    checkpoint). The computation is mmpretrain's ``Accuracy.calculate``.

    Args:
        topk: the k's to report.

    Example:
        >>> val_evaluator = dict(type='ResolutionAccuracy', topk=(1, 5))
        >>> default_hooks = dict(checkpoint=dict(type='CheckpointHook', save_best='accuracy/top1_mean',
        ...                                      rule='greater'))
    """

    default_prefix = 'accuracy'

    def __init__(self, topk: int | Sequence[int] = (1,), collect_device: str = 'cpu', prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = (topk,) if isinstance(topk, int) else tuple(topk)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'resolution_scores' not in sample:
                raise KeyError('ResolutionAccuracy needs multi-resolution predictions: use the '
                               'MultiResolutionTest transform in the validation pipeline')
            self.results.append({'scores': {int(r): s.cpu() for r, s in sample['resolution_scores'].items()},
                                 'label': sample['gt_label'].cpu()})

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        resolutions = sorted(results[0]['scores'], reverse=True)
        labels = torch.cat([r['label'] for r in results])
        metrics: dict[str, float] = {}
        num_classes = results[0]['scores'][resolutions[0]].numel()
        topk = tuple(k for k in self.topk if k <= num_classes)
        for resolution in resolutions:
            scores = torch.stack([r['scores'][resolution] for r in results])
            for k, acc in zip(topk, Accuracy.calculate(scores, labels, topk=topk)):
                metrics[f'top{k}_{resolution}'] = float(acc[0] if isinstance(acc, (list, tuple)) else acc)
        for k in topk:
            metrics[f'top{k}_mean'] = sum(metrics[f'top{k}_{r}'] for r in resolutions) / len(resolutions)
        return metrics
