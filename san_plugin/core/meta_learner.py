"""Meta learners: tiny networks mapping the scalar resolution encoding to a kernel."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def check_hidden_width(hidden: int | None) -> int | None:
    """Returns ``hidden`` if it is a valid ``meta_hidden``: None (the affine learner) or a positive integer.

    Raises:
        ValueError: naming the value.
    """
    if hidden is not None and (isinstance(hidden, bool) or not isinstance(hidden, int) or hidden <= 0):
        raise ValueError(f'meta_hidden must be a positive integer or None, got {hidden!r}')
    return hidden


class AffineKernelGenerator(nn.Module):
    """The paper's linear meta learner: ``kernel = eps * weight + bias``.

    Equivalent to ``nn.Linear(1, numel(kernel))``, stored kernel-shaped so that the
    parameters read like the convolution they generate.

    Args:
        bias: the kernel ``B`` generated at ``eps = 0`` (its shape is the kernel's).
        weight: the resolution slope ``W``; zeros when not given.

    Example:
        >>> gen = AffineKernelGenerator(torch.ones(4, 3, 3, 3))
        >>> torch.equal(gen(0.5), torch.ones(4, 3, 3, 3))
        True
    """

    def __init__(self, bias: torch.Tensor, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.bias = nn.Parameter(bias.detach().clone())
        self.weight = nn.Parameter(torch.zeros_like(self.bias) if weight is None else weight.detach().clone())

    @property
    def kernel_shape(self) -> tuple[int, ...]:
        return tuple(self.bias.shape)

    def state_for_kernel(self, kernel: torch.Tensor) -> dict[str, torch.Tensor]:
        """The state dict that makes this learner generate ``kernel`` at every resolution:
        ``B = kernel``, ``W = 0`` (what ``init='pretrained'`` gives)."""
        return {'bias': kernel, 'weight': torch.zeros_like(kernel)}

    def forward(self, eps: float) -> torch.Tensor:
        return torch.add(self.bias, self.weight, alpha=eps)


class MLPKernelGenerator(nn.Module):
    """A two-layer meta learner: ``Linear(1, hidden) -> ReLU -> Linear(hidden, numel)``.

    The paper's Table 5 uses 8 and 16 hidden units. The output layer starts at zero
    weight with ``bias`` as its bias, so the generated kernel starts equal to ``bias``
    at every resolution.

    Args:
        bias: the kernel generated at initialisation (any resolution).
        hidden: the hidden width.

    Example:
        >>> gen = MLPKernelGenerator(torch.ones(4, 3, 3, 3), hidden=8)
        >>> torch.equal(gen(0.7), torch.ones(4, 3, 3, 3))
        True
    """

    def __init__(self, bias: torch.Tensor, hidden: int) -> None:
        super().__init__()
        if check_hidden_width(hidden) is None:
            raise ValueError('MLPKernelGenerator needs a hidden width (meta_hidden=None is the affine learner)')
        self.kernel_shape = tuple(bias.shape)
        self.hidden = nn.Linear(1, hidden)
        self.out = nn.Linear(hidden, bias.numel())
        with torch.no_grad():
            self.hidden.bias.uniform_(0.0, 1.0 / math.sqrt(hidden))  # keep units alive at eps > 0
            self.out.weight.zero_()
            self.out.bias.copy_(bias.detach().reshape(-1))

    def state_for_kernel(self, kernel: torch.Tensor) -> dict[str, torch.Tensor]:
        """The state dict that makes this learner generate ``kernel`` at every resolution: the
        output layer's bias is the kernel, its weight zero; the hidden layer keeps its values."""
        return {'hidden.weight': self.hidden.weight.detach(), 'hidden.bias': self.hidden.bias.detach(),
                'out.weight': torch.zeros_like(self.out.weight), 'out.bias': kernel.reshape(-1)}

    def forward(self, eps: float) -> torch.Tensor:
        code = self.hidden.weight.new_full((1, 1), eps)
        return self.out(F.relu(self.hidden(code))).view(self.kernel_shape)


def build_kernel_generator(kernel: torch.Tensor, hidden: int | None) -> nn.Module:
    """The affine meta learner when ``hidden`` is None, else the two-layer MLP."""
    if hidden is None:
        return AffineKernelGenerator(kernel)
    return MLPKernelGenerator(kernel, hidden)
