"""What the Imagenette benchmark's scripts share: the protocol's sizes, a model's proxy row, number formats.

Every script of ``benchmarks/imagenette`` imports these from here and from nowhere else, so the
scripts import one another in one direction only (``run`` -> ``evaluate``, ``report`` -> ``seeds``,
``lr_sweep``, ``finetune_report``: each of them -> ``common``).
"""
from __future__ import annotations

import math
from typing import Iterable

TRAIN_RESOLUTIONS = (64, 56, 48, 40, 32)
"""The SAN's training sizes (px), largest first; one baseline is trained at each."""

TEST_RESOLUTIONS = (80, 72, 64, 56, 48, 44, 40, 36, 32, 24)
"""The test sizes of Table 1 (px), largest first."""


def proxy_row(result: dict, tests: Iterable[int] | None = None) -> dict[int, float | None]:
    """Top-1 per test size of one model: a baseline's only row, or a SAN's proxy inference (at each
    test size the cell of the BN branch that ``result['proxy']`` names for it).

    Args:
        result: an ``eval.json`` of ``evaluate.py``: ``rows`` (row -> test size -> top-1, a baseline's
            one row named ``'baseline'``) and, for a SAN, ``proxy`` (test size -> row).
        tests: the test sizes wanted; None: every size the result has.

    Returns:
        ``{T: top-1}`` by int size; with ``tests``, exactly those sizes, None where the result lacks one.

    Example:
        >>> proxy_row({'rows': {'64': {'64': 70.0, '72': 66.0}}, 'proxy': {'64': 64, '72': 64}})
        {64: 70.0, 72: 66.0}
    """
    rows = result['rows']
    if 'baseline' in rows:
        found = {int(t): v for t, v in rows['baseline'].items()}
    else:
        found = {int(t): rows[str(row)][t] for t, row in result.get('proxy', {}).items()
                 if t in rows.get(str(row), {})}
    return found if tests is None else {int(t): found.get(int(t)) for t in tests}


def fmt(value: float | None, digits: int = 2, sign: bool = False) -> str:
    """A number as the reports print it: ``digits`` decimals, ``+`` on gains with ``sign``; ``-`` for
    None or NaN (a cell not measured)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '-'
    return f'{value:+.{digits}f}' if sign else f'{value:.{digits}f}'


def fmt_minutes(seconds: float | None) -> str:
    """A wall time in minutes (``12.5 min``), ``-`` for None."""
    return '-' if seconds is None else f'{seconds / 60:.1f} min'
