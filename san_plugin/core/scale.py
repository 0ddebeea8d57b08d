"""Training resolutions, their encoding, and the active-resolution state of a SAN.

A converted model holds one :class:`ScaleController` as the child ``san``. It resolves
each input size once to a :class:`ResolutionPlan` (which batch-norm branch, its key, the
encoding fed to the meta learners) and keeps the active one as ``plan``: every generated
convolution and private batch norm of that model reads it. A forward pre-hook on the
model activates the plan of the input tensor's size, so a SAN is called exactly like
the original network: ``model(x)``.
"""
from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Iterator, Sequence

import torch
from torch import nn

MODES = ('proxy', 'ideal')
METADATA_VERSION = 1
#: The training resolutions a SAN gets when none are given: the paper's ImageNet set (and that of
#: its released models), largest first. The one definition; the timm, MMPretrain and zoo glue import it.
DEFAULT_RESOLUTIONS = (224, 192, 160, 128, 96)
#: The encoding a SAN gets when none is given: the paper's ``eps(S) = 0.1 * S / 32`` (``ScaleEncoding()``).
DEFAULT_ENCODING = 'paper'


class SANMetadataError(ValueError):
    """A SAN checkpoint does not match the model it is loaded into."""


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
        ``'paper'`` (the default) or ``'standardized'``."""
        if isinstance(value, ScaleEncoding):
            return value
        if value is None or value == 'paper':
            return cls()
        if value == 'standardized':
            return cls.standardized(resolutions)
        if isinstance(value, dict):
            unknown = set(value) - {'factor', 'base', 'offset'}
            if unknown:
                raise ValueError(f'unknown ScaleEncoding field(s) {sorted(unknown)}; known: factor, base, offset')
            return cls(**value)
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


def _first_image_tensor(args: tuple) -> torch.Tensor | None:
    for arg in args:
        if isinstance(arg, torch.Tensor) and arg.dim() == 4:
            return arg
    return None


class ScaleController(nn.Module):
    """Holds the SAN metadata of a model and its active resolution plan.

    The controller is attached by :func:`san_plugin.core.convert` as ``model.san``. Its
    ``forward`` is the identity, so it is harmless inside an ``nn.Sequential``. Its
    metadata travels in the state dict (``san._extra_state``) and is checked on load.

    Every input size is resolved once to a :class:`ResolutionPlan` (which BN branch, its
    key, the encoding) and the plan is remembered: the layers read the active
    ``plan``, nothing is rescanned per call. The remembered plans of other sizes than the
    training resolutions are dropped when ``mode`` or ``calibrated`` changes.

    Args:
        resolutions: the training resolutions (any order; stored largest first).
        encoding: the resolution encoding fed to the meta learners (see
            :meth:`ScaleEncoding.from_config`; default the paper's).
        mode: ``'proxy'`` (nearest training resolution's encoding and BN) or ``'ideal'``
            (the test resolution's own encoding and a calibrated BN branch).
        meta_hidden: hidden width of the meta learners, ``None`` for the affine one.
        exclude: the name patterns kept shared at conversion.
        convs: ``'meta'`` (generated convolutions) or ``'shared'`` (private BN only).

    ``regenerate_kernels`` (a run-time switch, not saved) trades training speed for
    memory: True (default) saves each generated kernel for the backward as its recipe
    and generates it again there; False keeps the kernels of one resolution alive until
    its backward (one more copy of the conv weights at the peak, one elementwise add
    per conv per resolution less). Gradients are bitwise the same either way.

    Example:
        >>> ctrl = ScaleController([224, 160, 96])
        >>> ctrl.eval().resolve(200)
        ResolutionPlan(bn_resolution=224, bn_key='224', eps=0.7000000000000001)
    """

    def __init__(
        self,
        resolutions: Iterable[int],
        encoding: ScaleEncoding | str | dict | None = None,
        mode: str = 'proxy',
        meta_hidden: int | None = None,
        exclude: Sequence[str] = (),
        convs: str = 'meta',
    ) -> None:
        super().__init__()
        self._resolutions = validate_resolutions(resolutions)
        self._encoding = ScaleEncoding.from_config(encoding, self._resolutions)
        self._training_plans = {r: ResolutionPlan.of(r, self._encoding) for r in self._resolutions}
        self._plans: dict[int, ResolutionPlan] = dict(self._training_plans)
        self._calibrated: tuple[int, ...] = ()
        self.mode = mode
        self.meta_hidden = meta_hidden
        self.exclude = tuple(exclude)
        self.convs = convs
        self.plan = self._training_plans[self._resolutions[0]]
        self._override: int | None = None
        self._warned: set[tuple[str, int]] = set()
        self.regenerate_kernels = True

    @property
    def resolutions(self) -> tuple[int, ...]:
        """The training resolutions, largest first."""
        return self._resolutions

    @property
    def encoding(self) -> ScaleEncoding:
        """The resolution encoding fed to the meta learners."""
        return self._encoding

    @property
    def mode(self) -> str:
        """``'proxy'`` or ``'ideal'`` inference (setting it drops the remembered test-size plans)."""
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"SAN inference mode must be one of {MODES}, got {value!r}")
        self._mode = value
        self._forget_test_plans()

    @property
    def calibrated(self) -> tuple[int, ...]:
        """Test resolutions with a calibrated BN branch, largest first."""
        return self._calibrated

    @calibrated.setter
    def calibrated(self, values: Iterable[int]) -> None:
        self._calibrated = tuple(int(v) for v in values)
        self._forget_test_plans()

    @property
    def bn_resolutions(self) -> tuple[int, ...]:
        """Every resolution that owns a BN branch: training ones, then calibrated ones."""
        return self._resolutions + self._calibrated

    def forward(self, x: Any) -> Any:
        return x

    def extra_repr(self) -> str:
        return (f'resolutions={self.resolutions}, encoding={self.encoding}, mode={self.mode!r}, '
                f'meta_hidden={self.meta_hidden}, calibrated={self.calibrated}')

    # -- which plan a resolution runs with -----------------------------------------------
    def resolve(self, size: int) -> ResolutionPlan:
        """The plan an input of resolution ``size`` runs with in the current train/eval mode.

        In training the size must be a training resolution; in evaluation see
        :meth:`inference_plan`.
        """
        if self.training and size not in self._training_plans:
            raise ValueError(
                f'training input of resolution {size} px is not one of the training resolutions '
                f'{self.resolutions}: every training view must be resized to one of them')
        return self.inference_plan(size)

    def inference_plan(self, size: int) -> ResolutionPlan:
        """The plan an input of resolution ``size`` runs with at inference, whatever the train/eval mode.

        A training resolution uses its own branch; in ``ideal`` mode a calibrated
        resolution uses its own branch and encoding; everything else runs as proxy
        inference with the nearest training resolution (a one-time warning says so where
        that is a fallback). The plan is worked out once per size and remembered.
        """
        plan = self._plans.get(size)
        if plan is None:
            plan = self._plans[int(size)] = self._plan_test_size(int(size))
        return plan

    def _plan_test_size(self, size: int) -> ResolutionPlan:
        if self.mode == 'ideal':
            if size in self._calibrated:
                return ResolutionPlan.of(size, self._encoding)
            self._warn_once('ideal', size,
                            f'SAN ideal inference at {size} px needs a calibrated BN branch '
                            f'(calibrated: {self.calibrated or "none"}); falling back to proxy inference')
        if not self.resolutions[-1] <= size <= self.resolutions[0]:
            self._warn_once('range', size,
                            f'test resolution {size} px is outside the training range '
                            f'{self.resolutions[-1]}..{self.resolutions[0]}; using proxy inference '
                            f'with the nearest training resolution')
        return self._training_plans[nearest_resolution(size, self.resolutions)]

    def _forget_test_plans(self) -> None:
        self._plans = dict(self._training_plans)

    def activate(self, size: int) -> None:
        """Makes ``size`` the active resolution of every layer of this model."""
        # One plain attribute write: torch 2.11's compiler missed a property setter's writes
        # (a compiled SAN then trained the first BN branch at every resolution).
        self.plan = self.resolve(size)

    def on_model_input(self, module: nn.Module, args: tuple) -> None:
        """Forward pre-hook of the converted model: reads the resolution from the input."""
        if self._override is not None:
            self.activate(self._override)
            return
        image = _first_image_tensor(args)
        if image is None:
            raise ValueError(
                f'{type(module).__name__} is a SAN model but its input holds no (N, C, H, W) tensor to read '
                f'the resolution from; wrap the call in `with san_resolution(model, S):`')
        self.activate(input_resolution(image))

    @contextmanager
    def resolution(self, size: int) -> Iterator[None]:
        """Runs the model at ``size`` whatever the input's size (nestable)."""
        previous = self._override
        self._override = int(size)
        try:
            self.activate(self._override)
            yield
        finally:
            self._override = previous

    def _warn_once(self, kind: str, size: int, message: str) -> None:
        if (kind, size) not in self._warned:
            self._warned.add((kind, size))
            warnings.warn(message, stacklevel=4)

    # -- metadata in the state dict --------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """What a checkpoint records of this SAN: plain Python values only."""
        return {
            'version': METADATA_VERSION,
            'resolutions': list(self.resolutions),
            'encoding': asdict(self.encoding),
            'meta_hidden': self.meta_hidden,
            'exclude': list(self.exclude),
            'convs': self.convs,
            'calibrated': list(self.calibrated),
        }

    def get_extra_state(self) -> dict[str, Any]:
        return self.metadata()

    def set_extra_state(self, state: dict[str, Any]) -> None:
        check_metadata(state, self.metadata())
        self.calibrated = tuple(int(r) for r in state.get('calibrated', ()))


def check_metadata(checkpoint: Any, model: dict[str, Any], source: str = 'checkpoint') -> None:
    """Raises :class:`SANMetadataError` listing every field in which two SANs differ.

    Calibrated resolutions are not compared: loading adds the checkpoint's ones.
    """
    if not isinstance(checkpoint, dict) or 'resolutions' not in checkpoint:
        raise SANMetadataError(f'{source} SAN metadata is malformed: {checkpoint!r}')
    differences = []
    for key in ('resolutions', 'encoding', 'meta_hidden', 'exclude', 'convs'):
        theirs, ours = checkpoint.get(key, 'meta' if key == 'convs' else None), model.get(key)
        if key in ('resolutions', 'exclude') and theirs is not None:
            theirs = list(theirs)
        if key == 'encoding' and isinstance(theirs, dict):
            theirs = {'offset': 0.0, **theirs}  # written before the offset existed
        if theirs != ours:
            differences.append(f'{key}: {source} has {theirs!r}, this model has {ours!r}')
    if differences:
        raise SANMetadataError(
            f'the {source} was made for a differently converted SAN; ' + '; '.join(differences)
            + '. Convert the model with the same settings (resolutions, encoding, meta_hidden, exclude).')
