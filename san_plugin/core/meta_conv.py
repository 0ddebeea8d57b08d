"""MetaConv2d: a convolution whose kernel is generated from the resolution encoding."""
from __future__ import annotations

import copy
import weakref

import torch
from torch import nn

from .controller import ScaleController
from .conv_kinds import KernelOp
from .meta_learner import build_kernel_generator


def _weightless_copy(conv: nn.Module) -> nn.Module:
    """A copy of ``conv`` that keeps its class and hyper-parameters but no parameters."""
    shell = copy.copy(conv)
    shell._parameters = {name: None for name in conv._parameters}
    return copy.deepcopy(shell)


def _own_parameters(module: nn.Module) -> list[torch.Tensor]:
    """``module.parameters()`` without its bookkeeping (it runs per layer per cached-kernel call)."""
    params = [p for p in module._parameters.values() if p is not None]
    for child in module._modules.values():
        if child is not None:
            params += _own_parameters(child)
    return params


def _may_install_saved_tensor_hooks() -> bool:
    """True unless saved-tensor hooks are disabled or another one is active (activation
    checkpointing, offloading): those must see every saved tensor, so they keep precedence."""
    autograd = torch._C._autograd
    try:
        return autograd._saved_tensors_hooks_is_enabled() and autograd._top_saved_tensors_default_hooks(True) is None
    except (AttributeError, TypeError):  # private API moved: keep the plain behaviour
        return False


def _autocast_state(device_type: str) -> tuple[bool, torch.dtype] | None:
    """``(enabled, dtype)`` of autocast for ``device_type``, or None where autocast does not apply."""
    try:
        return torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type)
    except (RuntimeError, TypeError, AttributeError):  # a device type without autocast
        return None


def _is_cast_of(tensor: torch.Tensor, kernel: torch.Tensor) -> bool:
    """Whether ``tensor`` is a dtype cast of ``kernel`` (what autocast hands a convolution)."""
    node = tensor.grad_fn
    return (node is not None and tensor.dtype != kernel.dtype and tensor.shape == kernel.shape
            and type(node).__name__ == 'ToCopyBackward0' and bool(node.next_functions)
            and node.next_functions[0][0] is kernel.grad_fn)


def _regenerating_hooks(meta: nn.Module, eps: float, kernel: torch.Tensor):
    """Saved-tensor hooks storing ``kernel`` as the recipe ``meta(eps)``; other tensors pass unchanged.

    Under autocast the convolution saves autocast's low-precision copy of the kernel, not
    the kernel: that copy is recognised too and regenerated as ``meta(eps).to(dtype)``,
    the same cast. The kernel is regenerated under the forward's autocast state, so a
    meta learner that autocast runs in low precision (the MLP) gives the same bits again.
    """
    versions = tuple(p._version for p in _own_parameters(meta))
    kernel_ref = weakref.ref(kernel)  # autograd keeps the pack hook: a strong reference would keep the kernel
    device_type = kernel.device.type
    autocast = _autocast_state(device_type)

    def pack(tensor: torch.Tensor):
        kernel = kernel_ref()
        if kernel is None:
            return tensor
        if tensor is kernel:
            return _KernelRecipe(None)
        if _is_cast_of(tensor, kernel):
            return _KernelRecipe(tensor.dtype)
        return tensor

    def regenerate() -> torch.Tensor:
        if autocast is None or _autocast_state(device_type) == autocast:
            return meta(eps)
        with torch.autocast(device_type, dtype=autocast[1], enabled=autocast[0]):
            return meta(eps)

    def unpack(saved):
        if not isinstance(saved, _KernelRecipe):
            return saved
        if tuple(p._version for p in _own_parameters(meta)) != versions:
            raise RuntimeError('a meta learner parameter needed to regenerate a MetaConv2d kernel for the backward '
                               'was modified by an inplace operation after the forward')
        kernel = regenerate()  # builds a graph only under create_graph=True (double backward)
        return kernel if saved.dtype is None else kernel.to(saved.dtype)

    return pack, unpack


class _KernelRecipe:
    """Marks a saved generated kernel (the unpack hook regenerates it, cast to ``dtype`` if set)."""

    __slots__ = ('dtype',)

    def __init__(self, dtype: torch.dtype | None) -> None:
        self.dtype = dtype


class MetaConv2d(nn.Module):
    """A 2-D convolution whose kernel comes from a meta learner fed ``eps(S)``.

    Stride, padding (and padding mode), dilation, groups, kernel shape and the layer's
    own forward (e.g. timm's dynamic 'same' padding or weight standardisation) are those
    of the layer it replaces. The conv bias, if any, is shared by all resolutions.

    In eval mode without autograd the layer keeps one generated kernel per encoding, so
    a multi-view validation or a resolution sweep generates each kernel once (memory: one
    copy of the layer's weight per encoding seen). The kept kernels are dropped when a
    meta-learner parameter changes (an optimizer step or ``load_state_dict`` bumps its
    version; ``load_state_dict(assign=True)`` and dtype changes move its storage), by
    ``.to()`` and by every ``train()``/``eval()`` call. Writes through ``param.data``
    bump no version (mmengine's EMAHook swaps weights that way): they are seen after the
    next ``model.eval()``, which evaluation loops call.

    Args:
        conv: the layer to replace; its weight becomes the meta learner's bias ``B``.
        controller: the model's :class:`ScaleController` (gives the active ``eps``).
        kernel_op: how this layer type applies a kernel (see ``conv_kinds``).
        meta_hidden: hidden width of an MLP meta learner, None for the affine one.

    Example:
        >>> conv = nn.Conv2d(3, 8, 3, padding=1)
        >>> ctrl = ScaleController([64, 32])
        >>> meta = MetaConv2d(conv, ctrl, lambda m, x, k, b: m._conv_forward(x, k, b))
        >>> x = torch.randn(1, 3, 64, 64)
        >>> torch.allclose(meta(x), conv(x))
        True
    """

    def __init__(self, conv: nn.Module, controller: ScaleController, kernel_op: KernelOp,
                 meta_hidden: int | None = None) -> None:
        super().__init__()
        for attr in ('in_channels', 'out_channels', 'kernel_size', 'stride', 'padding', 'dilation', 'groups'):
            setattr(self, attr, getattr(conv, attr))
        self.host_type = type(conv)
        self.meta = build_kernel_generator(conv.weight.detach(), meta_hidden)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone())
        # The host's other parameters (e.g. timm ScaledStdConv2d's gain) stay shared, under their own names.
        self.host_parameters = tuple(name for name, param in conv._parameters.items()
                                     if name not in ('weight', 'bias') and param is not None)
        for name in self.host_parameters:
            if hasattr(self, name):
                raise ValueError(f'{type(conv).__name__} has a parameter {name!r} that MetaConv2d cannot keep')
            self.register_parameter(name, nn.Parameter(conv._parameters[name].detach().clone()))
        object.__setattr__(self, '_template', _weightless_copy(conv))
        object.__setattr__(self, '_controller', controller)
        object.__setattr__(self, '_kernel_op', kernel_op)
        self._eval_kernels: dict[float, torch.Tensor] = {}  # encoding -> kernel, eval without autograd
        self._eval_kernels_source: list | None = None  # (storage, version) of each meta-learner parameter

    @property
    def controller(self) -> ScaleController:
        return self._controller

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, '
                f'padding={self.padding}, groups={self.groups}, host={self.host_type.__name__}, '
                f'bias={self.bias is not None}')

    def kernel(self, eps: float | None = None) -> torch.Tensor:
        """The kernel for ``eps`` (default: the active plan's)."""
        eps = self._controller.plan.eps if eps is None else eps
        if self.training or torch.is_grad_enabled():
            return self.meta(eps)
        return self._eval_kernel(eps)

    def _eval_kernel(self, eps: float) -> torch.Tensor:
        # Runs per layer per eval call: the check is a list of plain ints (dtype and device
        # changes move the storage; ``.to()`` also drops the kernels).
        meta = self._modules['meta']
        source = [(p.data_ptr(), p._version) for p in _own_parameters(meta)]
        if source != self._eval_kernels_source:
            self._eval_kernels, self._eval_kernels_source = {}, source
        kernel = self._eval_kernels.get(eps)
        if kernel is None:
            kernel = self._eval_kernels[eps] = meta(eps)
        return kernel

    def _drop_eval_kernels(self) -> None:
        self._eval_kernels, self._eval_kernels_source = {}, None

    def _live_template(self) -> nn.Module:
        """The weightless template, holding this layer's current host parameters (if any)."""
        template = self._template
        for name in self.host_parameters:
            template._parameters[name] = self._parameters[name]
        return template

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        template = self._live_template() if self.host_parameters else self._template
        eps = self._controller.plan.eps
        if not (self.training or torch.is_grad_enabled()):
            return self._kernel_op(template, x, self._eval_kernel(eps), self.bias)
        kernel = self.meta(eps)
        # Under torch.compile the compiler plans what to save (or recompute) for the backward itself.
        if torch.compiler.is_compiling() or not (
                kernel.requires_grad and self._controller.regenerate_kernels and _may_install_saved_tensor_hooks()):
            return self._kernel_op(template, x, kernel, self.bias)
        # Autograd would keep every layer's generated kernel (under autocast: its low-precision
        # copy) alive until its backward (one extra copy of all conv weights at the peak): save
        # (meta learner, eps) instead and regenerate the kernel, bit for bit, when the backward
        # needs it (``controller.regenerate_kernels = False`` keeps the kernel instead: faster,
        # more memory).
        with torch.autograd.graph.saved_tensors_hooks(*_regenerating_hooks(self.meta, eps, kernel)):
            return self._kernel_op(template, x, kernel, self.bias)

    def to_host(self, eps: float) -> nn.Module:
        """A layer of the original class holding the kernel for ``eps``."""
        host = copy.deepcopy(self._template)
        with torch.no_grad():
            host.weight = nn.Parameter(self.meta(eps).detach().clone())
            if 'bias' in host._parameters:
                host.bias = None if self.bias is None else nn.Parameter(self.bias.detach().clone())
            for name in self.host_parameters:
                setattr(host, name, nn.Parameter(self._parameters[name].detach().clone()))
        return host.train(self.training)

    def train(self, mode: bool = True) -> 'MetaConv2d':  # .data writes bump no version counter
        self._drop_eval_kernels()
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._drop_eval_kernels()
        super()._load_from_state_dict(*args, **kwargs)

    def _apply(self, fn, recurse=True):  # no kernel of the old dtype or device survives .to()/.half()
        self._drop_eval_kernels()
        return super()._apply(fn, recurse)
