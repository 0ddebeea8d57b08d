"""Multi-resolution testing: a model's softmax averaged over several test resolutions, written once.

One pass decodes each image once and makes the standard test crop at every size some
combination needs (``MultiResolutionTest``); each view runs as the model runs on its input
(a SAN: proxy inference, or ideal), its softmax is computed once per view, and a combination
averages the softmax of its views (:func:`view_probabilities`). Two callers:

* the sweeps (``tools/eval_resolutions.py --tta``): :func:`evaluate_tta`, every combination from
  one pass;
* ``tools/test.py --tta 64 48``: :func:`set_multi_resolution_tta` wraps the model in
  :class:`MultiResolutionTTA`, so mmengine's test loop, metrics and ``--out`` dump work as usual.

mmpretrain's ``TestTimeAug`` + ``AverageClsScoreTTA`` computes the same scores (measured equal to
the bit) and was not faster: 1.03x in favour of this path on 1000 Imagenette images, within the
pass-to-pass spread, the JPEG decode dominating (``benchmarks/tta_paths.py``,
``benchmarks/results/tta_paths.md``). This path is kept because it also serves the sweeps (every
combination from one pass), so multi-resolution testing is written once.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import torch
from mmengine.config import Config
from mmengine.model import BaseTTAModel
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

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


def preprocessed_views(model, batch: dict) -> tuple[dict[int, torch.Tensor], list]:
    """The model inputs of every view of a multi-view batch (``{size: (N, C, S, S)}``) and the
    batch's data samples as the preprocessor returns them.

    Each view goes through the model's data preprocessor on its own (any preprocessor reads
    a single-resolution batch).
    """
    views = split_views(batch['inputs'])
    if views is None:
        raise ValueError('expected one test crop per size for every sample (a MultiResolutionTest pipeline), '
                         f'got inputs of type {type(batch["inputs"]).__name__}')
    inputs, samples = {}, batch.get('data_samples')
    for view in views:
        data = model.data_preprocessor({'inputs': view, 'data_samples': batch.get('data_samples')}, False)
        inputs[input_resolution(data['inputs'])] = data['inputs']
        samples = data['data_samples']
    return inputs, samples


def view_inputs(model, batch: dict) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    """The model inputs of every view of a multi-view batch (``{size: (N, C, S, S)}``) and the labels."""
    inputs, samples = preprocessed_views(model, batch)
    return inputs, _labels(samples, next(iter(inputs.values())).device)


def view_softmax(model, inputs: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
    """``{size: (N, C) softmax}`` of every view, each as the model runs on that input."""
    return {size: torch.softmax(model(x, mode='tensor').float(), dim=1) for size, x in inputs.items()}


def view_probabilities(model, batch: dict) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    """The softmax of every view of a multi-view batch (each view as the model runs on that
    input), and the labels: ``({size: (N, C) probabilities}, labels)``.
    """
    inputs, labels = view_inputs(model, batch)
    return view_softmax(model, inputs), labels


def _labels(samples: list, device: torch.device) -> torch.Tensor:
    return torch.cat([s.gt_label for s in samples]).to(device)


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


@MODELS.register_module()
class MultiResolutionTTA(BaseTTAModel):
    """A classifier tested at several resolutions per image, its softmax averaged over them.

    Takes the batches of a ``MultiResolutionTest`` test pipeline (one standard test crop per size
    from each decoded image, see :func:`set_multi_resolution_tta`), runs every view as the model
    runs on its input (:func:`view_softmax`: a SAN at its proxy or ideal setting, a plain
    model as it is), and predicts the mean of the views' softmax. A ``BaseTTAModel``, so
    mmengine loads a checkpoint of the wrapped model into it unchanged.

    Args:
        module: the classifier (config dict or module).
        data_preprocessor: unused (each view goes through the classifier's own preprocessor).

    Example:
        >>> cfg.model = dict(type='MultiResolutionTTA', module=cfg.model)  # with a MultiResolutionTest pipeline
    """

    @torch.no_grad()  # not inference_mode: MetaConv2d caches kernels by parameter version
    def test_step(self, data: dict) -> list[DataSample]:
        inputs, samples = preprocessed_views(self.module, data)
        scores = torch.stack(list(view_softmax(self.module, inputs).values())).mean(dim=0)
        samples = samples or [DataSample() for _ in range(scores.size(0))]
        for sample, score in zip(samples, scores):
            sample.set_pred_score(score).set_pred_label(score.argmax(dim=0, keepdim=True))
        return list(samples)

    def merge_preds(self, data_samples_list):
        raise NotImplementedError('MultiResolutionTTA averages the views in test_step; it takes the batches of a '
                                  'MultiResolutionTest pipeline (set_multi_resolution_tta), not of TestTimeAug')


def set_multi_resolution_tta(cfg: Config, resolutions: Sequence[int], crop_ratio: float) -> None:
    """Rewrites a config to test every image at several resolutions and average the softmax
    (``tools/test.py --tta 64 48``).

    The test pipeline makes the standard test crop at each resolution from one decoded image
    (:func:`~san_plugin.mm.eval_pipeline.set_multi_view_test`, with the config's ``eval_resize``
    options) and the model becomes a :class:`MultiResolutionTTA`. A SAN runs each view at its own
    resolution, so one checkpoint gives an ensemble whose cost is the sum of its views' costs.

    Raises:
        ValueError: fewer than two distinct positive resolutions.

    Example:
        >>> set_multi_resolution_tta(cfg, [64, 48], crop_ratio=0.875)
    """
    sizes = [int(s) for s in resolutions]
    if len(sizes) < 2 or len(set(sizes)) != len(sizes) or min(sizes) <= 0:
        raise ValueError(f'multi-resolution testing needs two or more distinct positive resolutions, got {sizes}')
    set_multi_view_test(cfg, sorted(sizes, reverse=True), crop_ratio)
    cfg.model = dict(type=MultiResolutionTTA.__name__, module=cfg.model)
