"""ResolutionAccuracy: top-k at every resolution of one validation pass, and their mean."""
from __future__ import annotations

from typing import Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmpretrain.registry import METRICS


@METRICS.register_module()
class ResolutionAccuracy(BaseMetric):
    """Top-k accuracy per resolution from ``SANClassifier``'s multi-view predictions.

    Reports ``top1_<S>`` (and ``top5_<S>``...) for each resolution and ``top1_mean``,
    under the prefix ``accuracy`` (so ``accuracy/top1_mean`` can pick the best
    checkpoint). The values are those of mmpretrain's ``Accuracy`` on the full scores
    (a top-k class counts as a hit only with a score above 0, as there), but ``process``
    keeps only one hit flag per resolution and k for every sample, not its scores: an
    ImageNet validation collects and gathers 50,000 x 5 x 2 flags instead of
    50,000 x 5 x 1,000 floats. A k larger than the number of classes is an error, as in
    ``Accuracy`` (the runner refuses such a config at startup: ``check_evaluator_topk``).

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
        if not self.topk or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in self.topk):
            raise ValueError(f'topk must be positive integers, got {topk!r}')

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Stores, per sample, ``{S: (hit@k for k in topk)}`` (booleans)."""
        if not data_samples:
            return
        for sample in data_samples:
            if 'resolution_scores' not in sample:
                raise KeyError('ResolutionAccuracy needs multi-resolution predictions: use the '
                               'MultiResolutionTest transform in the validation pipeline')
        labels = torch.cat([torch.as_tensor(s['gt_label']).reshape(-1) for s in data_samples]).long()
        if labels.numel() != len(data_samples):
            raise ValueError(f'ResolutionAccuracy needs one label per sample, got {labels.numel()} labels for '
                             f'{len(data_samples)} samples')
        hits = {int(resolution): self._hits(torch.stack([s['resolution_scores'][resolution] for s in data_samples]),
                                            labels)
                for resolution in data_samples[0]['resolution_scores']}
        self.results.extend({r: flags[i] for r, flags in hits.items()} for i in range(len(data_samples)))

    def _hits(self, scores: torch.Tensor, labels: torch.Tensor) -> list[tuple[bool, ...]]:
        """Per sample and k of ``topk``: is the label among the top-k classes (with a score above 0)?"""
        scores = scores.float()
        if max(self.topk) > scores.size(1):
            raise ValueError(f'top-{max(self.topk)} accuracy is unavailable: the model scores {scores.size(1)} '
                             f'classes (topk={self.topk})')
        top_scores, top_labels = scores.topk(max(self.topk), dim=1)
        correct = top_labels.eq(labels.to(scores.device)[:, None]) & (top_scores > 0)
        flags = [correct[:, :k].any(dim=1).tolist() for k in self.topk]
        return [tuple(flag[i] for flag in flags) for i in range(scores.size(0))]

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        resolutions = sorted(results[0], reverse=True)
        num = len(results)
        metrics: dict[str, float] = {}
        for resolution in resolutions:
            for index, k in enumerate(self.topk):
                # as mmpretrain's Accuracy: a float32 count times 100 / num
                count = torch.tensor([float(sum(r[resolution][index] for r in results))])
                metrics[f'top{k}_{resolution}'] = float(count.mul_(100. / num))
        for k in self.topk:
            metrics[f'top{k}_mean'] = sum(metrics[f'top{k}_{r}'] for r in resolutions) / len(resolutions)
        return metrics
