"""The cascade benchmark's two targets, stated once for its report (``cascade.py``) and the README.

A cascade result (``cascade.py``'s json) is scored against its largest ("reference") size:

* within the GFLOPs of the budget size, reach the reference size's top-1;
* at the reference size's top-1, spend at least ``MIN_SAVING`` fewer GFLOPs than the reference size.
"""
from __future__ import annotations

MIN_SAVING = 0.30
"""The fraction of the reference size's GFLOPs a cascade as accurate as it must save."""


def saving(result: dict) -> float | None:
    """The fraction of the reference size's GFLOPs the cascade as accurate as it saves (None: not reached)."""
    equal = result['targets']['at_equal_top1']
    if 'mean_gflops' not in equal:
        return None
    return 1 - equal['mean_gflops'] / result['gflops'][result['targets']['reference_size']]


def at_budget_met(result: dict) -> bool | None:
    """Whether the cascade within the budget size's GFLOPs reaches the reference size's top-1."""
    at_budget = result['targets']['at_budget']
    if 'top1' not in at_budget:
        return None
    return at_budget['top1'] >= result['single_size'][result['targets']['reference_size']]['top1']


def at_equal_top1_met(result: dict) -> bool | None:
    """Whether the cascade as accurate as the reference size saves at least ``MIN_SAVING`` of its GFLOPs."""
    equal, saved = result['targets']['at_equal_top1'], saving(result)
    return None if saved is None else saved >= MIN_SAVING and equal['gain'] >= 0
