"""Weights of the unconverted model loaded into a converted SAN.

A checkpoint of the plain model (a trained single-resolution CNN) fills a SAN exactly as
converting that trained model with ``init='pretrained'`` would: every generated
convolution's meta learner generates the trained kernel at every resolution (``W = 0``,
``B`` = the kernel), every batch-norm branch is a copy of the trained batch norm, and every
other entry is taken as it is. So a SAN can be built (and converted) before any file is read,
and its trained weights arrive later, e.g. in MMPretrain's ``init_weights()``.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from .controller import ScaleController
from .meta_conv import MetaConv2d
from .private_norm import PrivateBatchNorm2d


def _san_layers(model: nn.Module) -> tuple[dict[str, MetaConv2d], dict[str, PrivateBatchNorm2d], list[str]]:
    """The generated convolutions, the private batch norms and the controllers of ``model``, by prefix."""
    convs, norms, controllers = {}, {}, []
    for name, module in model.named_modules():
        prefix = f'{name}.' if name else ''
        if isinstance(module, MetaConv2d):
            convs[prefix] = module
        elif isinstance(module, PrivateBatchNorm2d):
            norms[prefix] = module
        elif isinstance(module, ScaleController):
            controllers.append(prefix)
    return convs, norms, controllers


def _plain_key(key: str, convs: Mapping[str, MetaConv2d], norms: Mapping[str, PrivateBatchNorm2d],
               controllers: list[str]) -> str | None:
    """The plain model's key that feeds the SAN's ``key`` (None: none does, e.g. the SAN metadata)."""
    if any(key.startswith(prefix) for prefix in controllers):
        return None
    for prefix in convs:
        if key.startswith(f'{prefix}meta.'):
            return f'{prefix}weight'
    for prefix in norms:
        if key.startswith(f'{prefix}branches.'):
            branch_and_rest = key[len(f'{prefix}branches.'):]
            return prefix + branch_and_rest.split('.', 1)[1]
    return key


def plain_state_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """The keys and shapes of a state dict of ``model`` before its conversion.

    For a model that is not a SAN these are its own keys and shapes.

    Example:
        >>> san, _ = convert(torchvision.models.resnet18(), [64, 32])
        >>> plain_state_shapes(san)['layer1.0.conv1.weight']
        (64, 64, 3, 3)
    """
    convs, norms, controllers = _san_layers(model)
    kernels = {f'{prefix}weight': tuple(conv.meta.kernel_shape) for prefix, conv in convs.items()}
    shapes: dict[str, tuple[int, ...]] = {}
    for key, value in model.state_dict().items():
        plain = _plain_key(key, convs, norms, controllers)
        if plain is not None and plain not in shapes:
            shapes[plain] = kernels.get(plain) or tuple(getattr(value, 'shape', ()))
    return shapes


def san_state_from_plain(model: nn.Module, state: Mapping[str, Any]) -> dict[str, Any]:
    """The complete state dict of the SAN ``model`` filled from a plain model's ``state``.

    The caller checks first that ``state`` holds exactly the keys and shapes of
    :func:`plain_state_shapes` (a missing key raises ``KeyError`` here). The result loads
    with ``model.load_state_dict(..., strict=True)``; its SAN metadata is the model's own.

    Example:
        >>> san.load_state_dict(san_state_from_plain(san, trained_plain.state_dict()))
    """
    convs, norms, controllers = _san_layers(model)
    filled: dict[str, Any] = {}
    for key, value in model.state_dict().items():
        plain = _plain_key(key, convs, norms, controllers)
        filled[key] = value if plain is None else state[plain]
    for prefix, conv in convs.items():
        kernel = torch.as_tensor(state[f'{prefix}weight'])
        for name, tensor in conv.meta.state_for_kernel(kernel).items():
            filled[f'{prefix}meta.{name}'] = tensor
    return filled
