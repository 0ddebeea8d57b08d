"""Data-free BN branches for test resolutions: interpolated between training branches.

Ideal inference (the paper's Eqn. 5) runs a test resolution T with its own encoding
``eps(T)`` and a BN branch of its own. :func:`interpolate_bn` makes that branch without
data: its affine parameters and running statistics are a linear interpolation, in the
encoding, between the branches of the two neighbouring training resolutions. (Exact
statistics measured on data: :func:`san_plugin.core.calibrate_bn`.)

The SAN's mode is left alone; run the model with ``set_mode(model, 'ideal')`` to use the
new branches.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, Mapping

import torch
from torch import nn

from .convert import add_calibrated_branches, get_controller, private_norms
from .private_norm import PrivateBatchNorm2d
from .scale import validate_resolutions


def interpolation_weights(resolution: int, training: Iterable[int],
                          encoding: Callable[[float], float] | None = None) -> dict[int, float]:
    """How much each training branch contributes to the branch of ``resolution``.

    Between two training resolutions S_a > T > S_b the weights are linear in the
    encoding: ``w_a = (eps(T) - eps(S_b)) / (eps(S_a) - eps(S_b))`` and ``w_b = 1 - w_a``
    (the paper's encoding is linear in S, so this is linear in S as well). A training
    resolution gets weight 1 on itself, and outside the training range the nearest
    training resolution gets weight 1: no extrapolation.

    Example:
        >>> interpolation_weights(176, [224, 192, 160])
        {192: 0.5, 160: 0.5}
        >>> interpolation_weights(256, [224, 192, 160])
        {224: 1.0}
    """
    encode = encoding or (lambda size: size)
    ordered = validate_resolutions(training, 'training resolutions')
    if resolution in ordered:
        return {resolution: 1.0}
    if resolution > ordered[0]:
        return {ordered[0]: 1.0}
    if resolution < ordered[-1]:
        return {ordered[-1]: 1.0}
    above = min(r for r in ordered if r > resolution)
    below = max(r for r in ordered if r < resolution)
    weight_above = (encode(resolution) - encode(below)) / (encode(above) - encode(below))
    return {above: weight_above, below: 1.0 - weight_above}


def interpolated_state(norm: PrivateBatchNorm2d, weights: Mapping[int, float]) -> dict[str, torch.Tensor]:
    """The state of a BN branch mixed from the branches in ``weights``.

    Floating parameters and buffers (affine weight and bias, running mean and variance)
    are ``torch.lerp`` between the two branches (a copy when one branch has weight 1,
    so a training resolution is reproduced bit-exactly); integer buffers
    (``num_batches_tracked``) are those of the branch with the larger weight.

    Example:
        >>> state = interpolated_state(norm, {192: 0.5, 160: 0.5})
    """
    if not 1 <= len(weights) <= 2 or not math.isclose(sum(weights.values()), 1.0):
        raise ValueError(f'interpolation needs one or two branches with weights summing to 1, got {dict(weights)}')
    ranked = sorted(weights.items(), key=lambda item: (-item[1], -item[0]))
    main = norm.branch(ranked[0][0]).state_dict()
    if len(ranked) == 1 or ranked[1][1] == 0:
        return {name: tensor.clone() for name, tensor in main.items()}
    other, other_weight = norm.branch(ranked[1][0]).state_dict(), ranked[1][1]
    return {name: torch.lerp(tensor, other[name], other_weight) if tensor.is_floating_point() else tensor.clone()
            for name, tensor in main.items()}


def interpolate_bn(model: nn.Module, resolutions: Iterable[int]) -> dict[int, dict[int, float]]:
    """Data-free ideal inference: BN branches interpolated between training branches.

    For each test resolution T that is not a training resolution, a branch is added (or
    an existing calibrated one overwritten) whose affine parameters AND running
    statistics are the linear interpolation, in the encoding eps, of the branches of the
    two neighbouring training resolutions S_a > T > S_b (see
    :func:`interpolation_weights`). Outside the training range the branch is a copy of
    the nearest training branch (no extrapolation: it could make a variance negative).
    Training resolutions are skipped (their own branch is exact). Nothing else changes.

    Args:
        model: a SAN.
        resolutions: the test resolutions.

    Returns:
        ``{T: {training resolution: weight}}`` for every branch written.

    Example:
        >>> interpolate_bn(net, [208, 176])
        {208: {224: 0.5, 192: 0.5}, 176: {192: 0.5, 160: 0.5}}
        >>> set_mode(net, 'ideal')
    """
    controller = get_controller(model)
    todo = [r for r in validate_resolutions(resolutions) if r not in controller.resolutions]
    add_calibrated_branches(model, todo)
    done = {}
    for resolution in todo:
        weights = interpolation_weights(resolution, controller.resolutions, controller.encoding)
        with torch.no_grad():
            for norm in private_norms(model):
                norm.branch(resolution).load_state_dict(interpolated_state(norm, weights))
        done[resolution] = weights
    return done
