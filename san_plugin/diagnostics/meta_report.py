"""Do the meta learners work? How much each generated kernel changes with the resolution.

A SAN whose meta learners keep ``W`` near zero generates nearly the same kernel at every
resolution: it is then "shared convolutions + private BN" in disguise. Two numbers per
generated convolution tell:

* ``w_over_b``: ``|eps(S_max) * W| / |B|`` (Frobenius norms) for the affine meta learner
  ``kernel = eps * W + B``; the paper (section 3) reports ``W`` and ``B`` "of the same order
  of magnitude in almost all cases" at ImageNet's eps = 0.3..0.7. ``None`` for MLP learners.
* ``kernel_change``: ``|k(S_max) - k(S_min)| / |k(S_max)|``, the relative difference of the
  kernels generated at the largest and the smallest training resolution (any meta learner).
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Iterator

import torch
from torch import nn

from san_plugin.core.convert import get_controller
from san_plugin.core.meta_conv import MetaConv2d
from san_plugin.core.meta_learner import AffineKernelGenerator


@dataclass(frozen=True)
class LayerKernelStats:
    """How strongly one generated convolution depends on the resolution.

    Attributes:
        name: the layer's qualified name.
        shape: the kernel's shape.
        w_over_b: ``|eps(S_max) W| / |B|`` (affine meta learner), else None.
        kernel_change: ``|k(S_max) - k(S_min)| / |k(S_max)|``.
    """

    name: str
    shape: tuple[int, ...]
    w_over_b: float | None
    kernel_change: float


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> float:
    return float(numerator.float().norm()) / max(float(denominator.float().norm()), 1e-30)


def _meta_convs(model: nn.Module) -> Iterator[tuple[str, MetaConv2d]]:
    return ((name, module) for name, module in model.named_modules() if isinstance(module, MetaConv2d))


@torch.no_grad()
def meta_learner_stats(model: nn.Module) -> list[LayerKernelStats]:
    """Per generated convolution of a SAN, in model order.

    Example:
        >>> net, _ = convert(timm.create_model('resnet18'), [64, 32], init='scratch')
        >>> meta_learner_stats(net)[0].kernel_change  # W = 0 at conversion
        0.0
    """
    controller = get_controller(model)
    eps_large = controller.encoding(controller.resolutions[0])
    eps_small = controller.encoding(controller.resolutions[-1])
    stats = []
    for name, conv in _meta_convs(model):
        large, small = conv.meta(eps_large).float(), conv.meta(eps_small).float()
        w_over_b = None
        if isinstance(conv.meta, AffineKernelGenerator):
            w_over_b = abs(eps_large) * _ratio(conv.meta.weight, conv.meta.bias)
        change = _ratio(large - small, large)
        stats.append(LayerKernelStats(name, tuple(large.shape), w_over_b, change))
    if not stats:
        raise ValueError(f'{type(model).__name__} has no generated convolutions (converted with convs="shared"?)')
    return stats


def summarize(stats: list[LayerKernelStats]) -> dict[str, dict[str, float] | None]:
    """Median, min and max of each number over the layers (``None`` where no layer has it)."""
    def spread(values: list[float]) -> dict[str, float] | None:
        return dict(median=statistics.median(values), min=min(values), max=max(values)) if values else None
    return {'w_over_b': spread([s.w_over_b for s in stats if s.w_over_b is not None]),
            'kernel_change': spread([s.kernel_change for s in stats])}


def as_markdown(stats: list[LayerKernelStats], title: str = 'Meta learners') -> str:
    """A table with one row per layer and the summary line."""
    lines = [f'# {title}', '',
             '`w_over_b` = |eps(S_max) W| / |B| (affine meta learners); `kernel_change` = '
             '|k(S_max) - k(S_min)| / |k(S_max)|, the relative change of the generated kernel across the '
             'training range. The paper reports W and B "of the same order of magnitude" (w_over_b ~ 1 at '
             'ImageNet\'s eps = 0.3..0.7).', '',
             '| layer | kernel | w_over_b | kernel_change |', '|---|---|---|---|']
    for s in stats:
        ratio = '-' if s.w_over_b is None else f'{s.w_over_b:.4f}'
        lines.append(f"| {s.name} | {'x'.join(map(str, s.shape))} | {ratio} | {s.kernel_change:.4f} |")
    summary = summarize(stats)
    lines.append('')
    for key, spread in summary.items():
        if spread is not None:
            lines.append(f"- {key}: median {spread['median']:.4f} (min {spread['min']:.4f}, max {spread['max']:.4f}) "
                         f'over {len(stats)} layers')
    return '\n'.join(lines) + '\n'


def as_dict(stats: list[LayerKernelStats]) -> dict:
    """JSON-ready: ``{'layers': [...], 'summary': {...}}``."""
    return {'layers': [asdict(s) for s in stats], 'summary': summarize(stats)}
