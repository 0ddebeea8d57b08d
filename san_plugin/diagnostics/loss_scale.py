"""Measuring a loss's scale: gradient norms per kind of parameter and the top Hessian eigenvalue.

Used by ``tools/loss_scale.py`` to compare a SAN's loss with a single-resolution model's at
initialisation: a loss whose gradient is several times larger, or whose curvature is, needs a
learning rate that many times smaller (gradient descent is stable up to lr ~ 2 / curvature).
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from san_plugin.core.meta_conv import MetaConv2d
from san_plugin.core.meta_learner import AffineKernelGenerator

KERNEL_KINDS = ('dense', 'depthwise', '1x1')


def kernel_kind(conv: nn.Module) -> str:
    """``'depthwise'`` (one group per input channel), ``'1x1'`` or ``'dense'`` for a conv or MetaConv2d.

    Example:
        >>> kernel_kind(nn.Conv2d(8, 8, 3, groups=8)), kernel_kind(nn.Conv2d(8, 4, 1))
        ('depthwise', '1x1')
    """
    if conv.groups > 1 and conv.groups == conv.in_channels:
        return 'depthwise'
    return '1x1' if tuple(conv.kernel_size) == (1, 1) else 'dense'


def kernel_parameter_kinds(model: nn.Module) -> dict[str, str]:
    """``{parameter name: kind}`` of every kernel: a plain conv's ``weight`` and an affine
    MetaConv2d's ``B`` (``meta.bias``, the kernel every resolution shares) get the conv's kind;
    the other meta-learner parameters (``W``, an MLP's) get ``'<kind> meta learner'``."""
    kinds = {}
    for name, module in model.named_modules():
        prefix = f'{name}.' if name else ''
        if isinstance(module, MetaConv2d):
            affine = isinstance(module.meta, AffineKernelGenerator)
            for param_name, _ in module.meta.named_parameters():
                kind = kernel_kind(module)
                kinds[f'{prefix}meta.{param_name}'] = kind if affine and param_name == 'bias' else f'{kind} meta learner'
        elif isinstance(module, nn.Conv2d):
            kinds[f'{prefix}weight'] = kernel_kind(module)
    return kinds


def gradient_norms(grads: Mapping[str, torch.Tensor], kinds: Mapping[str, str]) -> dict[str, float]:
    """The L2 norm of the gradients of each kind (names without a kind are left out).

    Example:
        >>> gradient_norms({'a': torch.ones(4), 'b': 2 * torch.ones(3)}, {'a': 'fc', 'b': 'fc'})
        {'fc': 4.0}
    """
    squares: dict[str, torch.Tensor] = {}
    for name, grad in grads.items():
        kind = kinds.get(name)
        if kind is not None and grad is not None:
            squares[kind] = squares.get(kind, 0) + grad.detach().double().pow(2).sum()
    return {kind: float(total.sqrt()) for kind, total in squares.items()}


def top_hessian_eigenvalue(loss_fn: Callable[[], torch.Tensor], params: Sequence[torch.Tensor],
                           iterations: int = 100, tolerance: float = 1e-5, seed: int = 0) -> float:
    """The largest-magnitude eigenvalue of the Hessian of ``loss_fn()`` in ``params``, by power
    iteration on Hessian-vector products (double backward; the Hessian is never formed).

    Args:
        loss_fn: recomputes the scalar loss from ``params`` (called once).
        params: tensors that require grad.
        iterations: at most this many products.
        tolerance: stop when the estimate changes by less than this, relatively.
        seed: of the random start vector.

    Example:
        >>> w = torch.zeros(3, requires_grad=True)
        >>> round(top_hessian_eigenvalue(lambda: (torch.tensor([1., 4., 2.]) * w * w).sum(), [w]), 3)
        8.0
    """
    params = list(params)
    grads = torch.autograd.grad(loss_fn(), params, create_graph=True)
    generator = torch.Generator().manual_seed(seed)
    vector = [torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device) for p in params]
    estimate = 0.0
    for _ in range(iterations):
        norm = torch.sqrt(sum((v * v).sum() for v in vector))
        vector = [v / norm for v in vector]
        product = torch.autograd.grad(grads, params, grad_outputs=vector, retain_graph=True)
        new = float(sum((v * h).sum() for v, h in zip(vector, product)))
        vector = [h.detach() for h in product]
        if abs(new - estimate) <= tolerance * abs(new):
            return new
        estimate = new
    return estimate


def named_grads(model: nn.Module, names: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
    """``{name: grad}`` of the parameters that have one (only ``names``, when given)."""
    wanted = None if names is None else set(names)
    return {n: p.grad for n, p in model.named_parameters()
            if p.grad is not None and (wanted is None or n in wanted)}
