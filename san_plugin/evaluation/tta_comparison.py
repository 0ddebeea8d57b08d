"""Does multi-resolution testing pay? A :class:`TTAEntry` against the same model at one resolution.

Two single-resolution cells of the entry's own curve (the SAN's proxy curve, an ideal row or a
baseline row) sit beside it: the best cell at no more GFLOPs than the ensemble, and the cell at
the ensemble's largest view (what one would run without averaging).
"""
from __future__ import annotations

from dataclasses import dataclass

from .sweep_result import Accuracy, Cost, SweepResult, TTAEntry


@dataclass(frozen=True)
class SingleCell:
    """One single-resolution cell of a curve, with the cost of its test resolution."""

    resolution: int
    accuracy: Accuracy
    cost: Cost


@dataclass(frozen=True)
class TTAComparison:
    """A multi-resolution entry and the single-resolution cells it competes with.

    Attributes:
        entry: the multi-resolution result.
        best_within: the best top-1 cell of the entry's curve whose GFLOPs are known and not
            above the entry's (ties: the cheaper); None when no cell qualifies or the entry
            has no GFLOPs.
        at_largest: the curve's cell at the entry's largest view; None when not evaluated.

    Example:
        >>> comparison = compare_tta(result, result.tta[0])
        >>> comparison.gain_over_best_within  # > 0: averaging beats any single size of that cost
        0.6
    """

    entry: TTAEntry
    best_within: SingleCell | None
    at_largest: SingleCell | None

    @property
    def gain_over_best_within(self) -> float | None:
        """Top-1 points the ensemble gains over :attr:`best_within`."""
        return None if self.best_within is None else self.entry.accuracy.top1 - self.best_within.accuracy.top1

    @property
    def gain_over_largest(self) -> float | None:
        """Top-1 points the ensemble gains over :attr:`at_largest`."""
        return None if self.at_largest is None else self.entry.accuracy.top1 - self.at_largest.accuracy.top1


def compare_tta(result: SweepResult, entry: TTAEntry) -> TTAComparison:
    """The single-resolution cells of ``entry.source``'s curve that ``entry`` competes with.

    Example:
        >>> [compare_tta(result, e).gain_over_largest for e in result.tta]
        [0.9, -0.2]
    """
    curve = result.curve(entry.source)

    def cell(t: int) -> SingleCell:
        return SingleCell(t, curve[t], result.costs.get(t, Cost()))

    largest = entry.resolutions[0]
    at_largest = cell(largest) if largest in curve else None
    budget = entry.cost.gflops
    affordable = [c for c in map(cell, curve)
                  if budget is not None and c.cost.gflops is not None and c.cost.gflops <= budget]
    best = max(affordable, key=lambda c: (c.accuracy.top1, -c.cost.gflops), default=None)
    return TTAComparison(entry, best, at_largest)
