"""The same models trained with several seeds: mean and spread per cell, and whether a gain stands.

Each seed is one ``run.py --seed N --work-dir DIR`` work dir. ``report.py --seeds DIR ...`` adds
the section this module writes to the report of the main work dir (seed 0):

    python benchmarks/imagenette/run.py --data-root ../shared/data/imagenette --seed 1 \\
        --work-dir work_dirs/imagenette_seed1 --models san,baseline_64,baseline_32 --steps train,eval
    python benchmarks/imagenette/report.py --work-dir work_dirs/imagenette \\
        --seeds work_dirs/imagenette_seed1 work_dirs/imagenette_seed2

A gain "stands" where the SAN's mean minus the baseline's mean exceeds twice the spread of that
difference: the two models are trained independently, so the spread of the difference is
sqrt(sd_san^2 + sd_baseline^2), each sd the sample standard deviation over the seeds.
"""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from benchmarks.imagenette.common import fmt_minutes, proxy_row
from benchmarks.markdown import markdown_table
from benchmarks.portable_paths import portable

MODELS = ('san', 'baseline_64', 'baseline_32')


def proxy_cells(work_dir: Path, model: str) -> dict[int, float] | None:
    """Top-1 per test size of one model of one seed (``common.proxy_row``); None if not evaluated."""
    path = Path(work_dir) / model / 'eval.json'
    return proxy_row(json.loads(path.read_text())) if path.exists() else None


def seed_statistics(work_dirs: list[Path], models=MODELS) -> dict:
    """``{'seeds': [...], 'cells': {model: {T: {mean, sd, values}}}, 'gains': {S: {...}}}``; a model
    counts only where every work dir holds it."""
    cells: dict = {}
    for model in models:
        per_seed = [proxy_cells(d, model) for d in work_dirs]
        if any(p is None for p in per_seed):
            continue
        tests = sorted(set.intersection(*(set(p) for p in per_seed)), reverse=True)
        cells[model] = {t: _stats([p[t] for p in per_seed]) for t in tests}
    gains = {}
    for model in models:
        if not model.startswith('baseline_') or model not in cells or 'san' not in cells:
            continue
        s = int(model.rsplit('_', 1)[1])
        if s in cells['san'] and s in cells[model]:
            san, base = cells['san'][s], cells[model][s]
            spread = math.sqrt(san['sd'] ** 2 + base['sd'] ** 2)
            gain = san['mean'] - base['mean']
            gains[s] = dict(gain=gain, spread=spread, stands=gain > 2 * spread)
    return dict(seeds=[str(d) for d in work_dirs], cells=cells, gains=gains, runs=seed_runs(work_dirs, models))


def seed_runs(work_dirs: list[Path], models=MODELS) -> list[dict]:
    """What each seed's training was (``timing.json`` written by ``run.py``): model, seed, epochs,
    width, learning rate, wall time and command; a model without a record is left out."""
    runs = []
    for work_dir in work_dirs:
        for model in models:
            path = Path(work_dir) / model / 'timing.json'
            if path.exists():
                t = json.loads(path.read_text())
                runs.append({k: t.get(k) for k in ('model', 'seed', 'epochs', 'width', 'lr', 'train_wall_s', 'command')})
    return runs


def _stats(values: list[float]) -> dict:
    return dict(mean=statistics.fmean(values), sd=statistics.stdev(values) if len(values) > 1 else 0.0,
                values=values)


def seed_section(stats: dict) -> list[str]:
    """The report's markdown section."""
    n = len(stats['seeds'])
    lines = ['## Seeds', '', f'{n} seeds (work dirs: ' + ', '.join(f'`{portable(s)}`' for s in stats['seeds'])
             + '); mean ± sample standard deviation of top-1 (%) per cell, the SAN\'s proxy row.', '']
    tests = sorted({t for cells in stats['cells'].values() for t in cells}, reverse=True)
    lines += markdown_table(['model', *tests], [
        [model, *(f"{cells[t]['mean']:.2f} ± {cells[t]['sd']:.2f}" if t in cells else '-' for t in tests)]
        for model, cells in stats['cells'].items()])
    if stats['gains']:
        lines += ['', *markdown_table(
            ['S', 'SAN - baseline trained at S', 'spread of the difference', 'stands (gain > 2 x spread)'],
            [[s, f"{g['gain']:+.2f}", f"{g['spread']:.2f}", 'yes' if g['stands'] else 'no']
             for s, g in sorted(stats['gains'].items(), reverse=True)])]
    if stats.get('runs'):
        lines += ['', 'The runs (training wall time; runs shared the machine, so times compare loosely):', '',
                  *markdown_table(['model', 'seed', 'epochs', 'width', 'lr', 'train wall'],
                                  [[*(r[k] for k in ('model', 'seed', 'epochs', 'width', 'lr')),
                                    fmt_minutes(r['train_wall_s'])] for r in stats['runs']])]
        lines += ['', '```', *(portable(r['command']) for r in stats['runs'] if r['command']), '```']
    return lines
