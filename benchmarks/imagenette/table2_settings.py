"""The SAN inference settings of the paper's Table 2, each as a model to run, and the feature-map sizes.

For a trained SAN with training sizes S_1 > ... > S_k and test sizes T:

- ``proxy``: the SAN itself, row S_j run with ``san_resolution(backbone, S_j)`` (encoding and BN
  branch of S_j, as evaluate.py's rows); its cell at S(T), the nearest training size, is proxy inference.
- ``before`` (ideal inference before calibration), one copy per row S_j (:func:`row_model`): at every
  test size T the encoding eps(T) with the BN branch of S_j as trained.
- ``calibrated`` (ideal inference after BN calibration), one copy per row (:func:`calibrate_row`): the
  same, with the branch's running statistics recomputed at T, exact averages over N training images.
- ``interpolated`` (data-free): one copy with ``interpolate_bn`` at every test size.
"""
from __future__ import annotations

import copy
import time
from typing import Callable, Iterable, Iterator, Sequence

import torch
from torch import nn

SETTINGS = ('proxy', 'before', 'calibrated', 'interpolated', 'baseline')


def row_model(model: nn.Module, tests: Iterable[int], source: int) -> nn.Module:
    """A copy of a SAN classifier that runs every test size T with eps(T) and the BN branch of the
    training size ``source`` as trained (ideal inference, row ``source`` of the paper's Table 2).

    A test size that is not a training size gets a branch copied from ``source``
    (``add_calibrated_branches(..., source=source)``); a training size T other than ``source`` runs its
    own branch in ideal mode, so that branch is overwritten with ``source``'s. At T = ``source`` the copy
    is the SAN itself (proxy inference at ``source``).

    Example:
        >>> before = row_model(san, [72, 64, 44], source=48)  # 64 px: eps(64) with the BN of 48
    """
    from san_plugin.core import add_calibrated_branches, get_controller, private_norms, set_mode
    net = copy.deepcopy(model)
    backbone = net.backbone
    training = get_controller(backbone).resolutions
    tests = sorted({int(t) for t in tests}, reverse=True)
    add_calibrated_branches(backbone, [t for t in tests if t not in training], source=source)
    with torch.no_grad():
        for norm in private_norms(backbone):
            for t in tests:
                if t in training and t != source:
                    norm.branch(t).load_state_dict(norm.branch(source).state_dict())
    set_mode(backbone, 'ideal')
    return net.eval()


def calibrate_row(before: nn.Module, batches_at: Callable[[int], Iterable[torch.Tensor]], tests: Iterable[int],
                  source: int) -> tuple[nn.Module, dict[int, int], dict[int, float]]:
    """A copy of :func:`row_model`'s copy with every test size's branch recalibrated at that size:
    ``calibrate_bn(..., source=source, on_training='recalibrate')``, exact averages over ``batches_at(T)``.

    Returns:
        the calibrated copy, ``{T: images used}`` and ``{T: wall seconds}``.
    """
    from san_plugin.core import calibrate_bn
    net = copy.deepcopy(before)
    used, seconds = {}, {}
    for t in sorted({int(t) for t in tests}, reverse=True):
        start = time.time()
        used.update(calibrate_bn(net.backbone, batches_at, [t], source=source, on_training='recalibrate'))
        seconds[t] = round(time.time() - start, 2)
    return net.eval(), used, seconds


def interpolated_model(model: nn.Module, tests: Iterable[int]) -> tuple[nn.Module, dict[int, dict[int, float]]]:
    """A copy with data-free branches at every test size that is not a training size (``interpolate_bn``;
    outside the training range the nearest branch), in ideal mode; and the interpolation weights."""
    from san_plugin.core import interpolate_bn, set_mode
    net = copy.deepcopy(model)
    weights = interpolate_bn(net.backbone, tests)
    set_mode(net.backbone, 'ideal')
    return net.eval(), weights


def training_sizes(model: nn.Module) -> tuple[int, ...]:
    """A SAN classifier's training sizes, largest first."""
    from san_plugin.core import get_controller
    return get_controller(model.backbone).resolutions


def logits(model: nn.Module, x: torch.Tensor, row: int | None = None) -> torch.Tensor:
    """The classifier's logits; ``row``: a SAN run with that training size's encoding and branch."""
    if row is None:
        return model(x, mode='tensor')
    from san_plugin.core import san_resolution
    with san_resolution(model.backbone, row):
        return model(x, mode='tensor')


# -- feature-map sizes ------------------------------------------------------------------------
def _spatial(output) -> tuple[int, ...] | None:
    tensor = output[-1] if isinstance(output, (tuple, list)) and output else output
    return tuple(tensor.shape[-2:]) if isinstance(tensor, torch.Tensor) and tensor.dim() == 4 else None


def _has_conv(module: nn.Module) -> bool:
    from san_plugin.core.conv_kinds import is_convolution
    from san_plugin.core import MetaConv2d
    return any(isinstance(m, MetaConv2d) or is_convolution(m) for m in module.modules())


def _stages(backbone: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    from san_plugin.core import ScaleController
    return ((name, child) for name, child in backbone.named_children() if not isinstance(child, ScaleController))


@torch.no_grad()
def feature_map_sizes(model: nn.Module, sizes: Sequence[int]) -> dict[str, dict[str, list[int]]]:
    """The spatial size after every stage of the backbone at each input size, from forward hooks on the
    model's own layers (a zero image; a SAN runs its proxy rule).

    A stage is a direct child of the backbone that holds a convolution or changes the size (the
    stem conv, the max-pool, each ResNet layer or MobileNetV2 block group); norms and activations that
    change nothing are left out.

    Returns:
        ``{stage: {T: [H, W]}}`` in the order the stages run.

    Example:
        >>> feature_map_sizes(resnet18_classifier, [44])['layer4']
        {'44': [2, 2]}
    """
    seen: dict[str, dict[str, list[int]]] = {}
    kept: set[str] = set()
    for size in sizes:
        records: list[tuple[str, tuple | None, tuple | None]] = []

        def record(module, args, output, name: str) -> None:
            records.append((name, _spatial(args[0]) if args else None, _spatial(output)))

        handles = [child.register_forward_hook(lambda m, a, o, name=name: record(m, a, o, name))
                   for name, child in _stages(model.backbone)]
        try:
            model.backbone(torch.zeros(1, 3, size, size))
        finally:
            for handle in handles:
                handle.remove()
        children = dict(_stages(model.backbone))
        for name, before, after in records:
            if after is None:
                continue
            if before != after or _has_conv(children[name]):
                kept.add(name)
            seen.setdefault(name, {})[str(size)] = list(after)
    return {name: cells for name, cells in seen.items() if name in kept}
