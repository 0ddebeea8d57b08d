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

Multi-resolution testing (:class:`TTAEntry`): a model's softmax averaged over several test
resolutions of the same images, each view run as the model runs at that resolution; its
cost is the sum of the views' costs.

JSON format versions: 1 (no multi-resolution entries) and 2 (``'tta'``); both load.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from san_plugin.core.scale import nearest_resolution

KINDS = ('san', 'ideal', 'baseline')
FORMAT_ID = 'san_plugin.sweep'
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
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

    @classmethod
    def total(cls, costs: Iterable['Cost']) -> 'Cost':
        """The cost of running every one of ``costs`` (one forward pass each): GFLOPs and
        latency summed where all are known, parameters unknown (the views of a SAN run
        different baked models).

        Example:
            >>> Cost.total([Cost(gflops=0.08, latency_ms=1.0), Cost(gflops=0.05, latency_ms=0.7)])
            Cost(gflops=0.13, params=None, latency_ms=1.7)
        """
        costs = [cls.of(c) for c in costs]

        def summed(values: list[float | None]) -> float | None:
            return None if not values or any(v is None for v in values) else float(sum(values))

        return cls(gflops=summed([c.gflops for c in costs]), latency_ms=summed([c.latency_ms for c in costs]))

    def to_dict(self) -> dict[str, Any]:
        return {'gflops': self.gflops, 'params': self.params, 'latency_ms': self.latency_ms}


def tta_views(resolutions: Iterable[Any]) -> tuple[int, ...]:
    """A multi-resolution combination checked and sorted largest first.

    Raises:
        ValueError: fewer than two sizes, a duplicate or a size that is not a positive integer
            (the message names the combination).

    Example:
        >>> tta_views([48, 64])
        (64, 48)
    """
    values = list(resolutions)
    if (len(values) < 2 or len(set(values)) != len(values)
            or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in values)):
        raise ValueError(f'a multi-resolution combination needs two or more distinct positive integer sizes, '
                         f'got {values}')
    return tuple(sorted(values, reverse=True))


@dataclass
class TTAEntry:
    """Multi-resolution testing: one model's softmax averaged over several test resolutions.

    Attributes:
        source: the single-resolution curve of the same model run the same way, which the
            report compares against: ``'proxy'`` (a SAN as it runs on its input), an ideal
            row's label (``--mode ideal``) or a baseline row's label.
        resolutions: the views' test resolutions (two or more, distinct), largest first.
        accuracy: top-1 (and top-5) of the averaged softmax, in percent.
        cost: the views' summed cost (see :meth:`Cost.total`).

    Example:
        >>> entry = TTAEntry('proxy', (48, 64), (73.1, 91.0), Cost(gflops=0.131))
        >>> entry.resolutions, entry.views
        ((64, 48), '64+48')
    """

    source: str
    resolutions: tuple[int, ...]
    accuracy: Accuracy
    cost: Cost = field(default_factory=Cost)

    def __post_init__(self) -> None:
        self.resolutions = tta_views(int(r) if isinstance(r, str) else r for r in self.resolutions)
        self.accuracy = Accuracy.of(self.accuracy)
        self.cost = Cost.of(self.cost)

    @property
    def views(self) -> str:
        """The combination as written on the command line and in tables, e.g. ``'64+48'``."""
        return '+'.join(map(str, self.resolutions))

    def to_dict(self) -> dict[str, Any]:
        return {'source': self.source, 'resolutions': list(self.resolutions), 'top1': self.accuracy.top1,
                'top5': self.accuracy.top5, 'cost': self.cost.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'TTAEntry':
        return cls(data['source'], tuple(data['resolutions']), data, data.get('cost') or {})


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
        tta: multi-resolution testing results (:class:`TTAEntry`), each of a curve of this
            sweep (``'proxy'`` or a row label).

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
    tta: list[TTAEntry] = field(default_factory=list)

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
        self._check_tta()

    def _check_tta(self) -> None:
        sources = set(row.label for row in self.rows) | ({PROXY} if self.rows_of('san') else set())
        seen = set()
        for entry in self.tta:
            if entry.source not in sources:
                raise ValueError(f'multi-resolution entry {entry.views!r} has source {entry.source!r}, which is not '
                                 f'a curve of this sweep; sources: {sorted(sources)}')
            if (entry.source, entry.resolutions) in seen:
                raise ValueError(f'multi-resolution entry {entry.views!r} of {entry.source!r} appears twice')
            seen.add((entry.source, entry.resolutions))

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
            'costs': {str(t): c.to_dict() for t, c in sorted(self.costs.items(), reverse=True)},
            'tta': [entry.to_dict() for entry in self.tta],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'SweepResult':
        """Reads :meth:`to_dict`'s output of any version in ``READABLE_VERSIONS`` (the proxy
        flags are recomputed; version 1 has no multi-resolution entries)."""
        if data.get('format') != FORMAT_ID:
            raise ValueError(f'not a {FORMAT_ID} result (format={data.get("format")!r})')
        if data.get('version', 1) not in READABLE_VERSIONS:
            raise ValueError(f'{FORMAT_ID} version {data.get("version")!r} is not readable here (this version '
                             f'reads {READABLE_VERSIONS}); update san_plugin')
        rows = [SweepRow(r['label'], r['kind'], r['resolution'], r['cells']) for r in data['rows']]
        return cls(tuple(data['training_resolutions']), rows, dict(data.get('costs', {})),
                   tuple(data.get('test_resolutions', ())), data.get('title', ''), dict(data.get('meta', {})),
                   [TTAEntry.from_dict(entry) for entry in data.get('tta', [])])

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
