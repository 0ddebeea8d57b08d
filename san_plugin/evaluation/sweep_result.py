"""The result of a resolution sweep: accuracy per (row, test resolution) and cost per resolution.

A sweep evaluates models over test resolutions T (the paper's Table 1 and Table 2):

* SAN rows (``kind='san'``): one per training resolution S_j, evaluated at every T with
  the encoding eps(S_j) and BN branch S_j. The cell of the row S_j = S(T), the nearest
  training resolution, is the *proxy inference* result at T (the paper shades it).
* ideal rows (``kind='ideal'``): the SAN at every T with eps(T) and T's own BN branch,
  calibrated or not (tell them apart by the label).
* baseline rows (``kind='baseline'``): one per independently trained checkpoint,
  labelled by its training resolution.

Costs (GFLOPs, parameters, latency) depend on the test resolution only, since a baked
SAN has the baseline's architecture. Accuracies are percentages (0-100).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from san_plugin.core.scale import nearest_resolution

KINDS = ('san', 'ideal', 'baseline')
FORMAT_ID = 'san_plugin.sweep'
FORMAT_VERSION = 1
PROXY = 'proxy'


class NoOperatingPointError(ValueError):
    """No test resolution fits the budget."""


@dataclass(frozen=True)
class Accuracy:
    """Top-1 (and optionally top-5) accuracy of one cell, in percent.

    Example:
        >>> Accuracy.of((71.2, 90.1))
        Accuracy(top1=71.2, top5=90.1)
    """

    top1: float
    top5: float | None = None

    @classmethod
    def of(cls, value: Any) -> 'Accuracy':
        """From an ``Accuracy``, a number (top-1), a ``(top1, top5)`` pair or a dict."""
        if isinstance(value, Accuracy):
            return value
        if isinstance(value, Mapping):
            top5 = value.get('top5')
            return cls(float(value['top1']), None if top5 is None else float(top5))
        if isinstance(value, (tuple, list)):
            top1, top5 = value
            return cls(float(top1), None if top5 is None else float(top5))
        return cls(float(value))


def _cells(cells: Mapping[Any, Any]) -> dict[int, Accuracy]:
    return {int(t): Accuracy.of(v) for t, v in cells.items()}


@dataclass
class SweepRow:
    """One row of the sweep: a model (or a SAN BN branch) evaluated over test resolutions.

    Attributes:
        label: the row's name in tables and legends (unique within a sweep).
        kind: ``'san'``, ``'ideal'`` or ``'baseline'``.
        resolution: the training resolution: a SAN row's branch and encoding, a
            baseline's training size; None for an ideal row.
        cells: test resolution -> :class:`Accuracy` (numbers and pairs are converted).

    Example:
        >>> SweepRow.san(224, {224: 76.1, 208: (75.4, 92.6)}).label
        'SAN BN@224'
    """

    label: str
    kind: str
    resolution: int | None
    cells: dict[int, Accuracy] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f'row kind must be one of {KINDS}, got {self.kind!r}')
        if self.kind != 'ideal' and self.resolution is None:
            raise ValueError(f'a {self.kind} row needs its training resolution')
        self.resolution = None if self.resolution is None else int(self.resolution)
        self.cells = _cells(self.cells)

    @classmethod
    def san(cls, resolution: int, cells: Mapping[Any, Any], label: str | None = None) -> 'SweepRow':
        """The SAN run with the BN branch and encoding of training resolution ``resolution``."""
        return cls(label or f'SAN BN@{resolution}', 'san', resolution, cells)

    @classmethod
    def ideal(cls, cells: Mapping[Any, Any], label: str = 'SAN ideal') -> 'SweepRow':
        """The SAN with eps(T) and T's own (calibrated or interpolated) BN branch."""
        return cls(label, 'ideal', None, cells)

    @classmethod
    def baseline(cls, resolution: int, cells: Mapping[Any, Any], label: str | None = None) -> 'SweepRow':
        """An independently trained model of training resolution ``resolution``."""
        return cls(label or f'baseline {resolution}', 'baseline', resolution, cells)


@dataclass
class Cost:
    """The cost of one forward pass at one test resolution (any field may be unknown)."""

    gflops: float | None = None
    params: int | None = None
    latency_ms: float | None = None

    @classmethod
    def of(cls, value: Any) -> 'Cost':
        if isinstance(value, Cost):
            return value
        return cls(**{k: value.get(k) for k in ('gflops', 'params', 'latency_ms')})


@dataclass
class SweepResult:
    """Everything a resolution sweep measured; what the report writers read.

    Attributes:
        training_resolutions: the SAN's training resolutions (marks the proxy cells);
            empty for a sweep of baselines only.
        rows: SAN, ideal and baseline rows.
        costs: test resolution -> :class:`Cost`.
        test_resolutions: the table's columns, largest first; every cell's resolution
            when left empty.
        title: a heading for the report.
        meta: free-form provenance (config, checkpoints, dataset, device...).

    Example:
        >>> result = SweepResult(training_resolutions=(224, 160), rows=[
        ...     SweepRow.san(224, {224: 76.0, 192: 74.0, 160: 70.0}),
        ...     SweepRow.san(160, {224: 72.0, 192: 73.5, 160: 73.0}),
        ...     SweepRow.baseline(224, {224: 75.0, 192: 72.0, 160: 66.0})],
        ...     costs={224: Cost(gflops=1.8, latency_ms=5.0), 192: Cost(gflops=1.3, latency_ms=4.0),
        ...            160: Cost(gflops=0.9, latency_ms=3.0)})
        >>> result.proxy_curve()[192].top1  # 192 is nearest to 224 (a tie goes to the larger)
        74.0
    """

    training_resolutions: tuple[int, ...] = ()
    rows: list[SweepRow] = field(default_factory=list)
    costs: dict[int, Cost] = field(default_factory=dict)
    test_resolutions: tuple[int, ...] = ()
    title: str = ''
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.training_resolutions = tuple(sorted({int(r) for r in self.training_resolutions}, reverse=True))
        self.costs = {int(t): Cost.of(c) for t, c in self.costs.items()}
        columns = self.test_resolutions or {t for row in self.rows for t in row.cells}
        self.test_resolutions = tuple(sorted({int(t) for t in columns}, reverse=True))
        labels = [row.label for row in self.rows]
        if len(set(labels)) != len(labels):
            raise ValueError(f'row labels must be unique, got {labels}')
        if PROXY in labels:
            raise ValueError(f'{PROXY!r} is reserved for the proxy-inference curve; rename that row')
        for row in self.rows:
            if row.kind == 'san' and row.resolution not in self.training_resolutions:
                raise ValueError(f'SAN row {row.label!r} has resolution {row.resolution}, not one of the '
                                 f'training resolutions {self.training_resolutions}')

    # -- derived views --------------------------------------------------------------
    def row(self, label: str) -> SweepRow:
        """The row called ``label``."""
        for row in self.rows:
            if row.label == label:
                return row
        raise KeyError(f'no row {label!r}; rows: {[r.label for r in self.rows]}')

    def rows_of(self, kind: str) -> list[SweepRow]:
        return [row for row in self.rows if row.kind == kind]

    def is_proxy(self, row: SweepRow, test_resolution: int) -> bool:
        """Whether a cell is the proxy-inference result: a SAN row S_j at T with S(T) = S_j."""
        return (row.kind == 'san' and bool(self.training_resolutions)
                and nearest_resolution(test_resolution, self.training_resolutions) == row.resolution)

    def proxy_curve(self) -> dict[int, Accuracy]:
        """Proxy inference at every test resolution that has its S(T) row's cell."""
        curve = {}
        for row in self.rows_of('san'):
            for t, accuracy in row.cells.items():
                if self.is_proxy(row, t):
                    curve[t] = accuracy
        return dict(sorted(curve.items(), reverse=True))

    def curve(self, source: str = PROXY) -> dict[int, Accuracy]:
        """``'proxy'`` (see :meth:`proxy_curve`) or the cells of the row labelled ``source``."""
        return self.proxy_curve() if source == PROXY else dict(self.row(source).cells)

    # -- serialisation ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values; each cell also records whether it is a proxy cell."""
        return {
            'format': FORMAT_ID,
            'version': FORMAT_VERSION,
            'title': self.title,
            'meta': self.meta,
            'training_resolutions': list(self.training_resolutions),
            'test_resolutions': list(self.test_resolutions),
            'rows': [{
                'label': row.label, 'kind': row.kind, 'resolution': row.resolution,
                'cells': {str(t): {'top1': a.top1, 'top5': a.top5, 'proxy': self.is_proxy(row, t)}
                          for t, a in sorted(row.cells.items(), reverse=True)},
            } for row in self.rows],
            'costs': {str(t): {'gflops': c.gflops, 'params': c.params, 'latency_ms': c.latency_ms}
                      for t, c in sorted(self.costs.items(), reverse=True)},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'SweepResult':
        """Reads :meth:`to_dict`'s output (the proxy flags are recomputed)."""
        if data.get('format') != FORMAT_ID:
            raise ValueError(f'not a {FORMAT_ID} result (format={data.get("format")!r})')
        rows = [SweepRow(r['label'], r['kind'], r['resolution'], r['cells']) for r in data['rows']]
        return cls(tuple(data['training_resolutions']), rows, dict(data.get('costs', {})),
                   tuple(data.get('test_resolutions', ())), data.get('title', ''), dict(data.get('meta', {})))

    @classmethod
    def load(cls, path: str | Path) -> 'SweepResult':
        """Reads a sweep written as JSON (``<out>.json`` of the report)."""
        return cls.from_dict(json.loads(Path(path).read_text()))


def _or_inf(value: float | None) -> float:
    return float('inf') if value is None else value


def pick_operating_point(results: SweepResult, budget_ms: float | None = None,
                         budget_gflops: float | None = None, *, source: str = PROXY) -> int:
    """The test resolution with the best top-1 within a latency and/or GFLOPs budget.

    Candidates are the test resolutions where ``source`` (``'proxy'``, the paper's
    default inference, or a row label such as an ideal row) has a cell; a budget given
    excludes resolutions whose cost is above it or unknown. Ties go to the cheaper
    (smaller) resolution.

    Raises:
        NoOperatingPointError: nothing fits; the message names the cheapest option.

    Example:
        >>> pick_operating_point(result, budget_ms=4.5)
        192
    """
    curve = results.curve(source)
    if not curve:
        raise NoOperatingPointError(f'{source!r} has no accuracy at any test resolution')

    def fits(t: int) -> bool:
        cost = results.costs.get(t, Cost())
        return ((budget_ms is None or (cost.latency_ms is not None and cost.latency_ms <= budget_ms))
                and (budget_gflops is None or (cost.gflops is not None and cost.gflops <= budget_gflops)))

    candidates = [t for t in curve if fits(t)]
    if not candidates:
        known = {t: results.costs[t] for t in curve if t in results.costs}
        cheapest = min(known.items(), key=lambda kv: (_or_inf(kv[1].latency_ms), _or_inf(kv[1].gflops), kv[0]),
                       default=None)
        hint = (f'; the cheapest is {cheapest[0]} px at {cheapest[1].latency_ms} ms, {cheapest[1].gflops} GFLOPs'
                if cheapest else '; no costs were measured')
        raise NoOperatingPointError(
            f'no test resolution of {source!r} fits the budget (latency <= {budget_ms} ms, '
            f'GFLOPs <= {budget_gflops}){hint}')
    return max(candidates, key=lambda t: (curve[t].top1, -t))
