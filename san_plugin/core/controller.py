"""The active-resolution state of a SAN: :class:`ScaleController`.

A converted model holds one :class:`ScaleController` as the child ``san``. It holds the
conversion's :class:`~san_plugin.core.SANSpec`, resolves each input size once to a
:class:`~san_plugin.core.ResolutionPlan` (which batch-norm branch, its key, the encoding fed
to the meta learners) and keeps the active one as ``plan``: every generated convolution and
private batch norm of that model reads it. A forward pre-hook on the model activates the
plan of the input tensor's size, so a SAN is called exactly like the original network:
``model(x)``.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Iterable, Iterator

import torch
from torch import nn

from .scale import ResolutionPlan, input_resolution, nearest_resolution
from .spec import SANSpec, check_metadata


def _first_image_tensor(args: tuple) -> torch.Tensor | None:
    for arg in args:
        if isinstance(arg, torch.Tensor) and arg.dim() == 4:
            return arg
    return None


def _from_spec(name: str, doc: str) -> property:
    """A read-only property of the controller that reads the field ``name`` of its spec."""
    return property(lambda controller: getattr(controller.spec, name), doc=doc)


class ScaleController(nn.Module):
    """Holds the SAN settings of a model and its active resolution plan.

    The controller is attached by :func:`san_plugin.core.convert` as ``model.san``. Its
    ``forward`` is the identity, so it is harmless inside an ``nn.Sequential``. Its
    metadata travels in the state dict (``san._extra_state``) and is checked on load.

    Every input size is resolved once to a :class:`ResolutionPlan` (which BN branch, its
    key, the encoding) and the plan is remembered: the layers read the active
    ``plan``, nothing is rescanned per call. The remembered plans of other sizes than the
    training resolutions are dropped when ``mode`` or ``calibrated`` changes.

    Args:
        spec: the conversion's :class:`~san_plugin.core.SANSpec`, or the training resolutions
            with the other settings by name (``ScaleController([64, 32], mode='ideal')``).
        **settings: with resolutions, the other :class:`~san_plugin.core.SANSpec` fields.

    The settings are read from :attr:`spec` (``resolutions``, ``encoding``, ``meta_hidden``,
    ``exclude``, ``convs`` as properties); ``mode`` can be changed at run time and the spec
    follows it.

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

    def __init__(self, spec: SANSpec | Iterable[int], **settings: Any) -> None:
        super().__init__()
        self._spec = SANSpec.of(spec, **settings)
        self._training_plans = {r: ResolutionPlan.of(r, self.encoding) for r in self.resolutions}
        self._plans: dict[int, ResolutionPlan] = dict(self._training_plans)
        self._calibrated: tuple[int, ...] = ()
        self.plan = self._training_plans[self.resolutions[0]]
        self._override: int | None = None
        self._warned: set[tuple[str, int]] = set()
        self.regenerate_kernels = True

    @property
    def spec(self) -> SANSpec:
        """The settings this SAN was converted with (``mode``: the current one)."""
        return self._spec

    resolutions = _from_spec('resolutions', 'The training resolutions, largest first.')
    encoding = _from_spec('encoding', 'The resolution encoding fed to the meta learners (a ScaleEncoding).')
    meta_hidden = _from_spec('meta_hidden', 'The hidden width of the MLP meta learners, None for the affine ones.')
    exclude = _from_spec('exclude', 'The layer-name patterns kept shared at conversion.')
    convs = _from_spec('convs', "'meta' (generated convolutions) or 'shared' (private BN only).")

    @property
    def mode(self) -> str:
        """``'proxy'`` or ``'ideal'`` inference (setting it drops the remembered test-size plans)."""
        return self._spec.mode

    @mode.setter
    def mode(self, value: str) -> None:
        self._spec = replace(self._spec, mode=value)  # checked there
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
        return self.resolutions + self._calibrated

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
                return ResolutionPlan.of(size, self.encoding)
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
        """What a checkpoint records of this SAN: the spec's saved form and the calibrated
        resolutions, plain Python values only."""
        return {**self._spec.to_metadata(), 'calibrated': list(self.calibrated)}

    def get_extra_state(self) -> dict[str, Any]:
        return self.metadata()

    def set_extra_state(self, state: dict[str, Any]) -> None:
        check_metadata(state, self.metadata())
        self.calibrated = tuple(int(r) for r in state.get('calibrated', ()))
