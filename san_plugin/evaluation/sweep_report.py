"""Writes a resolution sweep as Markdown, CSV, JSON and two plots (the paper's Fig. 1 and a trade-off).

Example:
    >>> paths = write_sweep_report(result, 'work_dirs/sweep/resnet18')
    >>> sorted(paths)  # + 'tta_csv' when the sweep has multi-resolution entries
    ['accuracy_png', 'csv', 'json', 'md', 'tradeoff_png']
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from .sweep_result import PROXY, Accuracy, Cost, SweepResult
from .tta_comparison import SingleCell, compare_tta

CSV_COLUMNS = ('label', 'kind', 'train_resolution', 'test_resolution', 'top1', 'top5', 'proxy',
               'gflops', 'params', 'latency_ms')
TTA_CSV_COLUMNS = ('model', 'views', 'top1', 'top5', 'gflops', 'latency_ms', 'best_single_resolution',
                   'best_single_top1', 'best_single_gflops', 'largest_view_top1', 'largest_view_gflops')
TRADEOFF_AXES = ('auto', 'latency', 'gflops')
_STYLE = {'san': dict(linestyle='-', marker='o', linewidth=1.2, alpha=0.75),
          'ideal': dict(linestyle='-', marker='s', linewidth=1.8),
          'baseline': dict(linestyle='--', marker='^', linewidth=1.2)}


def write_sweep_report(result: SweepResult, out: str | Path, *, tradeoff_x: str = 'auto') -> dict[str, Path]:
    """Writes ``<out>.md``, ``<out>.csv``, ``<out>.json``, ``<out>_accuracy.png`` and ``<out>_tradeoff.png``.

    The Markdown and CSV hold the same cells as the JSON (Markdown rounded to two
    decimals); proxy-inference cells are bold in the Markdown and ``proxy=1`` in the CSV.
    The trade-off plot needs costs: it is written when some test resolution has the
    cost on its x axis. A sweep with multi-resolution entries also gets the Markdown
    section "Multi-resolution testing", ``<out>_tta.csv`` (one record per entry, with the
    single-resolution cells it competes with) and star markers in the trade-off plot.

    Args:
        result: the sweep.
        out: path prefix; parent folders are created.
        tradeoff_x: ``'latency'``, ``'gflops'`` or ``'auto'`` (latency where every
            costed resolution has it, else GFLOPs).

    Returns:
        The written paths under the keys ``md``, ``csv``, ``json``, ``accuracy_png`` and
        (when written) ``tradeoff_png`` and ``tta_csv``.
    """
    if tradeoff_x not in TRADEOFF_AXES:
        raise ValueError(f'tradeoff_x must be one of {TRADEOFF_AXES}, got {tradeoff_x!r}')
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = {
        'md': _write(out.with_name(out.name + '.md'), markdown(result)),
        'csv': _write_csv(out.with_name(out.name + '.csv'), result),
        'json': _write(out.with_name(out.name + '.json'), json.dumps(result.to_dict(), indent=2) + '\n'),
        'accuracy_png': plot_accuracy(result, out.with_name(out.name + '_accuracy.png')),
    }
    tradeoff = plot_tradeoff(result, out.with_name(out.name + '_tradeoff.png'), x_axis=tradeoff_x)
    if tradeoff is not None:
        paths['tradeoff_png'] = tradeoff
    if result.tta:
        paths['tta_csv'] = _write_records(out.with_name(out.name + '_tta.csv'), TTA_CSV_COLUMNS, tta_rows(result))
    return paths


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- tables -------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 2) -> str:
    return '' if value is None else f'{value:.{digits}f}'


def markdown(result: SweepResult) -> str:
    """The sweep as Markdown: top-1 (and top-5) matrices, then the cost per resolution."""
    lines = [f'# {result.title or "Resolution sweep"}', '']
    if result.training_resolutions:
        lines += [f'SAN training resolutions: {", ".join(map(str, result.training_resolutions))}. '
                  'Bold: the proxy-inference cell of each test resolution T (the SAN row S_j = S(T), the '
                  'nearest training resolution).', '']
        lines += off_grid_note(result)
    metrics = ['top1'] + (['top5'] if any(a.top5 is not None for r in result.rows for a in r.cells.values()) else [])
    for metric in metrics:
        lines += [f'## {metric.replace("top", "Top-")} accuracy (%)', '', *_matrix(result, metric), '']
    if result.costs:
        lines += ['## Cost per test resolution', '', *_cost_table(result), '']
    if result.tta:
        lines += ['## Multi-resolution testing', '',
                  'Each image at several test resolutions, the softmax averaged (one checkpoint: each view runs '
                  'as the model runs at its size); the cost is the sum of the views\'. Beside it, the same model '
                  'at one resolution: the best cell at no more GFLOPs, and the cell at the largest view. '
                  'Gain: top-1 points of the ensemble over that cell.', '', *_tta_table(result), '']
    return '\n'.join(lines)


def off_grid_note(result: SweepResult) -> list[str]:
    """A warning for the SAN's test resolutions off its training grid that ran as proxy inference.

    Such a size runs with the encoding and BN branch of the nearest training size, whose BN
    statistics need not fit the feature maps of that size; ideal inference with a BN branch
    calibrated at the size recovers most of the loss (measured: docs/results.md). Sizes with a
    calibrated branch in an ideal-mode sweep (``meta['calibrated']``) are not listed.
    """
    covered = set(result.meta.get('calibrated', ())) if result.meta.get('mode') == 'ideal' else set()
    off = [t for t in result.test_resolutions if t not in result.training_resolutions and t not in covered]
    if not off:
        return []
    sizes = ' '.join(map(str, off))
    return [f'Off the training grid: {", ".join(map(str, off))} px ran as proxy inference, without a BN branch '
            'calibrated at the size; there it can lose several points (measured on Imagenette in the '
            "project's docs/results.md, the paper's Table 2). Calibrate those sizes and sweep in ideal mode: "
            f'`python tools/calibrate_bn.py CONFIG CHECKPOINT --resolutions {sizes}`, then '
            '`tools/eval_resolutions.py CONFIG CALIBRATED_CHECKPOINT --mode ideal`.', '']


def source_name(source: str) -> str:
    """How tables name a multi-resolution entry's curve (``'proxy'`` is the SAN as it runs)."""
    return 'SAN (proxy)' if source == PROXY else source


def _single(cell: SingleCell | None) -> str:
    if cell is None:
        return ''
    cost = '' if cell.cost.gflops is None else f' ({cell.cost.gflops:.3f})'
    return f'{cell.accuracy.top1:.2f} @ {cell.resolution}{cost}'


def _gain(value: float | None) -> str:
    return '' if value is None else f'{value:+.2f}'


def _tta_table(result: SweepResult) -> list[str]:
    top5 = any(e.accuracy.top5 is not None for e in result.tta)
    latency = any(e.cost.latency_ms is not None for e in result.tta)
    head = ['model', 'views (px)', 'top-1'] + (['top-5'] if top5 else []) + ['GFLOPs'] + \
        (['latency (ms)'] if latency else []) + ['best single at <= GFLOPs', 'gain', 'single at largest view', 'gain']
    lines = ['| ' + ' | '.join(head) + ' |', '|---|---|' + '---:|' * (len(head) - 2)]
    for entry in result.tta:
        comparison = compare_tta(result, entry)
        fields = [source_name(entry.source), entry.views, _fmt(entry.accuracy.top1)]
        fields += [_fmt(entry.accuracy.top5)] if top5 else []
        fields += [_fmt(entry.cost.gflops, 3)] + ([_fmt(entry.cost.latency_ms)] if latency else [])
        fields += [_single(comparison.best_within), _gain(comparison.gain_over_best_within),
                   _single(comparison.at_largest), _gain(comparison.gain_over_largest)]
        lines.append('| ' + ' | '.join(fields) + ' |')
    lines += ['', 'Single cells: top-1 @ test resolution (GFLOPs).']
    return lines


def tta_rows(result: SweepResult) -> list[dict[str, Any]]:
    """One record per multi-resolution entry, with the single cells it competes with."""
    records = []
    for entry in result.tta:
        comparison = compare_tta(result, entry)
        best, largest = comparison.best_within, comparison.at_largest
        records.append({'model': source_name(entry.source), 'views': entry.views, 'top1': entry.accuracy.top1,
                        'top5': entry.accuracy.top5, 'gflops': entry.cost.gflops, 'latency_ms': entry.cost.latency_ms,
                        'best_single_resolution': best and best.resolution,
                        'best_single_top1': best and best.accuracy.top1, 'best_single_gflops': best and best.cost.gflops,
                        'largest_view_top1': largest and largest.accuracy.top1,
                        'largest_view_gflops': largest and largest.cost.gflops})
    return records


def _matrix(result: SweepResult, metric: str) -> list[str]:
    columns = result.test_resolutions
    lines = ['| row | kind | train res | ' + ' | '.join(map(str, columns)) + ' |',
             '|---|---|---|' + '---:|' * len(columns)]
    for row in result.rows:
        if all(getattr(a, metric) is None for a in row.cells.values()):
            continue  # e.g. no top-5 for this row
        cells = []
        for t in columns:
            accuracy = row.cells.get(t)
            text = _fmt(None if accuracy is None else getattr(accuracy, metric))
            cells.append(f'**{text}**' if text and result.is_proxy(row, t) else text)
        train = '' if row.resolution is None else str(row.resolution)
        lines.append(f'| {row.label} | {row.kind} | {train} | ' + ' | '.join(cells) + ' |')
    return lines


def _cost_table(result: SweepResult) -> list[str]:
    columns = [t for t in result.test_resolutions if t in result.costs] or sorted(result.costs, reverse=True)
    lines = ['| cost | ' + ' | '.join(map(str, columns)) + ' |', '|---|' + '---:|' * len(columns)]
    for name, attr, digits in (('GFLOPs', 'gflops', 3), ('params (M)', 'params', 3), ('latency (ms)', 'latency_ms', 2)):
        values = [getattr(result.costs[t], attr) for t in columns]
        if all(v is None for v in values):
            continue
        scale = 1e-6 if attr == 'params' else 1.0
        lines.append(f'| {name} | ' + ' | '.join(_fmt(None if v is None else v * scale, digits) for v in values) + ' |')
    return lines


def csv_rows(result: SweepResult) -> list[dict[str, Any]]:
    """One record per cell (long format), with the cost of its test resolution."""
    records = []
    for row in result.rows:
        for t in result.test_resolutions:
            accuracy = row.cells.get(t)
            if accuracy is None:
                continue
            cost = result.costs.get(t, Cost())
            records.append({'label': row.label, 'kind': row.kind, 'train_resolution': row.resolution,
                            'test_resolution': t, 'top1': accuracy.top1, 'top5': accuracy.top5,
                            'proxy': int(result.is_proxy(row, t)), 'gflops': cost.gflops, 'params': cost.params,
                            'latency_ms': cost.latency_ms})
    return records


def _write_csv(path: Path, result: SweepResult) -> Path:
    return _write_records(path, CSV_COLUMNS, csv_rows(result))


def _write_records(path: Path, columns: tuple[str, ...], records: list[dict[str, Any]]) -> Path:
    with path.open('w', newline='') as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for record in records:
            writer.writerow({k: '' if v is None else v for k, v in record.items()})
    return path


# -- plots ----------------------------------------------------------------------------------
def _pyplot():
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(f'plotting a sweep needs matplotlib: pip install "san_plugin[plots]" ({error})') from error
    matplotlib.use('Agg', force=True)
    from matplotlib import pyplot
    return pyplot


def _log_axis(ax, ticks: list[float], integer: bool) -> None:
    from matplotlib.ticker import NullFormatter
    ax.set_xscale('log')
    ticks = sorted(set(ticks))
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(int(t)) if integer else f'{t:.3g}' for t in ticks], rotation=45 if len(ticks) > 8 else 0)
    ax.xaxis.set_minor_formatter(NullFormatter())


def _plain_log_labels(ax) -> None:
    from matplotlib.ticker import FuncFormatter
    ax.set_xscale('log')
    plain = FuncFormatter(lambda value, _: f'{value:g}')
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.tick_params(axis='x', which='minor', labelsize=7)


def _series(curve: dict[int, Accuracy]) -> tuple[list[int], list[float]]:
    xs = sorted(curve)
    return xs, [curve[t].top1 for t in xs]


def plot_accuracy(result: SweepResult, path: str | Path) -> Path:
    """Top-1 vs test resolution (log x): SAN rows solid, baselines dashed, proxy curve in black."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    try:
        for resolution in result.training_resolutions:
            ax.axvline(resolution, color='0.85', linewidth=0.8, zorder=0)
        for row in result.rows:
            xs, ys = _series(row.cells)
            ax.plot(xs, ys, label=row.label, **_STYLE[row.kind])
        proxy = result.proxy_curve()
        if proxy:
            xs, ys = _series(proxy)
            ax.plot(xs, ys, color='black', linewidth=2.5, marker='D', label='SAN proxy inference', zorder=5)
        _log_axis(ax, list(result.test_resolutions), integer=True)
        ax.set_xlabel('test resolution (px, log scale)')
        ax.set_ylabel('top-1 accuracy (%)')
        ax.set_title(result.title or 'Accuracy vs test resolution')
        ax.grid(True, which='major', alpha=0.3)
        ax.legend(fontsize='small', loc='center left', bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return Path(path)


def _cost_value(result: SweepResult, resolution: int, axis: str) -> float | None:
    cost = result.costs.get(resolution)
    if cost is None:
        return None
    return cost.latency_ms if axis == 'latency' else cost.gflops


def _tradeoff_axis(result: SweepResult, x_axis: str) -> str | None:
    costed = list(result.costs.values())
    has_latency = bool(costed) and all(c.latency_ms is not None for c in costed)
    has_gflops = any(c.gflops is not None for c in costed)
    if x_axis == 'auto':
        return 'latency' if has_latency else ('gflops' if has_gflops else None)
    available = any(c.latency_ms is not None for c in costed) if x_axis == 'latency' else has_gflops
    return x_axis if available else None


TTA_SERIES_SUFFIX = ', multi-resolution'


def tradeoff_series(result: SweepResult, x_axis: str) -> dict[str, list[tuple[float, float, int | str]]]:
    """``{series: [(cost, top1, resolution), ...]}``: the proxy curve, each ideal row, and the
    baselines, each at its own training resolution; then one series per curve with
    multi-resolution entries (named ``<curve>, multi-resolution``, labelled by their views, e.g.
    ``'64+48'``)."""
    series: dict[str, list[tuple[float, float, int | str]]] = {}

    def points(curve: dict[int, Accuracy]) -> list[tuple[float, float, int]]:
        found = [(_cost_value(result, t, x_axis), a.top1, t) for t, a in curve.items()]
        return sorted((c, a, t) for c, a, t in found if c is not None)

    if result.proxy_curve():
        series['SAN proxy inference'] = points(result.proxy_curve())
    for row in result.rows_of('ideal'):
        series[row.label] = points(row.cells)
    baselines = {row.resolution: row.cells[row.resolution] for row in result.rows_of('baseline')
                 if row.resolution in row.cells}
    if baselines:
        series['baselines (at their training resolution)'] = points(baselines)
    for entry in result.tta:
        cost = entry.cost.latency_ms if x_axis == 'latency' else entry.cost.gflops
        if cost is not None:
            series.setdefault(source_name(entry.source) + TTA_SERIES_SUFFIX, []).append(
                (cost, entry.accuracy.top1, entry.views))
    return {name: sorted(pts, key=lambda p: p[:2]) for name, pts in series.items() if pts}


def plot_tradeoff(result: SweepResult, path: str | Path, *, x_axis: str = 'auto') -> Path | None:
    """Top-1 vs latency or GFLOPs per test resolution (multi-resolution entries as stars);
    None (nothing written) without costs."""
    axis = _tradeoff_axis(result, x_axis)
    series = tradeoff_series(result, axis) if axis else {}
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
    try:
        for name, pts in series.items():
            dashed = name.startswith('baselines')
            xs, ys, _ = zip(*pts)
            if name.endswith(TTA_SERIES_SUFFIX):
                ax.plot(xs, ys, label=name, linestyle='none', marker='*', markersize=11)
            else:
                ax.plot(xs, ys, label=name, linestyle='--' if dashed else '-', marker='^' if dashed else 'o')
            for x, y, t in pts:
                ax.annotate(str(t), (x, y), textcoords='offset points', xytext=(4, 4), fontsize=7)
        _plain_log_labels(ax)
        ax.set_xlabel('latency (ms, log scale)' if axis == 'latency' else 'GFLOPs (log scale)')
        ax.set_ylabel('top-1 accuracy (%)')
        ax.set_title((result.title + ': ' if result.title else '') + 'accuracy vs cost')
        ax.grid(True, which='both', alpha=0.3)
        ax.legend(fontsize='small')
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return Path(path)

