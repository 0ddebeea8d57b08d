"""The checks every converted convolution kind passes (mmcv's, timm's): it starts equal to the layer it
replaces, and with random meta weights it computes like a layer of its kind whose kernel is the
generated one, as does the plain layer it bakes into."""
from __future__ import annotations

from typing import Callable, Iterable

import torch

from san_plugin.core import MetaConv2d, ScaleController, ScaleEncoding

RES = (64, 48, 32)
"""The training resolutions of the checks."""


def assert_starts_equal(meta: MetaConv2d, ctrl: ScaleController, layer: torch.nn.Module, sizes: Iterable[int]) -> None:
    """At initialisation (zero meta weights) the converted layer equals ``layer`` on inputs of each size
    (width one more than the height, so uneven 'same' padding is exercised), whatever branch is active."""
    for size in sizes:
        ctrl.activate(RES[size % len(RES)])
        x = torch.randn(2, layer.in_channels, size, size + 1)
        torch.testing.assert_close(meta(x), layer(x))


def assert_applies_the_generated_kernel(meta: MetaConv2d, ctrl: ScaleController, layer: torch.nn.Module,
                                        new_layer: Callable[[], torch.nn.Module], host_type: type,
                                        shape: tuple[int, int] = (21, 21)) -> None:
    """With random meta weights at 48 px, ``meta`` computes like ``new_layer()`` with kernel
    ``layer.weight + e(48) * meta weight`` (its bias and gain copied from ``layer``), and bakes into a
    ``host_type`` that computes the same."""
    with torch.no_grad():
        meta.meta.weight.normal_()
    ctrl.activate(48)
    reference = new_layer()
    with torch.no_grad():
        reference.weight.copy_(layer.weight + ScaleEncoding()(48) * meta.meta.weight)
        for name in ('bias', 'gain'):
            if getattr(reference, name, None) is not None:
                getattr(reference, name).copy_(getattr(layer, name))
    x = torch.randn(2, layer.in_channels, *shape)
    torch.testing.assert_close(meta(x), reference(x))
    host = meta.to_host(ScaleEncoding()(48))
    assert type(host) is host_type
    torch.testing.assert_close(host(x), reference(x))
