"""SANClassifier: any MMPretrain classifier's backbone turned into a SAN by a config flag."""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch
from mmengine.optim import OptimWrapper
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from san_plugin.core import SANSpec, convert, find_controller, get_controller, input_resolution
from san_plugin.core.sampling import ResolutionSampling
from .backbone_weights import PretrainedBackbone
from .head import SANClsHead
from .preprocessor import SANDataPreprocessor
from .multi_resolution_step import MultiResolutionStep
from .resolutions import SAN_KEY, SAN_SOURCE, fill_or_check
from .step_checks import NonFiniteLossError

#: The options of ``san=dict(...)`` that steer training, not the conversion (so no ``SANSpec``
#: field), with their defaults; the other keys of ``san`` are the ``SANSpec`` fields.
TRAINING_OPTIONS = dict(regenerate_kernels=True, sampling=dict(type='all'))

__all__ = ['NonFiniteLossError', 'SANClassifier', 'TRAINING_OPTIONS']


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
        san: the conversion's settings, the fields of :class:`~san_plugin.core.SANSpec`
            (``resolutions``, ``encoding``, ``meta_hidden``, ``exclude``, ``convs``, ``init``,
            ``mode``: what each means and its default is stated there), and the training
            options :data:`TRAINING_OPTIONS`: ``regenerate_kernels`` (True: less memory; False:
            a faster training step, see :class:`~san_plugin.core.ScaleController`) and
            ``sampling``, the resolutions each training step runs: ``dict(type='all')``
            (default) or ``dict(type='sandwich', num_random=n, seed=0)``, the largest, the
            smallest and n others drawn per iteration
            (:class:`~san_plugin.core.sampling.ResolutionSampling`; the draw is a function of
            the seed and mmengine's iteration, the same on every rank and after a resume). An
            unknown key is refused, naming the known ones. ``san=None`` builds the
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
        spec, options = (None, {}) if san is None else self._san_settings(san)
        if spec is not None:
            head, data_preprocessor = self._derive_resolutions(spec.resolutions, head, data_preprocessor)
        super().__init__(backbone=backbone, neck=neck, head=head, pretrained=pretrained, train_cfg=train_cfg,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.san_spec: SANSpec | None = spec
        self.san_options: dict[str, Any] = options
        if not isinstance(self.head, SANClsHead):
            raise TypeError(f'SANClassifier needs a SANClsHead (it is told the resolution), got '
                            f'{type(self.head).__name__}')
        self.backbone_weights = PretrainedBackbone([])
        if self.san_spec is not None:
            self._convert_backbone()
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)
        self.multi_resolution_step = MultiResolutionStep(options.get('sampling', ResolutionSampling()), self.head.num_classes)

    @staticmethod
    def _san_settings(san: Mapping[str, Any]) -> tuple[SANSpec, dict[str, Any]]:
        """The :class:`SANSpec` of ``san`` and its training options (defaults filled in); an unknown
        key or a bad value is refused, naming the key."""
        known = sorted((*SANSpec.field_names(), *TRAINING_OPTIONS))
        unknown = set(san) - set(known)
        if unknown:
            raise ValueError(f'unknown san option(s) {sorted(unknown)}; known: {known}')
        try:
            spec, options = SANSpec.split(san)
        except (TypeError, ValueError) as error:  # every SANSpec message starts with the field's name
            raise type(error)(f'{SAN_KEY}.{error}') from error
        options = {**TRAINING_OPTIONS, **options}
        if not isinstance(options['regenerate_kernels'], bool):
            raise TypeError(f'{SAN_KEY}.regenerate_kernels must be True or False, '
                            f'got {options["regenerate_kernels"]!r}')
        try:
            options['sampling'] = ResolutionSampling.from_config(options['sampling'])
            options['sampling'].check(spec.resolutions)
        except ValueError as error:
            raise ValueError(f'{SAN_KEY}.sampling: {error}') from error
        return spec, options

    @staticmethod
    def _derive_resolutions(resolutions: tuple[int, ...], head: Any, data_preprocessor: Any) -> tuple[Any, Any]:
        """Copies of the head and data preprocessor configs given the SAN's ``resolutions`` (refused,
        naming both, where they state others)."""
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

    def _convert_backbone(self) -> None:
        # Initialise the plain backbone first (its own random init, reading no file): after the
        # conversion its layers are MetaConv2d/PrivateBatchNorm2d, which the backbone's own
        # init_weights (e.g. zero_init_last) does not know. Trained weights named by its
        # init_cfg load in init_weights(), mapped onto the converted layers.
        self.backbone_weights = PretrainedBackbone.take_from(self.backbone)
        if hasattr(self.backbone, 'init_weights') and not getattr(self.backbone, 'is_init', False):
            self.backbone.init_weights()
        try:
            _, self.conversion_report = convert(self.backbone, self.san_spec)
        except (TypeError, ValueError) as error:
            raise type(error)(f'cannot convert backbone {type(self.backbone).__name__} to a SAN: {error}') from error
        if hasattr(self.backbone, '_is_init'):
            self.backbone._is_init = True  # never re-initialise converted layers
        controller = get_controller(self.backbone)
        controller.regenerate_kernels = self.san_options['regenerate_kernels']
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
        return self.san_spec is not None

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
        """One optimisation step over all resolutions (or the drawn ones, see ``sampling``), one
        backward per resolution (:class:`~san_plugin.mm.multi_resolution_step.MultiResolutionStep`).

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
            ``loss_ce_<S>`` per resolution that ran, ``loss_sd`` (all of them) and ``loss``, as
            0-dim CPU tensors (read in the step's one host read, so logging them syncs nothing).

        Raises:
            NonFiniteLossError: a resolution's loss was NaN or infinite on some rank; the
                gradients are zeroed and the optimizer did not step.
        """
        return self.multi_resolution_step(self, data, optim_wrapper, forward)

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
