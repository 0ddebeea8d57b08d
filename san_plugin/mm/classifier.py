"""SANClassifier: any MMPretrain classifier's backbone turned into a SAN by a config flag."""
from __future__ import annotations

import logging
import math
import warnings
from contextlib import nullcontext
from typing import Any, Callable, Sequence

import torch
import torch.distributed as dist
from mmengine.logging import MessageHub, print_log
from mmengine.optim import OptimWrapper
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from san_plugin.core import (DEFAULT_ENCODING, DEFAULT_INIT, DEFAULT_RESOLUTIONS, ScaleEncoding, convert,
                             find_controller, get_controller, input_resolution, validate_resolutions)
from san_plugin.core.divergence import DivergenceMonitor, SANDivergenceWarning
from .backbone_weights import PretrainedBackbone
from .head import SANClsHead
from .preprocessor import SANDataPreprocessor
from .resolutions import SAN_SOURCE, fill_or_check

SAN_DEFAULTS = dict(resolutions=DEFAULT_RESOLUTIONS, exclude=(), meta_hidden=None, init=DEFAULT_INIT,
                    mode='proxy', encoding=DEFAULT_ENCODING, convs='meta', regenerate_kernels=True)


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite; the step was not applied on any rank.

    Attributes:
        losses: ``(rank, resolution, value)`` of every non-finite per-resolution loss.
        iteration: the 1-based training iteration, when known (from mmengine's message hub).
    """

    def __init__(self, message: str, losses: Sequence[tuple[int, int, float]] = (),
                 iteration: int | None = None) -> None:
        super().__init__(message)
        self.losses = tuple(losses)
        self.iteration = iteration


@MODELS.register_module()
class SANClassifier(ImageClassifier):
    """An ``ImageClassifier`` whose backbone is a Scale Adaptive Network.

    The backbone (any registered one: mmpretrain's or ``TIMMBackbone``) is built,
    initialised (its own random init), then converted by :func:`san_plugin.core.convert`
    with the ``san`` settings; building reads no file. Trained weights named by the
    backbone's ``init_cfg=dict(type='StrictPretrained', ...)`` load in :meth:`init_weights`,
    mapped onto the converted layers (see :mod:`~san_plugin.mm.backbone_weights`).
    ``san.resolutions`` is the model's one statement of its training resolutions: the
    head and the data preprocessor take them from there (a different list stated there
    is refused, naming both keys; see ``docs/configs.md``).

    A training step runs the resolutions largest first and backpropagates each
    resolution's loss before the next forward, so peak activation memory is that of one
    resolution while the gradients equal those of the summed loss; the optimizer steps
    once. In predict mode the model runs at its input's resolution; given a list
    of views (one per resolution) it predicts at each.

    Args:
        backbone: backbone config.
        san: conversion settings: ``resolutions`` (default the core's ``DEFAULT_RESOLUTIONS``),
            ``exclude``, ``meta_hidden``, ``init`` (default the core's ``DEFAULT_INIT``,
            ``'pretrained'``: keep the backbone's own init; ``'scratch'`` re-draws),
            ``mode`` (``'proxy'``/``'ideal'``), ``encoding`` (default ``'paper'``;
            ``'standardized'`` or ``dict(factor=..., base=..., offset=...)``), ``convs`` (``'meta'``/``'shared'``)
            and ``regenerate_kernels`` (True: less memory; False: a faster training step,
            see :class:`~san_plugin.core.ScaleController`). ``san=None`` builds the
            unconverted model (a baseline or the private-BN-only ablation's
            counterpart) with the same training step.
        neck, head, pretrained, train_cfg, data_preprocessor, init_cfg: as in
            ``ImageClassifier``; ``data_preprocessor`` defaults to ``SANDataPreprocessor``.
        channels_last: keep the model's 4-D parameters (conv weights, and a SAN's
            kernel-shaped meta learner ``W`` and ``B``, so the generated kernels come out
            channels-last too) and every input batch (converted in ``train_step``,
            ``predict`` and ``mode='tensor'``, after the data preprocessor) in
            ``torch.channels_last``: the memory format GPU convolutions (cuDNN, tensor
            cores) run fastest in. Same outputs up to float rounding. Works with and
            without ``san``. The MLP meta learner (``meta_hidden``) still generates
            contiguous kernels.

    Example:
        >>> model = dict(
        ...     type='SANClassifier',
        ...     backbone=dict(type='ResNet', depth=50),
        ...     san=dict(resolutions=[224, 192, 160, 128, 96], init='scratch'),
        ...     neck=dict(type='GlobalAveragePooling'),
        ...     head=dict(type='SANClsHead', num_classes=1000, in_channels=2048),
        ...     channels_last=True)
    """

    def __init__(self, backbone: dict, san: dict | None = None, neck: dict | None = None,
                 head: dict | None = None, pretrained: str | None = None, train_cfg: dict | None = None,
                 data_preprocessor: dict | None = None, init_cfg: dict | None = None,
                 channels_last: bool = False) -> None:
        if not isinstance(channels_last, bool):
            raise TypeError(f'channels_last must be True or False, got {channels_last!r}')
        if isinstance(data_preprocessor, dict) or data_preprocessor is None:
            data_preprocessor = dict(data_preprocessor or {})
            data_preprocessor.setdefault('type', 'SANDataPreprocessor')
        san_cfg = None if san is None else {**SAN_DEFAULTS, **san}
        if san_cfg is not None:
            head, data_preprocessor = self._derive_resolutions(san_cfg, head, data_preprocessor)
        super().__init__(backbone=backbone, neck=neck, head=head, pretrained=pretrained, train_cfg=train_cfg,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.san_cfg = san_cfg
        if not isinstance(self.head, SANClsHead):
            raise TypeError(f'SANClassifier needs a SANClsHead (it is told the resolution), got '
                            f'{type(self.head).__name__}')
        self.backbone_weights = PretrainedBackbone([])
        if self.san_cfg is not None:
            self._convert_backbone(self.san_cfg)
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)
        self.divergence = DivergenceMonitor(self.head.num_classes)

    @staticmethod
    def _derive_resolutions(san: dict, head: Any, data_preprocessor: Any) -> tuple[Any, Any]:
        """Copies of the head and data preprocessor configs given ``san``'s resolutions (refused,
        naming both, where they state others)."""
        unknown = set(san) - set(SAN_DEFAULTS)
        if unknown:
            raise ValueError(f'unknown san option(s) {sorted(unknown)}; known: {sorted(SAN_DEFAULTS)}')
        resolutions = validate_resolutions(san['resolutions'], SAN_SOURCE)
        derived = []
        for cfg, kind, name in ((head, SANClsHead, 'model.head.resolutions'),
                                (data_preprocessor, SANDataPreprocessor, 'data_preprocessor.resolutions')):
            if isinstance(cfg, dict) and _builds(cfg, kind):
                cfg = dict(cfg)
                fill_or_check(cfg, 'resolutions', resolutions, name, SAN_SOURCE)
            derived.append(cfg)
        return derived[0], derived[1]

    def _to_memory_format(self, inputs: torch.Tensor) -> torch.Tensor:
        """``inputs`` in the model's memory format (channels-last 4-D batches when asked)."""
        if self.channels_last and isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
            return inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    def _convert_backbone(self, cfg: dict) -> None:
        # Initialise the plain backbone first (its own random init, reading no file): after the
        # conversion its layers are MetaConv2d/PrivateBatchNorm2d, which the backbone's own
        # init_weights (e.g. zero_init_last) does not know. Trained weights named by its
        # init_cfg load in init_weights(), mapped onto the converted layers.
        self.backbone_weights = PretrainedBackbone.take_from(self.backbone)
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

    def init_weights(self) -> None:
        """The backbone's trained weights (its ``StrictPretrained`` init_cfg), mapped onto the converted
        backbone (the only place a SAN reads them), then MMPretrain's initialisation of the rest."""
        if not self.is_init and self.backbone_weights:
            self.backbone_weights.load_into(self.backbone)
        super().init_weights()

    # -- resolutions -------------------------------------------------------------------
    @property
    def is_san(self) -> bool:
        return self.san_cfg is not None

    @property
    def resolutions(self) -> tuple[int, ...]:
        """Training resolutions, largest first (the head's for a plain model, or a SAN baked for
        deployment, whose backbone has no controller left: TorchScript tracing reads every property)."""
        controller = find_controller(self.backbone) if self.is_san else None
        if controller is not None:
            return controller.resolutions
        return tuple(getattr(self.head, 'resolutions', ()))

    def forward(self, inputs: torch.Tensor | Sequence[torch.Tensor], data_samples: list[DataSample] | None = None,
                mode: str = 'tensor', **kwargs: Any):
        """``ImageClassifier.forward`` with keyword arguments passed to ``loss``/``predict``."""
        if mode == 'loss':
            return self.loss(inputs, data_samples, **kwargs)
        if mode == 'predict':
            return self.predict(inputs, data_samples, **kwargs)
        if mode == 'tensor':
            inputs = self._to_memory_format(inputs)
            return self.head(self.extract_feat(inputs), input_resolution(inputs))
        raise RuntimeError(f'Invalid mode "{mode}".')

    # -- training -----------------------------------------------------------------------
    def loss(self, inputs: torch.Tensor, data_samples: list[DataSample], teachers: Sequence[torch.Tensor] = (),
             **kwargs: Any) -> dict[str, torch.Tensor]:
        """Losses at one resolution (the input's)."""
        inputs = self._to_memory_format(inputs)
        feats = self.extract_feat(inputs)
        return self.head.loss(feats, data_samples, resolution=input_resolution(inputs), teachers=teachers,
                              **kwargs)

    def train_step(self, data: dict | tuple | list, optim_wrapper: OptimWrapper,
                   forward: Callable[..., Any] | None = None) -> dict[str, torch.Tensor]:
        """One optimisation step over all resolutions, one backward per resolution.

        Every resolution's loss goes through ``optim_wrapper.scale_loss`` and
        ``optim_wrapper.backward`` (accumulation, AMP loss scaling), and the update is
        ``optim_wrapper.step()`` + ``zero_grad()`` when ``should_update()``, as in
        ``OptimWrapper.update_params``, so clipping, ``AmpOptimWrapper``,
        ``CPUAmpOptimWrapper`` and ``accumulative_counts`` behave as there. The losses
        stay on the device until all resolutions ran: one host read per iteration (with
        the log values) checks them, all-reduced over the ranks of a process group,
        before the update, so a non-finite loss on any rank stops every rank with the
        same :class:`NonFiniteLossError` and no weight changes.

        Args:
            data: a batch from the dataloader.
            optim_wrapper: mmengine's optimizer wrapper (clipping, AMP scaling, accumulation).
            forward: the callable that runs the forward, called as ``forward(inputs,
                mode='tensor')`` for the logits (a DDP wrapper passes itself, so its gradient
                hooks fire; the head's losses follow from those logits under the same
                ``optim_context``); gradients are all-reduced once per update: on the
                last resolution of the last iteration of an accumulation window
                (``optim_wrapper.should_sync()``), every other forward runs under ``no_sync()``.

        Returns:
            ``loss_ce_<S>`` per resolution, ``loss_sd`` (all resolutions) and ``loss``, as
            0-dim CPU tensors (read in the same host read, so logging them syncs nothing).

        Raises:
            NonFiniteLossError: a resolution's loss was NaN or infinite on some rank; the
                gradients are zeroed and the optimizer did not step.
        """
        forward = self if forward is None else forward  # a compiled module has no truth value
        with optim_wrapper.optim_context(self):
            data = self.data_preprocessor(data, True)
        views = data['inputs'] if isinstance(data['inputs'], (list, tuple)) else [data['inputs']]
        views = [self._to_memory_format(view) for view in views]
        samples = data['data_samples']
        sync_last = optim_wrapper.should_sync()  # the iteration that ends an accumulation window
        no_sync = getattr(forward, 'no_sync', None)
        teachers: list[torch.Tensor] = []
        losses_seen: list[torch.Tensor] = []
        log_vars: dict[str, torch.Tensor] = {}
        for index, inputs in enumerate(views):
            last = index == len(views) - 1
            sync = no_sync is None or (last and sync_last)
            with optim_wrapper.optim_context(self), (nullcontext() if sync else no_sync()):
                logits = forward(inputs, mode='tensor')
                losses = self.head.loss_from_logits(logits, samples, resolution=input_resolution(inputs),
                                                    teachers=tuple(teachers))
            teachers.append(logits.detach())
            loss, resolution_vars = self.parse_losses(losses)
            losses_seen.append(loss.detach().reshape(()).float())
            optim_wrapper.backward(optim_wrapper.scale_loss(loss))
            if not last:
                # mmengine counts one backward per iteration (scale_loss, should_sync and
                # should_update read the count). 0.10.7 has no public way to backpropagate
                # without counting: ``inner_count`` is read-only, ``initialize_count_status``
                # resets the count and warns, and ``loss.backward()`` would skip
                # AmpOptimWrapper's loss scaling.
                optim_wrapper._inner_count -= 1
            for key, value in resolution_vars.items():
                if key.startswith('loss_sd_'):
                    key = 'loss_sd'
                log_vars[key] = log_vars.get(key, 0) + value
        table = self._losses_of_all_ranks(torch.stack(losses_seen))
        names = list(log_vars)
        logged = torch.stack([log_vars[name].detach().double().reshape(()) for name in names])
        # The one host read of the iteration: every rank's per-resolution losses and this
        # rank's log values (mmengine's logging reads each log value with .item() otherwise).
        values = torch.cat([table.flatten().double(), logged.to(table.device)]).tolist()
        self._check_finite(values[:table.numel()], table.shape[0], [input_resolution(v) for v in views],
                           optim_wrapper)
        self._check_divergence(dict(zip(names, values[table.numel():])), optim_wrapper)
        if optim_wrapper.should_update():
            optim_wrapper.step()
            optim_wrapper.zero_grad()
        return {name: torch.tensor(value, dtype=log_vars[name].dtype)
                for name, value in zip(names, values[table.numel():])}

    def _check_divergence(self, logged: dict[str, float], optim_wrapper: OptimWrapper) -> None:
        """One warning, a log line, when a resolution's CE (unweighted) exceeds 2 ln(C)."""
        ce = {}
        for name, value in logged.items():
            if name.startswith('loss_ce_') and self.head.ce_weight(int(name[len('loss_ce_'):])):
                resolution = int(name[len('loss_ce_'):])
                ce[resolution] = value / self.head.ce_weight(resolution)
        rates = optim_wrapper.get_lr().get('lr') or [None]
        with warnings.catch_warnings():  # said once, by the log (console and log file), not also on stderr
            warnings.simplefilter('ignore', SANDivergenceWarning)
            message = self.divergence.check(ce, iteration=_current_iteration(), lr=rates[0],
                                            loss_form=self.head.loss_form.form)
        if message:
            print_log(message, logger='current', level=logging.WARNING)

    @staticmethod
    def _losses_of_all_ranks(losses: torch.Tensor) -> torch.Tensor:
        """``world_size x k`` table of every rank's per-resolution losses (one all-reduce
        when a process group with several ranks exists; ``1 x k`` otherwise)."""
        if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return losses[None]
        table = losses.new_zeros(dist.get_world_size(), losses.numel())
        table[dist.get_rank()] = losses
        dist.all_reduce(table)  # every other rank adds zeros: a NaN or an inf stays one
        return table

    @staticmethod
    def _check_finite(losses: list[float], world: int, resolutions: Sequence[int],
                      optim_wrapper: OptimWrapper) -> None:
        """Raises :class:`NonFiniteLossError` (the same on every rank) if any rank's loss is
        not finite, after zeroing the gradients.

        Args:
            losses: the ``world x k`` loss table, flattened, on the host.
            world: the number of ranks.
            resolutions: the k resolutions, in the table's order.
            optim_wrapper: its gradients are zeroed before raising.
        """
        k = len(resolutions)
        bad = [(index // k, resolutions[index % k], value) for index, value in enumerate(losses)
               if not math.isfinite(value)]
        if not bad:
            return
        optim_wrapper.zero_grad()
        iteration = _current_iteration()
        groups = []
        for bad_rank in sorted({r for r, _, _ in bad}):
            where = ', '.join(f'at resolution {s} px is {v}' for r, s, v in bad if r == bad_rank)
            groups.append(where + (f' on rank {bad_rank}' if world > 1 else ''))
        message = 'the training loss ' + '; '.join(groups)
        if world > 1:
            message += f' (of {world} ranks)'
        if iteration is not None:
            message += f' in iteration {iteration}'
        message += (f'; the step was not applied{" on any rank" if world > 1 else ""} (lower the learning rate, '
                    f'enable gradient clipping, or check the data)')
        raise NonFiniteLossError(message, bad, iteration)

    # -- inference ------------------------------------------------------------------------
    def predict(self, inputs: torch.Tensor | Sequence[torch.Tensor], data_samples: list[DataSample] | None = None,
                **kwargs: Any) -> list[DataSample]:
        """Predicts at the input's resolution; for a list of views, at each of them.

        With several views, ``pred_score`` is that of the first (largest) view and every
        view's scores are in the metainfo field ``resolution_scores`` ``{S: scores}``.
        """
        if not isinstance(inputs, (list, tuple)):
            inputs = self._to_memory_format(inputs)
            feats = self.extract_feat(inputs)
            return self.head.predict(feats, data_samples, resolution=input_resolution(inputs), **kwargs)
        logits = {}
        for view in inputs:
            view = self._to_memory_format(view)
            resolution = input_resolution(view)
            logits[resolution] = self.head(self.extract_feat(view), resolution).detach()
        samples = self.head._get_predictions(next(iter(logits.values())), data_samples)
        for i, sample in enumerate(samples):
            sample.set_field({r: torch.softmax(l[i], dim=0) for r, l in logits.items()}, 'resolution_scores',
                             field_type='metainfo')
        return samples


def _builds(cfg: dict, kind: type) -> bool:
    """Whether the config dict ``cfg`` builds a ``kind`` (or a subclass) from mmpretrain's registry."""
    built = cfg.get('type')
    built = MODELS.get(built) if isinstance(built, str) else built
    return isinstance(built, type) and issubclass(built, kind)


def _current_iteration() -> int | None:
    """The 1-based training iteration from mmengine's message hub, if a train loop runs."""
    hub = MessageHub.get_current_instance()
    if hub.get_info('loop_stage') != 'train' or hub.get_info('iter') is None:
        return None
    return int(hub.get_info('iter')) + 1
