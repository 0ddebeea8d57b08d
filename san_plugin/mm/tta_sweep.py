"""Multi-resolution testing in the sweeps: a model's softmax averaged over several test resolutions.

One pass over the test set decodes each image once and makes the standard test crop at every
size that some combination needs (``MultiResolutionTest``); each view runs as the model runs on
its input (a SAN: proxy inference, or ideal with ``ideal=True``), its softmax is computed once,
and every combination averages the softmax of its views. ``tools/test.py --tta`` computes the
same scores through mmpretrain's ``AverageClsScoreTTA``.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import torch
from mmengine.config import Config

from san_plugin.core import find_controller, input_resolution, set_mode
from san_plugin.evaluation import tta_views
from .eval_loop import config_topk_percentages
from .eval_pipeline import set_multi_view_test
from .preprocessor import split_views
from .transforms import TEST_CROP_RATIO


def view_sizes(combinations: Sequence[Sequence[int]]) -> list[int]:
    """Every size some combination needs, largest first.

    Example:
        >>> view_sizes([(64, 48), (80, 64)])
        [80, 64, 48]
    """
    return sorted({s for combination in combinations for s in tta_views(combination)}, reverse=True)


def view_inputs(model, batch: dict) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    """The model inputs of every view of a multi-view batch (``{size: (N, C, S, S)}``) and the labels.

    Each view goes through the model's data preprocessor on its own (any preprocessor reads
    a single-resolution batch).
    """
    views = split_views(batch['inputs'])
    if views is None:
        raise ValueError('expected one test crop per size for every sample (a MultiResolutionTest pipeline), '
                         f'got inputs of type {type(batch["inputs"]).__name__}')
    inputs, labels = {}, None
    for view in views:
        data = model.data_preprocessor({'inputs': view, 'data_samples': batch['data_samples']}, False)
        if labels is None:
            labels = torch.cat([s.gt_label for s in data['data_samples']]).to(data['inputs'].device)
        inputs[input_resolution(data['inputs'])] = data['inputs']
    return inputs, labels


def view_probabilities(model, batch: dict) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    """The softmax of every view of a multi-view batch (each view as the model runs on that
    input), and the labels: ``({size: (N, C) probabilities}, labels)``.
    """
    inputs, labels = view_inputs(model, batch)
    return {size: torch.softmax(model(x, mode='tensor').float(), dim=1) for size, x in inputs.items()}, labels


def evaluate_tta(model, cfg: Config, combinations: Sequence[Sequence[int]], *,
                 crop_ratio: float = TEST_CROP_RATIO, ideal: bool = False) -> dict[tuple[int, ...], tuple[float, float]]:
    """Top-1/top-5 of the softmax averaged over each combination's views, one decode per image.

    Args:
        model: a classifier in eval mode (a SAN or a plain model), on its device.
        cfg: the model's config; its test dataloader (and ``eval_resize`` options) is used.
        combinations: e.g. ``[(64, 48), (80, 64)]``; each needs two or more distinct sizes.
        crop_ratio: test crop ratio S / short side.
        ideal: run a SAN in ideal mode (eps(T), T's calibrated BN), else proxy inference.

    Returns:
        ``{combination largest first: (top1, top5)}`` in percent, all-reduced across processes.

    Example:
        >>> evaluate_tta(model, cfg, [(64, 48)])
        {(64, 48): (74.1, 95.3)}
    """
    combinations = list(dict.fromkeys(tta_views(c) for c in combinations))
    if find_controller(model) is not None:
        set_mode(model, 'ideal' if ideal else 'proxy')

    def combination_scores(batch: dict) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        probabilities, labels = view_probabilities(model, batch)
        for combination in combinations:
            yield torch.stack([probabilities[s] for s in combination]).mean(dim=0), labels

    sizes = view_sizes(combinations)
    scores = config_topk_percentages(cfg, lambda c: set_multi_view_test(c, sizes, crop_ratio), combination_scores,
                                     len(combinations))
    return dict(zip(combinations, scores))
