"""How the k cross-entropy terms and the distillation pairs of a SAN's loss are combined.

``'sum'`` is the paper's loss (and its code): ``alpha * sum_i CE_i + beta * sum_pairs KL``. With
k = 5 resolutions that is 5 CE and 10 KL terms at weight 1, so at initialisation the gradient on
the shared parameters is several times a single-resolution model's and the safe learning rate
is several times lower (``docs/training.md``, "The loss scale").

``'mean'`` averages instead: ``alpha * mean_i CE_i + beta * mean_pairs KL``. Its gradient has a
single model's scale, so a baseline's learning rate is a SAN's learning rate; it equals the summed
loss divided by k (when ``alpha = beta``, up to the distillation's weight) at a k times larger
rate, with weight decay k times stronger relative to the step.
"""
from __future__ import annotations

from dataclasses import dataclass

LOSS_FORMS = ('sum', 'mean')
DISTILL_MODES = ('all_pairs', 'largest')  # every larger resolution teaches each smaller one; only the largest teaches


def distillation_pairs(k: int, mode: str = 'all_pairs') -> int:
    """Number of (teacher, student) KL terms among k resolutions.

    Example:
        >>> distillation_pairs(5), distillation_pairs(5, 'largest')
        (10, 4)
    """
    if k < 1:
        raise ValueError(f'a SAN trains at one resolution at least, got k={k}')
    if mode == 'all_pairs':
        return k * (k - 1) // 2
    if mode == 'largest':
        return k - 1
    raise ValueError(f"distillation mode must be {' or '.join(map(repr, DISTILL_MODES))}, got {mode!r}")


@dataclass(frozen=True)
class LossForm:
    """The factors that turn per-resolution CE and per-pair KL terms into one loss.

    Args:
        form: ``'sum'`` (the paper's) or ``'mean'``.
        k: the number of training resolutions.
        distill_mode: ``'all_pairs'`` (the paper's) or ``'largest'``.

    Example:
        >>> f = LossForm('mean', 5)
        >>> f.ce_factor, f.pair_factor
        (0.2, 0.1)
    """

    form: str
    k: int
    distill_mode: str = 'all_pairs'

    def __post_init__(self) -> None:
        if self.form not in LOSS_FORMS:
            raise ValueError(f'loss_form must be one of {LOSS_FORMS} (sum: the paper\'s), got {self.form!r}')
        distillation_pairs(self.k, self.distill_mode)  # validates k and the mode

    @property
    def ce_factor(self) -> float:
        """Multiplies each resolution's CE term."""
        return 1.0 if self.form == 'sum' else 1.0 / self.k

    @property
    def pair_factor(self) -> float:
        """Multiplies each KL term (the distillation loss's own weight comes on top)."""
        pairs = distillation_pairs(self.k, self.distill_mode)
        return 1.0 if self.form == 'sum' or pairs == 0 else 1.0 / pairs
