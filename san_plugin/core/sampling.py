"""Which training resolutions one SAN training step runs: all of them, or a sandwich sample.

A step over all k training resolutions costs ``sum_i (S_i / S_1)^2`` plain steps at the largest
size. ``'sandwich'`` (the sandwich rule of US-Nets, applied to resolutions) runs the largest and
the smallest resolution at every step and ``num_random`` of the others, drawn without replacement.
The draw is a pure function of ``(seed, iteration)``: a small ``random.Random`` seeded by the two,
no torch generator touched and nothing read from the device, so every rank of a distributed run
draws the same set, a resumed run draws what the uninterrupted run drew, and ``'all'`` changes no
random stream at all.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any, Sequence

SAMPLING_TYPES = ('all', 'sandwich')


@dataclass(frozen=True)
class ResolutionSampling:
    """The resolutions a training step runs.

    Args:
        type: ``'all'`` (every training resolution, the paper's step) or ``'sandwich'``
            (the largest, the smallest and ``num_random`` others drawn per iteration).
        num_random: how many of the middle resolutions a sandwich step adds (0 to k - 2).
        seed: mixed into every draw; two runs with the same seed draw the same sequence.

    Example:
        >>> sampling = ResolutionSampling('sandwich', num_random=1)
        >>> sizes = sampling.draw((64, 56, 48, 40, 32), iteration=7)
        >>> sizes[0], sizes[-1], len(sizes)
        (64, 32, 3)
        >>> sizes == sampling.draw((64, 56, 48, 40, 32), iteration=7)
        True
    """

    type: str = 'all'
    num_random: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.type not in SAMPLING_TYPES:
            raise ValueError(f'sampling type must be one of {SAMPLING_TYPES}, got {self.type!r}')
        for name in ('num_random', 'seed'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f'sampling {name} must be an integer, got {value!r}')
        if self.num_random < 0:
            raise ValueError(f'sampling num_random must be >= 0, got {self.num_random}')
        if self.type == 'all' and self.num_random:
            raise ValueError(f"sampling type 'all' runs every resolution; num_random={self.num_random} belongs "
                             f"to type='sandwich'")

    @classmethod
    def from_config(cls, value: Any) -> 'ResolutionSampling':
        """From a config value: None (``'all'``), a ``ResolutionSampling`` or ``dict(type=..., ...)``.

        Example:
            >>> ResolutionSampling.from_config(dict(type='sandwich', num_random=2)).num_random
            2
        """
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not hasattr(value, 'keys'):
            raise ValueError(f"sampling must be dict(type='all') or dict(type='sandwich', num_random=n), got {value!r}")
        value = dict(value)
        unknown = set(value) - {'type', 'num_random', 'seed'}
        if unknown:
            raise ValueError(f'unknown sampling option(s) {sorted(unknown)}; known: type, num_random, seed')
        return cls(**value)

    def check(self, resolutions: Sequence[int]) -> None:
        """Refuses a ``num_random`` that the resolution set cannot supply, naming both."""
        middle = max(len(resolutions) - 2, 0)
        if self.num_random > middle:
            raise ValueError(f'sampling num_random={self.num_random} but the training resolutions '
                             f'{tuple(resolutions)} have only {middle} between the largest and the smallest')

    def draw(self, resolutions: Sequence[int], iteration: int) -> tuple[int, ...]:
        """The resolutions the step of ``iteration`` runs, largest first.

        Args:
            resolutions: the training resolutions, largest first.
            iteration: the 0-based training iteration (mmengine's ``runner.iter``).
        """
        resolutions = tuple(resolutions)
        if self.type == 'all' or len(resolutions) <= 2:
            return resolutions
        self.check(resolutions)
        middle = resolutions[1:-1]
        chosen = set(random.Random(f'{self.seed}:{int(iteration)}').sample(middle, self.num_random))
        return (resolutions[0], *(r for r in middle if r in chosen), resolutions[-1])

    def relative_cost(self, resolutions: Sequence[int]) -> float:
        """Expected pixels of one step as a fraction of an ``'all'`` step's (the FLOPs of a CNN scale
        with the pixels).

        Example:
            >>> round(ResolutionSampling('sandwich', 1).relative_cost((64, 56, 48, 40, 32)), 3)
            0.612
        """
        resolutions = tuple(resolutions)
        total = sum(r * r for r in resolutions)
        if self.type == 'all' or len(resolutions) <= 2:
            return 1.0
        self.check(resolutions)
        middle = resolutions[1:-1]
        mean_middle = sum(r * r for r in middle) / len(middle)
        return (resolutions[0] ** 2 + resolutions[-1] ** 2 + self.num_random * mean_middle) / total

    def to_dict(self) -> dict[str, Any]:
        """The config form."""
        return asdict(self)
