"""MMPretrain glue of the per-image resolution cascade (the logic is in ``san_plugin.cascade``).

* :func:`cascade_probabilities`: every image's softmax at every size from a config's test (or
  any) dataloader, one decode per image, each size's crop made as the single-size test does.
* :class:`SANCascadeClassifier`: a ``SANClassifier`` that predicts with a thresholds file
  (``tools/test.py --cascade FILE``), batched; :class:`CascadeCost` reports what it spent.
* :func:`set_cascade_test`: the config rewrite ``tools/test.py --cascade`` does.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.runner import Runner
from mmpretrain.registry import METRICS, MODELS
from mmpretrain.structures import DataSample

from san_plugin.core import input_resolution
from san_plugin.cascade import Cascade, collect_probabilities, model_fingerprint
from san_plugin.cascade.rule import cumulative_gflops
from .classifier import SANClassifier
from .eval_pipeline import set_model_resolution, set_multi_view_test
from .tta import view_inputs


def classify_with(model):
    """``(size, inputs) -> logits`` of an MMPretrain classifier as it runs on its input."""
    return lambda size, inputs: model(inputs, mode='tensor')


def multi_view_loader(cfg: Config, sizes: Sequence[int], crop_ratio: float, dataloader: dict | None = None):
    """A dataloader of ``dataloader`` (default: the config's test dataloader) whose pipeline makes
    the standard test crop at every size from one decoded image."""
    loader_cfg = copy.deepcopy(cfg)
    if dataloader is not None:
        loader_cfg.test_dataloader = copy.deepcopy(dataloader)
    set_multi_view_test(loader_cfg, sorted(set(sizes), reverse=True), crop_ratio)
    return Runner.build_dataloader(loader_cfg.test_dataloader)


@torch.no_grad()  # not inference_mode: MetaConv2d caches kernels by parameter version
def cascade_probabilities(model, cfg: Config, sizes: Sequence[int], *, crop_ratio: float,
                          dataloader: dict | None = None) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    """``({size: (N, C) softmax}, (N,) labels)`` of a classifier over a dataloader (one process).

    Example:
        >>> probs, labels = cascade_probabilities(model, cfg, [64, 48, 32], crop_ratio=0.875)
    """
    loader = multi_view_loader(cfg, sizes, crop_ratio, dataloader)
    return collect_probabilities(classify_with(model), (view_inputs(model, batch) for batch in loader), sizes)


@MODELS.register_module()
class SANCascadeClassifier(SANClassifier):
    """A ``SANClassifier`` that predicts each image at the smallest size it needs.

    Given one view per size (a ``MultiResolutionTest`` pipeline; a single batch for a cascade
    of one size), :meth:`predict` runs the
    cascade of a thresholds file (``tools/cascade.py``): the smallest size first, then only
    the undecided images at the next size, each step one batch. ``pred_score`` is the
    softmax the image stopped with and the metainfo ``cascade_size`` its exit size. The file
    is refused (:class:`~san_plugin.cascade.CascadeMismatchError`) when it was
    fitted for other training resolutions (at build) or other weights (at the first batch).

    Args:
        cascade: the thresholds file.
        **kwargs: ``SANClassifier`` arguments.

    Example:
        >>> model = dict(type='SANCascadeClassifier', cascade='work_dirs/san/epoch_100_cascade.json', ...)
    """

    def __init__(self, cascade: str, **kwargs) -> None:
        super().__init__(**kwargs)
        if not self.is_san:
            raise ValueError('SANCascadeClassifier needs a SAN (san=dict(...)); this config builds a plain model')
        self.cascade_file = str(cascade)
        self.cascade = Cascade.load(cascade)
        self.cascade.check(resolutions=self.resolutions, source=f'the thresholds in {cascade}',
                           target='the config\'s SAN')
        self._weights_checked = False

    def predict(self, inputs, data_samples: list[DataSample] | None = None, **kwargs) -> list[DataSample]:
        if not self._weights_checked:
            self.cascade.check(fingerprint=model_fingerprint(self), source=f'the thresholds in {self.cascade_file}',
                               target='the loaded checkpoint')
            self._weights_checked = True
        views = {input_resolution(v): self._to_memory_format(v)
                 for v in (inputs if isinstance(inputs, (list, tuple)) else [inputs])}
        outcome = self.cascade.run(lambda size, x: self(x, mode='tensor'), views)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(outcome.probs.size(0))]
        for sample, probs, stage in zip(data_samples, outcome.probs, outcome.exit_stage.tolist()):
            sample.set_pred_score(probs).set_pred_label(probs.argmax(dim=0, keepdim=True))
            sample.set_field(self.cascade.sizes[stage], 'cascade_size', field_type='metainfo')
        return data_samples


@METRICS.register_module()
class CascadeCost(BaseMetric):
    """Mean GFLOPs per image of a cascade's predictions, and how many images stopped at each size.

    Reads each sample's ``cascade_size`` (set by :class:`SANCascadeClassifier`); an image is
    charged the GFLOPs of every size up to its exit. Reports ``cascade/mean_gflops`` and
    ``cascade/images_<S>``.

    Args:
        gflops: ``{size: GFLOPs of one image}`` of the cascade's sizes.

    Example:
        >>> test_evaluator = [dict(type='Accuracy', topk=(1, )), dict(type='CascadeCost', gflops={32: 0.04, 64: 0.15})]
    """

    default_prefix = 'cascade'

    def __init__(self, gflops: dict, collect_device: str = 'cpu', prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.gflops = {int(s): float(g) for s, g in gflops.items()}

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'cascade_size' not in sample:
                raise KeyError('CascadeCost needs the predictions of SANCascadeClassifier (no cascade_size)')
            self.results.append(int(sample['cascade_size']))

    def compute_metrics(self, results: list[int]) -> dict[str, float]:
        sizes = sorted(self.gflops)
        cumulative = dict(zip(sizes, cumulative_gflops(sizes, self.gflops)))
        metrics = {'mean_gflops': sum(cumulative[r] for r in results) / max(len(results), 1)}
        metrics.update({f'images_{s}': float(sum(r == s for r in results)) for s in sizes})
        return metrics


def set_cascade_test(cfg: Config, cascade_file: str, cascade: Cascade) -> None:
    """Rewrites a SAN config for testing with a thresholds file (``tools/test.py --cascade``).

    The test pipeline makes the standard test crop at every size of the cascade from one
    decoded image (a cascade of one size: the single-size test pipeline), the model becomes a
    :class:`SANCascadeClassifier`, and the test evaluator reports top-1 (mmpretrain's ``Accuracy``,
    with the config's top-k) and :class:`CascadeCost`.

    Raises:
        ValueError: the config builds no ``SANClassifier`` SAN.
        CascadeMismatchError: the file was fitted for other training resolutions.
    """
    if cfg.model.get('type') != 'SANClassifier' or cfg.model.get('san') is None:
        raise ValueError(f'the cascade runs a SAN (a SANClassifier with san=dict(...)); {_name(cfg)} builds a '
                         f'{cfg.model.get("type")}{"" if cfg.model.get("san") is not None else " without san"}')
    cascade.check(resolutions=tuple(sorted(cfg.model.san.resolutions, reverse=True)),
                  source=f'the thresholds in {cascade_file}', target=f'the SAN of {_name(cfg)}')
    if len(cascade.sizes) > 1:
        set_multi_view_test(cfg, sorted(cascade.sizes, reverse=True), cascade.crop_ratio)
    else:  # one view per sample is one batch: the single-size pipeline
        set_model_resolution(cfg, cascade.sizes[0], cascade.crop_ratio)
    cfg.model.type = SANCascadeClassifier.__name__
    cfg.model.cascade = str(cascade_file)
    evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
    topk = next((e.get('topk') for e in evaluators if isinstance(e, dict) and e.get('topk')), (1,))
    cfg.test_evaluator = [dict(type='Accuracy', topk=topk),
                          dict(type=CascadeCost.__name__, gflops={str(s): g for s, g in cascade.gflops.items()})]


def _name(cfg: Config) -> str:
    return getattr(cfg, 'filename', None) or 'the config'
