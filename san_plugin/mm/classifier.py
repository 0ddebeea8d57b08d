"""SANClassifier: any MMPretrain classifier's backbone turned into a SAN by a config flag."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Callable, Sequence

import torch
from torch import nn
from mmengine.optim import OptimWrapper
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from san_plugin.core import ScaleEncoding, convert, get_controller, input_resolution
from .head import SANClsHead

SAN_DEFAULTS = dict(resolutions=(224, 192, 160, 128, 96), exclude=(), meta_hidden=None, init='scratch',
                    mode='proxy', encoding=dict(factor=0.1, base=32), convs='meta', regenerate_kernels=True)


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite."""


@MODELS.register_module()
class SANClassifier(ImageClassifier):
    """An ``ImageClassifier`` whose backbone is a Scale Adaptive Network.

    The backbone (any registered one: mmpretrain's or ``TIMMBackbone``) is built,
    initialised, then converted by :func:`san_plugin.core.convert` with the ``san``
    settings. A training step runs the resolutions largest first and backpropagates
    each resolution's loss before the next forward, so peak activation memory is that
    of one resolution while the gradients equal those of the summed loss; the optimizer
    steps once. In predict mode the model runs at its input's resolution; given a list
    of views (one per resolution) it predicts at each.

    Args:
        backbone: backbone config.
        san: conversion settings: ``resolutions``, ``exclude``, ``meta_hidden``,
            ``init`` (``'scratch'``/``'pretrained'``), ``mode`` (``'proxy'``/``'ideal'``)
            ``encoding`` (``dict(factor=0.1, base=32)``, ``'paper'`` or ``'standardized'``), ``convs`` (``'meta'``/``'shared'``)
            and ``regenerate_kernels`` (True: less memory; False: a faster training step,
            see :class:`~san_plugin.core.ScaleController`). ``san=None`` builds the
            unconverted model (a baseline or the private-BN-only ablation's
            counterpart) with the same training step.
        neck, head, pretrained, train_cfg, data_preprocessor, init_cfg: as in
            ``ImageClassifier``; ``data_preprocessor`` defaults to ``SANDataPreprocessor``.

    Example:
        >>> model = dict(
        ...     type='SANClassifier',
        ...     backbone=dict(type='ResNet', depth=50),
        ...     san=dict(resolutions=[224, 192, 160, 128, 96], init='scratch'),
        ...     neck=dict(type='GlobalAveragePooling'),
        ...     head=dict(type='SANClsHead', num_classes=1000, in_channels=2048,
        ...               resolutions=[224, 192, 160, 128, 96]))
    """

    def __init__(self, backbone: dict, san: dict | None = None, neck: dict | None = None,
                 head: dict | None = None, pretrained: str | None = None, train_cfg: dict | None = None,
                 data_preprocessor: dict | None = None, init_cfg: dict | None = None) -> None:
        if isinstance(data_preprocessor, dict) or data_preprocessor is None:
            data_preprocessor = dict(data_preprocessor or {})
            data_preprocessor.setdefault('type', 'SANDataPreprocessor')
        super().__init__(backbone=backbone, neck=neck, head=head, pretrained=pretrained, train_cfg=train_cfg,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not isinstance(self.head, SANClsHead):
            raise TypeError(f'SANClassifier needs a SANClsHead (it is told the resolution), got '
                            f'{type(self.head).__name__}')
        self.san_cfg = None if san is None else {**SAN_DEFAULTS, **san}
        if self.san_cfg is not None:
            self._convert_backbone(self.san_cfg)

    def _convert_backbone(self, cfg: dict) -> None:
        unknown = set(cfg) - set(SAN_DEFAULTS)
        if unknown:
            raise ValueError(f'unknown san option(s) {sorted(unknown)}; known: {sorted(SAN_DEFAULTS)}')
        # Initialise (or load pretrained weights into) the plain backbone first: after the
        # conversion its layers are MetaConv2d/PrivateBatchNorm2d, which the backbone's own
        # init_weights (e.g. zero_init_last) does not know.
        if hasattr(self.backbone, 'init_weights') and not getattr(self.backbone, 'is_init', False):
            self.backbone.init_weights()
        encoding = cfg['encoding']
        encoding = ScaleEncoding.from_config(dict(encoding) if hasattr(encoding, 'keys') else encoding,
                                             cfg['resolutions'])
        try:
            _, self.conversion_report = convert(
                self.backbone, cfg['resolutions'], exclude=tuple(cfg['exclude']), meta_hidden=cfg['meta_hidden'],
                init=cfg['init'], mode=cfg['mode'], encoding=encoding, convs=cfg['convs'])
        except (TypeError, ValueError) as error:
            raise type(error)(f'cannot convert backbone {type(self.backbone).__name__} to a SAN: {error}') from error
        if hasattr(self.backbone, '_is_init'):
            self.backbone._is_init = True  # never re-initialise converted layers
        controller = get_controller(self.backbone)
        controller.regenerate_kernels = bool(cfg['regenerate_kernels'])
        san_resolutions = controller.resolutions
        if tuple(self.head.resolutions) != san_resolutions:
            raise ValueError(f'the head is set up for resolutions {tuple(self.head.resolutions)} but san converts '
                             f'the backbone for {san_resolutions}; give both the same list')

    # -- resolutions -------------------------------------------------------------------
    @property
    def is_san(self) -> bool:
        return self.san_cfg is not None

    @property
    def resolutions(self) -> tuple[int, ...]:
        """Training resolutions, largest first (the head's for a plain model)."""
        if self.is_san:
            return get_controller(self.backbone).resolutions
        return tuple(getattr(self.head, 'resolutions', ()))

    def forward(self, inputs: torch.Tensor | Sequence[torch.Tensor], data_samples: list[DataSample] | None = None,
                mode: str = 'tensor', **kwargs: Any):
        """``ImageClassifier.forward`` with keyword arguments passed to ``loss``/``predict``."""
        if mode == 'loss':
            return self.loss(inputs, data_samples, **kwargs)
        if mode == 'predict':
            return self.predict(inputs, data_samples, **kwargs)
        if mode == 'tensor':
            return self.head(self.extract_feat(inputs), input_resolution(inputs))
        raise RuntimeError(f'Invalid mode "{mode}".')

    # -- training -----------------------------------------------------------------------
    def loss(self, inputs: torch.Tensor, data_samples: list[DataSample], teachers: Sequence[torch.Tensor] = (),
             **kwargs: Any) -> dict[str, torch.Tensor]:
        """Losses at one resolution (the input's)."""
        feats = self.extract_feat(inputs)
        return self.head.loss(feats, data_samples, resolution=input_resolution(inputs), teachers=teachers,
                              **kwargs)

    def train_step(self, data: dict | tuple | list, optim_wrapper: OptimWrapper,
                   forward: Callable[..., Any] | None = None) -> dict[str, torch.Tensor]:
        """One optimisation step over all resolutions, one backward per resolution.

        Args:
            data: a batch from the dataloader.
            optim_wrapper: mmengine's optimizer wrapper (clipping, AMP scaling, accumulation).
            forward: the callable that runs the forward (a DDP wrapper passes itself, so
                its gradient hooks fire); gradients are synchronised once, on the last backward.

        Returns:
            ``loss_ce_<S>`` per resolution, ``loss_sd`` (all resolutions) and ``loss``.
        """
        forward = self if forward is None else forward  # a compiled module has no truth value
        with optim_wrapper.optim_context(self):
            data = self.data_preprocessor(data, True)
        views = data['inputs'] if isinstance(data['inputs'], (list, tuple)) else [data['inputs']]
        samples = data['data_samples']
        teachers: list[torch.Tensor] = []
        log_vars: dict[str, torch.Tensor] = {}
        for index, inputs in enumerate(views):
            last = index == len(views) - 1
            no_sync = getattr(forward, 'no_sync', None)
            with optim_wrapper.optim_context(self), (nullcontext() if last or no_sync is None else no_sync()):
                losses = forward(inputs, samples, mode='loss', teachers=tuple(teachers))
            teachers.append(losses.pop('logits').detach())
            loss, resolution_vars = self.parse_losses(losses)
            self._check_finite(loss, inputs, optim_wrapper)
            if last:
                optim_wrapper.update_params(loss)
            else:
                optim_wrapper.backward(optim_wrapper.scale_loss(loss))
                optim_wrapper._inner_count -= 1  # mmengine counts one update per iteration, not per resolution
            for key, value in resolution_vars.items():
                if key.startswith('loss_sd_'):
                    key = 'loss_sd'
                log_vars[key] = log_vars.get(key, 0) + value
        return log_vars

    @staticmethod
    def _check_finite(loss: torch.Tensor, inputs: torch.Tensor, optim_wrapper: OptimWrapper) -> None:
        if not torch.isfinite(loss).all():
            optim_wrapper.zero_grad()
            raise NonFiniteLossError(
                f'the training loss at resolution {input_resolution(inputs)} px is {loss.item()}; the step was '
                f'not applied (lower the learning rate, enable gradient clipping, or check the data)')

    # -- inference ------------------------------------------------------------------------
    def predict(self, inputs: torch.Tensor | Sequence[torch.Tensor], data_samples: list[DataSample] | None = None,
                **kwargs: Any) -> list[DataSample]:
        """Predicts at the input's resolution; for a list of views, at each of them.

        With several views, ``pred_score`` is that of the first (largest) view and every
        view's scores are in the metainfo field ``resolution_scores`` ``{S: scores}``.
        """
        if not isinstance(inputs, (list, tuple)):
            feats = self.extract_feat(inputs)
            return self.head.predict(feats, data_samples, resolution=input_resolution(inputs), **kwargs)
        logits = {}
        for view in inputs:
            resolution = input_resolution(view)
            logits[resolution] = self.head(self.extract_feat(view), resolution).detach()
        samples = self.head._get_predictions(next(iter(logits.values())), data_samples)
        for i, sample in enumerate(samples):
            sample.set_field({r: torch.softmax(l[i], dim=0) for r, l in logits.items()}, 'resolution_scores',
                             field_type='metainfo')
        return samples
