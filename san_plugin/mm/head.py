"""SANClsHead: one classifier shared by every resolution, owning CE and scale distillation."""
from __future__ import annotations

from typing import Iterable, Sequence

import torch
from torch import nn
from mmpretrain.models.heads import ClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from san_plugin.core.loss_form import LossForm
from san_plugin.core.scale import nearest_resolution, validate_resolutions

PRIVATE_OPTIONS = ('none', 'bias', 'fc')


@MODELS.register_module()
class SANClsHead(ClsHead):
    """A linear classification head conditioned on the resolution.

    The paper shares the final FC among all resolutions (``private='none'``). As
    ablations, ``private='bias'`` gives each training resolution its own bias and
    ``private='fc'`` its own FC. A test resolution uses the nearest training one's.

    Args:
        num_classes: number of classes.
        in_channels: feature width.
        resolutions: the training resolutions.
        private: ``'none'``, ``'bias'`` or ``'fc'``.
        loss: the per-resolution classification loss (alpha via its ``loss_weight``).
        distill: the scale-distillation loss (beta via its ``loss_weight``), or None.
        resolution_weights: optional per-resolution multipliers of the CE term.
        loss_form: how the k CE terms and the distillation pairs combine: ``'sum'``
            (the paper's loss and code) or ``'mean'`` (CE averaged over the resolutions,
            distillation averaged over its pairs; a single model's gradient scale, see
            :class:`~san_plugin.core.LossForm`).

    Example:
        >>> head = dict(type='SANClsHead', num_classes=1000, in_channels=512,
        ...             resolutions=[224, 192, 160, 128, 96],
        ...             loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        ...             distill=dict(type='ScaleDistillationLoss', loss_weight=1.0),
        ...             loss_form='sum')
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        resolutions: Iterable[int],
        private: str = 'none',
        loss: dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
        distill: dict | None = dict(type='ScaleDistillationLoss', mode='all_pairs', loss_weight=1.0),
        resolution_weights: dict | Sequence[float] | None = None,
        loss_form: str = 'sum',
        init_cfg: dict | None = dict(type='Normal', layer='Linear', std=0.01),
        **kwargs,
    ) -> None:
        super().__init__(loss=loss, init_cfg=init_cfg, **kwargs)
        if private not in PRIVATE_OPTIONS:
            raise ValueError(f'SANClsHead private must be one of {PRIVATE_OPTIONS}, got {private!r}')
        self.resolutions = validate_resolutions(resolutions, 'SANClsHead resolutions')
        self.private = private
        self.num_classes = num_classes
        self.distill = None if distill is None else MODELS.build(distill)
        self.resolution_weights = self._parse_weights(resolution_weights)
        self.loss_form = LossForm(loss_form, len(self.resolutions),
                                  'all_pairs' if self.distill is None else self.distill.mode)
        self._forms: dict[tuple[str, str, int], LossForm] = {}  # the forms of sampled steps, made once
        if private == 'fc':
            self.fc = nn.ModuleDict({str(r): nn.Linear(in_channels, num_classes) for r in self.resolutions})
        else:
            self.fc = nn.Linear(in_channels, num_classes, bias=private == 'none')
        if private == 'bias':
            self.private_bias = nn.ParameterDict(
                {str(r): nn.Parameter(torch.zeros(num_classes)) for r in self.resolutions})

    def _parse_weights(self, weights) -> dict[int, float]:
        if weights is None:
            return {r: 1.0 for r in self.resolutions}
        if isinstance(weights, dict):
            unknown = set(int(k) for k in weights) - set(self.resolutions)
            if unknown:
                raise ValueError(f'resolution_weights names {sorted(unknown)}, not training resolutions '
                                 f'{self.resolutions}')
            return {r: float(weights.get(r, weights.get(str(r), 1.0))) for r in self.resolutions}
        weights = list(weights)
        if len(weights) != len(self.resolutions):
            raise ValueError(f'resolution_weights has {len(weights)} values for {len(self.resolutions)} '
                             f'resolutions {self.resolutions}')
        return dict(zip(self.resolutions, map(float, weights)))

    def form_for(self, present: int | None = None) -> LossForm:
        """The loss form of a step that ran ``present`` resolutions (None: all of them).

        A sampled step (``SANClassifier``'s ``sampling``) runs fewer than k: ``'sum'`` adds the
        CE and distillation terms that ran, ``'mean'`` averages over those that ran.
        """
        if present is None or present == self.loss_form.k:
            return self.loss_form
        key = (self.loss_form.form, self.loss_form.distill_mode, present)
        form = self._forms.get(key)
        if form is None:
            form = self._forms[key] = LossForm(self.loss_form.form, present, self.loss_form.distill_mode)
        return form

    def ce_weight(self, resolution: int, present: int | None = None) -> float:
        """The factor on the CE of ``resolution`` in the loss (its weight times the loss form's) in a
        step that ran ``present`` resolutions (None: all)."""
        return self.resolution_weights.get(resolution, 1.0) * self.form_for(present).ce_factor

    def forward(self, feats: tuple[torch.Tensor, ...], resolution: int | None = None) -> torch.Tensor:
        x = self.pre_logits(feats)
        if self.private == 'none':
            return self.fc(x)
        key = str(nearest_resolution(resolution or self.resolutions[0], self.resolutions))
        if self.private == 'fc':
            return self.fc[key](x)
        return self.fc(x) + self.private_bias[key]

    def loss(self, feats: tuple[torch.Tensor, ...], data_samples: list[DataSample], *, resolution: int,
             teachers: Sequence[torch.Tensor] = (), **kwargs) -> dict[str, torch.Tensor]:
        """Losses of one resolution: ``loss_ce_<S>`` and, with teachers, ``loss_sd_<S>``.

        Args:
            feats: the neck's output at this resolution.
            data_samples: the labels.
            resolution: the training resolution S of ``feats``.
            teachers: logits of every larger resolution, largest first (detached by the
                distillation loss).
        """
        return self.loss_from_logits(self(feats, resolution), data_samples, resolution=resolution,
                                     teachers=teachers, **kwargs)

    def loss_from_logits(self, logits: torch.Tensor, data_samples: list[DataSample], *, resolution: int,
                         teachers: Sequence[torch.Tensor] = (), present: int | None = None,
                         **kwargs) -> dict[str, torch.Tensor]:
        """:meth:`loss` from this head's logits (the classifier keeps them as the next
        resolutions' teacher); ``present``: how many resolutions the step runs (None: all)."""
        ce = self._get_loss(logits, data_samples, **kwargs).pop('loss')
        losses = {f'loss_ce_{resolution}': ce * self.ce_weight(resolution, present)}
        if self.distill is not None and teachers:
            losses[f'loss_sd_{resolution}'] = self.distill(logits, teachers) * self.form_for(present).pair_factor
        return losses

    def predict(self, feats: tuple[torch.Tensor, ...], data_samples: list[DataSample] | None = None,
                resolution: int | None = None) -> list[DataSample]:
        return self._get_predictions(self(feats, resolution), data_samples)
