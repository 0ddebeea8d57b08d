"""A per-image resolution cascade over one SAN, and its thresholds file.

A SAN is one set of weights for every resolution, so each image can stop at the smallest
size that it needs: a :class:`Cascade` classifies at its smallest size first and an image
whose confidence clears that size's threshold stops there; the others move up. Fit one with
:func:`~san_plugin.cascade.fit.fit_cascade`; the decisions themselves are
:mod:`~san_plugin.cascade.rule` (which deployments run too).

The thresholds file (JSON, ``format: san_plugin.cascade``) records the sizes, thresholds,
confidence score, GFLOPs per size, the SAN's training resolutions and a fingerprint of the
weights it was fitted for; :meth:`Cascade.check` refuses it for another model by name.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from san_plugin.core import find_controller
from san_plugin.evaluation.test_crop import TEST_CROP_RATIO
from .fingerprint import model_fingerprint
from .rule import CascadeOutcome, Views, charged_gflops, check_rule, run_cascade, simulate_cascade

CASCADE_FORMAT_ID = 'san_plugin.cascade'
CASCADE_VERSION = 1


class CascadeMismatchError(ValueError):
    """A thresholds file was fitted for other resolutions or another checkpoint."""


@dataclass(frozen=True)
class Cascade:
    """Sizes, thresholds and costs of a confidence cascade, and what it was fitted for.

    Attributes:
        sizes: the test sizes it runs, ascending (a single size: every image stops there).
        thresholds: the confidence an image needs to stop at each size but the last.
        gflops: ``{size: GFLOPs of one image}`` of the deployed (baked) model.
        score: ``'max_prob'`` (top-1 probability) or ``'margin'`` (top-1 minus top-2).
        combine: ``'last'`` (the exit size's softmax) or ``'mean'`` (the mean over the sizes passed).
        resolutions: the SAN's training resolutions (largest first); checked against the model.
        fingerprint: :func:`~san_plugin.cascade.fingerprint.model_fingerprint` of the weights
            it was fitted for; None skips the check.
        checkpoint: where those weights came from (for messages).
        crop_ratio: the test crop ratio of the views (S / short side).
        fit: how it was fitted (target, data, top-1 and GFLOPs on the fit data...).

    Example:
        >>> cascade = Cascade((32, 48, 64), (0.9, 0.8), {32: 0.03, 48: 0.07, 64: 0.12})
        >>> outcome = cascade.run(lambda size, x: san(x), {32: x32, 48: x48, 64: x64})
        >>> cascade.mean_gflops(outcome), cascade.counts(outcome)
        (0.061, {32: 61, 48: 22, 64: 17})
    """

    sizes: tuple[int, ...]
    thresholds: tuple[float, ...]
    gflops: Mapping[int, float]
    score: str = 'max_prob'
    combine: str = 'last'
    resolutions: tuple[int, ...] = ()
    fingerprint: str | None = None
    checkpoint: str | None = None
    crop_ratio: float = TEST_CROP_RATIO
    fit: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, 'sizes', tuple(int(s) for s in self.sizes))
        object.__setattr__(self, 'thresholds', tuple(float(t) for t in self.thresholds))
        object.__setattr__(self, 'gflops', {int(s): float(g) for s, g in self.gflops.items()})
        object.__setattr__(self, 'resolutions', tuple(int(r) for r in self.resolutions))
        check_rule(self.sizes, self.thresholds, self.score, self.combine)
        missing = [s for s in self.sizes if s not in self.gflops]
        if missing:
            raise ValueError(f'no GFLOPs for sizes {missing} (have {sorted(self.gflops)})')
        if any(not math.isfinite(t) for t in self.thresholds):
            raise ValueError(f'thresholds must be finite numbers, got {list(self.thresholds)}')

    # -- running -------------------------------------------------------------------------
    def run(self, classify: Callable[[int, torch.Tensor], torch.Tensor], views: Views,
            count: int | None = None) -> CascadeOutcome:
        """:func:`~san_plugin.cascade.rule.run_cascade` with this cascade's rule."""
        return run_cascade(classify, views, self.sizes, self.thresholds, score=self.score, combine=self.combine,
                           count=count)

    def simulate(self, probs: Mapping[int, torch.Tensor]) -> CascadeOutcome:
        """The decisions from precomputed ``{size: (N, C) probabilities}`` (fitting, reports)."""
        return simulate_cascade(probs, self.sizes, self.thresholds, score=self.score, combine=self.combine)

    def image_gflops(self, outcome: CascadeOutcome) -> torch.Tensor:
        """``(N,)`` GFLOPs of each image: every size it passed through, its exit included."""
        return charged_gflops(outcome.exit_stage, self.sizes, self.gflops)

    def mean_gflops(self, outcome: CascadeOutcome) -> float:
        """Mean GFLOPs per image."""
        return float(self.image_gflops(outcome).mean())

    def counts(self, outcome: CascadeOutcome) -> dict[int, int]:
        """``{size: images that stopped there}``, smallest size first."""
        counts = torch.bincount(outcome.exit_stage.cpu(), minlength=len(self.sizes)).tolist()
        return dict(zip(self.sizes, counts))

    # -- checks ----------------------------------------------------------------------------
    def check(self, *, resolutions: Sequence[int] | None = None, fingerprint: str | None = None,
              source: str = 'the thresholds', target: str = 'this model') -> None:
        """Refuses the cascade for a model with other training resolutions or other weights.

        Raises:
            CascadeMismatchError: naming ``source``, both resolution lists or both fingerprints.
        """
        if resolutions is not None and self.resolutions and tuple(resolutions) != self.resolutions:
            raise CascadeMismatchError(
                f'{source} were fitted for a SAN trained at {list(self.resolutions)} px, {target} is trained at '
                f'{list(resolutions)} px: fit thresholds for it (tools/cascade.py)')
        if fingerprint is not None and self.fingerprint is not None and fingerprint != self.fingerprint:
            raise CascadeMismatchError(
                f'{source} were fitted for other weights ({self.checkpoint or "unknown checkpoint"}, '
                f'{self.fingerprint[:19]}...), {target} has {fingerprint[:19]}...: fit thresholds for it '
                f'(tools/cascade.py)')

    def check_model(self, model: nn.Module, source: str = 'the thresholds', target: str = 'this model') -> None:
        """:meth:`check` against a model's training resolutions (a SAN's) and weights."""
        controller = find_controller(model)
        self.check(resolutions=controller.resolutions if controller is not None else None,
                   fingerprint=model_fingerprint(model), source=source, target=target)

    # -- the thresholds file ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data['gflops'] = {str(s): g for s, g in self.gflops.items()}
        data['fit'] = dict(self.fit)
        return {'format': CASCADE_FORMAT_ID, 'version': CASCADE_VERSION, **data}

    def save(self, path: str | Path) -> Path:
        """Writes the thresholds file (atomically) and returns its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + '.partial')
        partial.write_text(json.dumps(self.to_dict(), indent=2) + '\n')
        os.replace(partial, path)
        return path

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = 'cascade') -> 'Cascade':
        if data.get('format') != CASCADE_FORMAT_ID:
            raise ValueError(f'{source} is not a thresholds file (format {data.get("format")!r}, expected '
                             f'{CASCADE_FORMAT_ID!r})')
        if int(data.get('version', CASCADE_VERSION)) > CASCADE_VERSION:
            raise ValueError(f'{source} is a thresholds file of version {data["version"]}; this san_plugin reads '
                             f'version {CASCADE_VERSION} (upgrade san_plugin)')
        known = set(cls.__dataclass_fields__)
        fields = {k: v for k, v in data.items() if k in known}
        try:
            return cls(**fields)
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(f'{source}: {error}') from error

    @classmethod
    def load(cls, path: str | Path) -> 'Cascade':
        """Reads a thresholds file; a ``ValueError`` names the file and what is wrong with it."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f'thresholds file not found: {path}')
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f'{path} is not JSON: {error}') from error
        return cls.from_dict(data, str(path))


def single_size(size: int, gflops: Mapping[int, float], **kwargs: Any) -> Cascade:
    """The cascade in which every image stops at ``size``: the single-size model."""
    return Cascade((int(size),), (), {int(size): gflops[int(size)]}, **kwargs)

