"""``san_<arch>`` models in timm's registry: ``timm.create_model('san_resnet50', resolutions=[...])``."""
from __future__ import annotations

from typing import Any, Callable

import timm
from timm.models import register_model
from torch import nn

from san_plugin.core import SANSpec, convert

SUPPORTED_ARCHS = (
    'resnet18', 'resnet50', 'mobilenetv2_100', 'efficientnet_b0', 'regnety_008', 'resnetv2_50x1_bit',
)


def create_san_model(arch: str, *, pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """Creates a timm model and converts it to a SAN.

    The keyword arguments named like a :class:`~san_plugin.core.SANSpec` field
    (``resolutions``, ``encoding``, ``meta_hidden``, ``exclude``, ``convs``, ``init``,
    ``mode``) are the conversion's settings, checked before the timm model is built; the
    others go to ``timm.create_model``. With the default ``init='pretrained'`` the converted
    model keeps the timm model's weights, the downloaded ones with ``pretrained=True`` (it
    starts with the original's outputs), else timm's own initialisation of that architecture
    (``B`` = timm's kernel, ``W = 0``). ``init='scratch'`` re-draws ``B`` (Kaiming normal, fan-out).

    Example:
        >>> net = create_san_model('resnet18', resolutions=[64, 48, 32], convs='shared', num_classes=10)
        >>> net.san.resolutions, net.san.convs
        ((64, 48, 32), 'shared')
    """
    spec, timm_kwargs = SANSpec.split(kwargs)
    model = timm.create_model(arch, pretrained=pretrained, **timm_kwargs)
    model, _ = convert(model, spec)
    return model


def _make_entrypoint(arch: str) -> Callable[..., nn.Module]:
    def entrypoint(pretrained: bool = False, **kwargs: Any) -> nn.Module:
        return create_san_model(arch, pretrained=pretrained, **kwargs)

    entrypoint.__name__ = f'san_{arch}'
    entrypoint.__qualname__ = entrypoint.__name__
    entrypoint.__module__ = __name__
    entrypoint.__doc__ = f'timm ``{arch}`` converted to a Scale Adaptive Network (see create_san_model).'
    return entrypoint


for _arch in SUPPORTED_ARCHS:
    globals()[f'san_{_arch}'] = register_model(_make_entrypoint(_arch))
