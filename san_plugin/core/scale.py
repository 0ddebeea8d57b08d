"""Training resolutions and their encoding: the resolution arithmetic of a SAN.

The resolution set's check, the encoding ``eps(S)`` fed to the meta learners, the
nearest-training-resolution rule, an input's resolution, and the :class:`ResolutionPlan`
that a :class:`~san_plugin.core.ScaleController` works out once per input size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import torch


@dataclass(frozen=True)
class ScaleEncoding:
    """Maps a resolution S to the scalar fed to every meta learner: ``factor * S / base + offset``.

    The default is the paper's ``eps(S) = 0.1 * S / 32`` (32 is the usual total stride).
    :meth:`standardized` gives zero mean and unit variance over the training
    resolutions instead, so that a meta learner's input is normalised like any other
    network input whatever the resolution range (see ``docs/meta_learners.md``).

    Example:
        >>> ScaleEncoding()(224)
        0.7000000000000001
        >>> ScaleEncoding.standardized([64, 32])(64)
        1.0
    """

    factor: float = 0.1
    base: float = 32.0
    offset: float = 0.0

    def __post_init__(self) -> None:
        for name in ('factor', 'base'):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f'ScaleEncoding.{name} must be a positive finite number, got {value!r}')
        if not (isinstance(self.offset, (int, float)) and math.isfinite(self.offset)):
            raise ValueError(f'ScaleEncoding.offset must be a finite number, got {self.offset!r}')

    def __call__(self, size: float) -> float:
        return self.factor * size / self.base + self.offset

    @classmethod
    def standardized(cls, resolutions: Iterable[int]) -> 'ScaleEncoding':
        """The encoding ``(S - mean) / std`` over ``resolutions`` (population std; one
        resolution gives ``S - mean``, i.e. 0)."""
        values = validate_resolutions(resolutions)
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0
        return cls(factor=1.0, base=std, offset=-mean / std)

    @classmethod
    def from_config(cls, value: Any, resolutions: Iterable[int]) -> 'ScaleEncoding':
        """An encoding from a config value: a ``ScaleEncoding``, a dict of its fields,
        ``'paper'`` (the default) or ``'standardized'``. Error messages start with ``encoding``."""
        if isinstance(value, ScaleEncoding):
            return value
        if value is None or value == 'paper':
            return cls()
        if value == 'standardized':
            return cls.standardized(resolutions)
        if isinstance(value, Mapping):
            unknown = set(value) - {'factor', 'base', 'offset'}
            if unknown:
                raise ValueError(f'encoding has unknown ScaleEncoding field(s) {sorted(unknown)}; '
                                 f'known: factor, base, offset')
            try:
                return cls(**value)
            except ValueError as error:
                raise ValueError(f'encoding {dict(value)!r}: {error}') from None
        raise ValueError(f"encoding must be 'paper', 'standardized' or dict(factor=..., base=..., offset=...), "
                         f'got {value!r}')


def validate_resolutions(resolutions: Iterable[Any], name: str = 'resolutions') -> tuple[int, ...]:
    """Checks a resolution set and returns it sorted from largest to smallest.

    Args:
        resolutions: positive integers, at least one, no duplicates, any order.
        name: what to call the set in error messages.

    Raises:
        ValueError: naming the offending value.

    Example:
        >>> validate_resolutions([96, 224, 160])
        (224, 160, 96)
    """
    if isinstance(resolutions, (str, bytes)) or not isinstance(resolutions, Iterable):
        raise ValueError(f'{name} must be a list of positive integers, got {resolutions!r}')
    values = list(resolutions)
    if not values:
        raise ValueError(f'{name} is empty: give at least one resolution, e.g. [224, 192, 160, 128, 96]')
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f'{name} must hold integers (pixels), got {value!r} of type {type(value).__name__}')
        if value <= 0:
            raise ValueError(f'{name} must hold positive integers, got {value}')
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        raise ValueError(f'{name} holds duplicates: {duplicates} in {values}')
    return tuple(sorted(values, reverse=True))


def nearest_resolution(size: float, resolutions: Sequence[int]) -> int:
    """The training resolution closest to ``size``; a tie goes to the larger one.

    Example:
        >>> nearest_resolution(176, (224, 192, 160))
        192
    """
    return min(resolutions, key=lambda r: (abs(r - size), -r))


def input_resolution(x: torch.Tensor) -> int:
    """The resolution S of an image batch ``(..., H, W)``: ``round(sqrt(H * W))``."""
    if x.dim() < 3:
        raise ValueError(f'cannot read a resolution from a tensor of shape {tuple(x.shape)}; expected (N, C, H, W)')
    height, width = x.shape[-2:]
    return int(round(math.sqrt(int(height) * int(width))))


def branch_key(resolution: int) -> str:
    """The key of a resolution's batch-norm branch in ``PrivateBatchNorm2d.branches``, e.g. ``'224'``."""
    return str(int(resolution))


@dataclass(frozen=True)
class ResolutionPlan:
    """How a SAN runs an input: which batch-norm branch, under which key, with which encoding.

    A :class:`ScaleController` makes one plan per resolution that owns a BN branch and
    hands the active one to every layer (``controller.plan``): a generated convolution
    reads ``eps``, a private batch norm reads ``bn_key``.

    Attributes:
        bn_resolution: the resolution whose BN branch runs: a training resolution, or a
            calibrated one in ideal inference.
        bn_key: that branch's key in ``PrivateBatchNorm2d.branches``.
        eps: the encoding fed to every meta learner, ``encoding(bn_resolution)``.

    Example:
        >>> ResolutionPlan.of(224, ScaleEncoding())
        ResolutionPlan(bn_resolution=224, bn_key='224', eps=0.7000000000000001)
    """

    bn_resolution: int
    bn_key: str
    eps: float

    @classmethod
    def of(cls, bn_resolution: int, encoding: 'ScaleEncoding') -> 'ResolutionPlan':
        """The plan of the BN branch of ``bn_resolution`` under ``encoding``."""
        return cls(bn_resolution, branch_key(bn_resolution), encoding(bn_resolution))
