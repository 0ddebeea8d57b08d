"""The SAN recipes and the baselines at several learning rates, compared fairly.

    python benchmarks/imagenette/lr_sweep.py --root work_dirs/i18 [--out benchmarks/results/imagenette_lr_sweep]

Reads the work dirs that ``run.py --lr X --work-dir ROOT/lrX`` wrote (one per learning rate:
``ROOT/lr0.025``, ``ROOT/lr0.1``, ...; per model ``eval.json``, ``timing.json`` and the final
checkpoint) and writes a markdown + json report. ``--previous REPORT.json`` carries over, from an
earlier report of this script, the runs (model and rate) that ROOT does not hold, e.g. when the
work dirs of earlier runs are gone; the report names every run it carried over.

* every model's proxy row at every learning rate;
* same-rate comparisons: each SAN recipe's diagonal (the SAN at S against the baseline trained
  at S, both at that learning rate), and the worst case over the rates, which picks the default;
* best against best: every model at its own best learning rate of the sweep (a baseline by
  its accuracy at its training size, a SAN recipe by its mean over the five training sizes),
  the targets, and the SAN against the shared-convs + private-BN ablation;
* the meta-learner diagnostic (``san_plugin.diagnostics.meta_report``) of every SAN checkpoint:
  |eps(S_max) W| / |B| and the change of the generated kernels across the training range.

Choosing each model's rate on the validation set flatters every model alike; say so when quoting.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

from benchmarks.imagenette.common import TEST_RESOLUTIONS as TESTS
from benchmarks.imagenette.common import TRAIN_RESOLUTIONS as TRAIN
from benchmarks.imagenette.common import fmt, proxy_row
from benchmarks.markdown import markdown_table

REPO = Path(__file__).resolve().parents[2]
RECIPES = {
    'san': 'SAN, current default (paper loss, W = 0, eps = 0.1 S / 32)',
    'san_sharedlr': '(a) shared parameters at lr / 5',
    'san_wlr': '(b) W at lr / eps(48)^2, its decay x eps(48)^2',
    'san_sdnorm': '(c) distillation weight 2 / (k + 1)',
    'san_stdenc': '(d) standardized encoding (S - mean) / std',
    'san_sharedconv': 'ablation: shared convs + private BN',
    'san_mean': 'SAN, normalised loss (loss_form mean: CE and distillation averaged)',
}
CANDIDATES = ('san', 'san_sharedlr', 'san_wlr', 'san_sdnorm', 'san_stdenc')
DEFAULT_CHOICE_RATES = (0.025, 0.05, 0.1)  # the rates the default recipe was chosen over (its worst-case rule)
STANDARD_ERROR = 0.7  # one model's top-1 on 3,925 images at ~70 %: sqrt(0.7 * 0.3 / 3925) = 0.73 points


def load_runs(root: Path) -> dict[str, dict[float, dict]]:
    """``{model: {lr: {'proxy_row': ..., 'train_wall_s': ..., 'dir': Path}}}`` for every finished run.

    ``root/lr<X>/`` holds work dirs (``<model>/`` with ``eval.json`` and ``timing.json``) or the
    committed summaries ``run_summary.py`` writes (``<model>.json``).
    """
    runs: dict[str, dict[float, dict]] = {}
    for lr_dir in sorted(root.glob('lr*')):
        try:
            lr = float(lr_dir.name[2:])
        except ValueError:
            continue
        for summary in sorted(lr_dir.glob('*.json')):
            record = json.loads(summary.read_text())
            if 'eval' not in record:  # run.py's run_meta.json beside the work dirs
                continue
            runs.setdefault(summary.stem, {})[lr] = dict(
                proxy_row=proxy_row(record['eval']), train_wall_s=record.get('train_wall_s'), epochs=record['epochs'],
                meta=record.get('meta'), seed=record.get('seed', 0), summary=summary)
        for model_dir in sorted(p for p in lr_dir.iterdir() if p.is_dir()):
            result, timing = model_dir / 'eval.json', model_dir / 'timing.json'
            if result.exists() and timing.exists():
                timing = json.loads(timing.read_text())
                runs.setdefault(model_dir.name, {})[lr] = dict(
                    proxy_row=proxy_row(json.loads(result.read_text())), train_wall_s=timing.get('train_wall_s'),
                    epochs=timing['epochs'], seed=timing.get('seed', 0), dir=model_dir)
    return runs


def load_previous(report: Path) -> dict[str, dict[float, dict]]:
    """The runs recorded in an earlier report's json, in :func:`load_runs`' form (no work dir).

    Raises:
        SystemExit: the file is missing or is not a report of this script.
    """
    try:
        models = json.loads(report.read_text())['models']
    except (OSError, ValueError, KeyError) as error:
        raise SystemExit(f'--previous {report}: not a report written by lr_sweep.py ({error!r})') from None
    runs: dict[str, dict[float, dict]] = {}
    for name, per_lr in models.items():
        for lr, cell in per_lr.items():
            runs.setdefault(name, {})[float(lr)] = dict(
                proxy_row={int(t): v for t, v in cell['proxy_row'].items()},
                train_wall_s=cell.get('train_wall_s'), meta=cell.get('meta'), carried_from=str(report))
    return runs


def load_seed_rows(roots: list[Path]) -> dict[tuple[str, float], dict[int, dict[int, float]]]:
    """``{(model, lr): {seed: proxy row}}`` of every finished run under ``roots`` (each root
    as ``run.py --seed N --work-dir ROOT/lrX`` writes it; the seed from ``timing.json``)."""
    rows: dict = {}
    for root in roots:
        for name, per_lr in load_runs(Path(root)).items():
            for lr, run in per_lr.items():
                rows.setdefault((name, lr), {})[int(run['seed'])] = run['proxy_row']
    return rows


def load_previous_seeds(spec: str) -> dict[tuple[str, float], dict[int, dict[int, float]]]:
    """The per-seed rows of a ``report.py --seeds`` json, given as ``REPORT.json@LR`` (the rate its
    seeds ran at): ``{(model, lr): {seed: row}}``.

    Raises:
        SystemExit: the spec or the file is not one.
    """
    path, _, lr = spec.rpartition('@')
    try:
        seeds = json.loads(Path(path).read_text())['summary']['seeds']
        lr = float(lr)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SystemExit(f'--previous-seeds {spec}: want REPORT.json@LR of a report.py --seeds report ({error!r})') from None
    rows: dict = {}
    for model, cells in seeds['cells'].items():
        order = [r['seed'] for r in seeds['runs'] if r['model'] == model]
        for test, cell in cells.items():
            for seed, value in zip(order, cell['values']):
                rows.setdefault((model, lr), {}).setdefault(int(seed), {})[int(test)] = value
    return rows


def seeds_at_best(best: dict, seed_rows: dict) -> dict:
    """The SAN against the 64- and 32-px baselines over seeds, each model at its best rate: per size
    the seeds' top-1, mean and sample sd, the gain, the spread of the difference
    (sqrt(sd_san^2 + sd_base^2)) and whether the gain stands (exceeds twice the spread)."""
    out = {}
    if 'san' not in best:
        return out
    for s in (TRAIN[0], TRAIN[-1]):
        base = f'baseline_{s}'
        if base not in best:
            continue
        cells = {}
        for model, lr in (('san', best['san']['lr']), (base, best[base]['lr'])):
            values = {seed: row[s] for seed, row in sorted(seed_rows.get((model, lr), {}).items()) if s in row}
            cells[model] = dict(lr=lr, values=values, mean=mean(values.values()),
                                sd=statistics.stdev(values.values()) if len(values) > 1 else None)
        if all(c['sd'] is not None for c in cells.values()):
            gain = cells['san']['mean'] - cells[base]['mean']
            spread = math.sqrt(cells['san']['sd'] ** 2 + cells[base]['sd'] ** 2)
            out[s] = dict(cells=cells, gain=gain, spread=spread, stands=gain > 2 * spread)
    return out


def merge_runs(runs: dict, previous: dict) -> dict:
    """``runs`` plus every (model, rate) of ``previous`` that ``runs`` lacks."""
    merged = {name: dict(per_lr) for name, per_lr in runs.items()}
    for name, per_lr in previous.items():
        for lr, run in per_lr.items():
            merged.setdefault(name, {}).setdefault(lr, run)
    return merged


def baseline_diagonal(runs: dict, lr: float) -> dict[int, float]:
    """The baseline trained at S, tested at S, for every S trained at ``lr``."""
    out = {}
    for s in TRAIN:
        run = runs.get(f'baseline_{s}', {}).get(lr)
        if run:
            out[s] = run['proxy_row'][s]
    return out


def gains(diagonal: dict[int, float], base: dict[int, float]) -> dict[int, float]:
    return {s: diagonal[s] - base[s] for s in TRAIN if s in diagonal and s in base}


def mean(values) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def best_rate(per_lr: dict[float, dict], score) -> tuple[float, float] | None:
    """``(lr, score)`` of the rate with the highest score (ties: the smaller rate)."""
    scored = [(score(run), -lr, lr) for lr, run in per_lr.items()]
    scored = [s for s in scored if s[0] is not None]
    if not scored:
        return None
    value, _, lr = max(scored)
    return lr, value


def bracket(per_lr: dict[float, dict], score) -> dict | None:
    """Whether the best rate has a rate tried on each side of it, both worse.

    Returns ``dict(lr, score, below, above, bracketed, plateau)``: ``below``/``above`` are the
    nearest rates tried on each side with their scores (None at an edge); ``plateau`` when a
    neighbour is within one standard error of the best (a flat optimum: more rates would not
    resolve it). None when no run has a score.
    """
    found = best_rate(per_lr, score)
    if found is None:
        return None
    best_lr, best_score = found
    scored = {lr: score(run) for lr, run in per_lr.items() if score(run) is not None}
    lower = [lr for lr in scored if lr < best_lr]
    higher = [lr for lr in scored if lr > best_lr]
    below = (max(lower), scored[max(lower)]) if lower else None
    above = (min(higher), scored[min(higher)]) if higher else None
    sides = [side for side in (below, above) if side is not None]
    return dict(lr=best_lr, score=best_score, below=below, above=above,
                bracketed=len(sides) == 2 and all(value < best_score for _, value in sides),
                plateau=any(best_score - value <= STANDARD_ERROR for _, value in sides))


def bracket_status(entry: dict) -> str:
    """One phrase: bracketed, or which rate to try next."""
    if entry['bracketed']:
        return 'bracketed' + (' (a neighbour within one standard error: a plateau)' if entry['plateau'] else '')
    if entry['below'] is None and entry['above'] is None:
        return 'NOT bracketed: one rate tried'
    if entry['above'] is None:
        return f"NOT bracketed: best at the highest rate tried (try {2 * entry['lr']:g})"
    if entry['below'] is None:
        return f"NOT bracketed: best at the lowest rate tried (try {entry['lr'] / 2:g})"
    return 'NOT bracketed'


def meta_stats(run: dict) -> dict | None:
    """Median |eps W| / |B| and kernel change of a SAN checkpoint (cached in the run dir)."""
    if 'dir' not in run:  # carried over from an earlier report
        return run.get('meta')
    cache = run['dir'] / 'meta_stats.json'
    if cache.exists():
        return json.loads(cache.read_text())
    checkpoint = run['dir'] / f"epoch_{run['epochs']}.pth"
    config = run['dir'] / f"{run['dir'].name}_run_config.py"
    if not (checkpoint.exists() and config.exists()):
        return None
    from mmengine.config import Config
    from san_plugin.core import find_controller
    from san_plugin.diagnostics.meta_report import meta_learner_stats, summarize
    from san_plugin.mm.model_from_config import build_model
    model = build_model(Config.fromfile(str(config)), str(checkpoint))
    if find_controller(model) is None or find_controller(model).convs != 'meta':
        return None
    summary = summarize(meta_learner_stats(model))
    cache.write_text(json.dumps(summary, indent=2))
    return summary


def summarise(runs: dict, diagnostics: bool = True, seed_rows: dict | None = None) -> dict:
    rates = sorted({lr for per_lr in runs.values() for lr in per_lr})
    out: dict = {'rates': rates, 'models': {}}
    for name, per_lr in runs.items():
        entry = out['models'][name] = {}
        for lr, run in sorted(per_lr.items()):
            row = run['proxy_row']
            cell: dict = dict(proxy_row=row, train_wall_s=run['train_wall_s'])
            if 'carried_from' in run:
                cell['carried_from'] = run['carried_from']
            if name in RECIPES:
                diagonal = {s: row[s] for s in TRAIN if s in row}
                same_rate = gains(diagonal, baseline_diagonal(runs, lr))
                cell.update(diagonal=diagonal, mean_diagonal=mean(diagonal.values()),
                            same_rate_gain=same_rate, mean_same_rate_gain=mean(same_rate.values()) if len(same_rate) == 5 else None)
                if diagnostics:
                    cell['meta'] = meta_stats(run)
            entry[lr] = cell
    # the default: the candidate whose worst same-rate mean gain over the rates is the highest
    # (over the training sizes that have a baseline at every rate the candidate was run at)
    worst, worst_sizes = {}, {}
    for name in CANDIDATES:
        cells = [c for lr, c in out['models'].get(name, {}).items() if lr in DEFAULT_CHOICE_RATES]
        sizes = set(TRAIN).intersection(*(c['same_rate_gain'] for c in cells)) if len(cells) >= 2 else set()
        if sizes:
            worst[name] = min(mean(c['same_rate_gain'][s] for s in sizes) for c in cells)
            worst_sizes[name] = sorted(sizes, reverse=True)
    out['worst_case_same_rate_gain'] = worst
    out['worst_case_sizes'] = worst_sizes
    out['chosen'] = max(worst, key=worst.get) if worst else None
    # best against best
    best = {}
    for s in TRAIN:
        found = bracket(runs.get(f'baseline_{s}', {}), lambda run, s=s: run['proxy_row'].get(s))
        if found:
            best[f'baseline_{s}'] = dict(lr=found['lr'], top1=found['score'], rates_tried=sorted(runs[f'baseline_{s}']),
                                         bracket=found)
    for name in RECIPES:
        found = bracket(runs.get(name, {}), lambda run: mean(run['proxy_row'].get(s) for s in TRAIN))
        if found:
            row = runs[name][found['lr']]['proxy_row']
            diag = {s: row[s] for s in TRAIN}
            base = {s: best[f'baseline_{s}']['top1'] for s in TRAIN if f'baseline_{s}' in best}
            g = gains(diag, base)
            unbracketed = ([name] if not found['bracketed'] else []) + [
                f'baseline_{s}' for s in TRAIN if f'baseline_{s}' in best and not best[f'baseline_{s}']['bracket']['bracketed']]
            best[name] = dict(lr=found['lr'], diagonal=diag, gain=g, mean_gain=mean(g.values()) if len(g) == 5 else None,
                              rates_tried=sorted(runs[name]), bracket=found,
                              best_against_best=not unbracketed and len(base) == 5, unbracketed=unbracketed)
    out['best_vs_best'] = best
    rows = {(name, lr): {0: run['proxy_row']} for name, per_lr in runs.items() for lr, run in per_lr.items()}
    for key, per_seed in (seed_rows or {}).items():
        for seed, row in per_seed.items():
            rows.setdefault(key, {}).setdefault(seed, row)  # a sweep run (seed 0) wins over a carried one
    out['seeds'] = seeds_at_best(best, rows)
    return out


def _rates(entry: dict) -> str:
    return '/'.join(f'{lr:g}' for lr in entry['rates_tried'])


def carried_note(models: dict) -> list[str]:
    """A paragraph naming the runs carried over from an earlier report (none: no lines)."""
    carried: dict[str, dict[str, list[float]]] = {}
    for name, per_lr in models.items():
        for lr, cell in sorted(per_lr.items()):
            if 'carried_from' in cell:
                carried.setdefault(cell['carried_from'], {}).setdefault(name, []).append(lr)
    return [f'Carried over from `{source}` (a report of this script; these runs\' work dirs are not committed, '
            'so their numbers and meta statistics are the ones recorded there): '
            + '; '.join(f"{name} at {'/'.join(f'{lr:g}' for lr in rates)}" for name, rates in sorted(by_model.items()))
            + '.\n' for source, by_model in sorted(carried.items())]


ARCHS = {  # run.py --arch: the title and the architecture part of the protocol
    'resnet18': ('ResNet-18', 'ResNet-18 width x0.5, weight decay 1e-4'),
    'mobilenetv2': ('MobileNetV2', "mmpretrain's MobileNetV2 width x0.5, weight decay 4e-5 (the paper's)"),
}


def _proxy_rows(models: dict) -> list[str]:
    order = [*CANDIDATES, 'san_sharedconv', *[f'baseline_{s}' for s in TRAIN]]
    rows = []
    for name in order + sorted(set(models) - set(order)):
        for lr, cell in sorted(models.get(name, {}).items()):
            wall = cell.get('train_wall_s')
            rows.append([name, f'{lr:g}', *(fmt(cell['proxy_row'].get(t), 1) for t in TESTS),
                         '-' if wall is None else f'{wall / 60:.0f} min'])
    return ['## Proxy rows (each test size with its nearest training resolution; a baseline: its only row)', '',
            *markdown_table(['model', 'lr', *TESTS, 'train wall'], rows)]


def _same_rate(summary: dict) -> list[str]:
    models = summary['models']
    rows = [[name, f'{lr:g}', *(fmt(cell['same_rate_gain'].get(s), sign=True) for s in TRAIN),
             fmt(cell['mean_same_rate_gain'], sign=True)]
            for name in RECIPES for lr, cell in sorted(models.get(name, {}).items())]
    lines = ['', '## Same learning rate: SAN recipe at S minus the baseline trained at S (both at that rate)', '',
             *markdown_table(['recipe', 'lr', *TRAIN, 'mean gain'], rows)]
    worst = summary['worst_case_same_rate_gain']
    if worst:
        lines += ['', 'The criterion for the default recipe: the worst case over the rates '
                  f"{'/'.join(f'{r:g}' for r in DEFAULT_CHOICE_RATES)} of the mean same-rate gain "
                  '(the mean over the sizes with a baseline at every rate): '
                  + ', '.join(f"{n}: {fmt(v, sign=True)} (sizes {'/'.join(map(str, summary['worst_case_sizes'][n]))})"
                              for n, v in sorted(worst.items(), key=lambda kv: -kv[1]))
                  + f". Highest: **{summary['chosen']}**."]
    return lines


def _brackets(best: dict) -> list[str]:
    side = (lambda x: '-' if x is None else f'{x[0]:g}: {x[1]:.2f}')  # noqa: E731
    rows = [[name, f"{b['lr']:g}", f"{b['score']:.2f}", side(b['below']), side(b['above']), bracket_status(b)]
            for name in [*(f'baseline_{s}' for s in TRAIN), *RECIPES] if name in best
            for b in [best[name]['bracket']]]
    return ['', '## Is every optimum bracketed?', '',
            'A best rate counts when a rate was tried on each side of it and both did worse (a baseline scored by '
            'its top-1 at its training size, a SAN recipe by its mean over the training sizes). Where one is not, '
            'the comparisons below are of the best rates tried, not best against best.', '',
            *markdown_table(['model', 'best lr', 'its score', 'next lower rate', 'next higher rate', 'status'], rows)]


def _targets_met(c: dict) -> str:
    label = 'best against best' if c['best_against_best'] else 'best rates tried, NOT best against best'
    return (f"({label}): SAN >= baseline at every training size: "
            f"{'met' if all(v >= 0 for v in c['gain'].values()) else 'NOT met'}; mean diagonal gain >= +1.0: ")


def _best_against_best(summary: dict) -> list[str]:
    best = summary['best_vs_best']
    recipes = [n for n in RECIPES if n in best]
    every = all(best[n]['best_against_best'] for n in recipes)
    rows = []
    for s in TRAIN:
        b = best.get(f'baseline_{s}')
        rows.append([s, f"{fmt(b['top1'])} (lr {b['lr']:g} of {_rates(b)})" if b else '-',
                     *(f"{fmt(best[n]['diagonal'][s])} ({fmt(best[n]['gain'].get(s), sign=True)})" for n in recipes)])
    rows.append(['mean gain', '', *(fmt(best[n]['mean_gain'], sign=True) for n in recipes)])
    lines = ['', '## Best against best: every model at its own best rate of the sweep' if every else
             '## Every model at its best rate tried (best against best only where the line below the table '
             'says so)', '',
             'A baseline\'s rate is chosen by its top-1 at its training size, a SAN recipe\'s by its mean over the '
             'five training sizes (both on the validation set).', '',
             'Rates tried are listed after "of": a model tried at one rate only has no choice made for it.', '',
             *markdown_table(['S', 'baseline (best lr)',
                              *(f'{n} (lr {best[n]["lr"]:g} of {_rates(best[n])})' for n in recipes)], rows),
             '', 'Best against best? ' + '; '.join(
                 f"{n}: yes" if best[n]['best_against_best'] else
                 f"{n}: **no** (not bracketed: {', '.join(best[n]['unbracketed']) or 'a baseline size missing'})"
                 for n in recipes) + '.']
    for n in ('san', 'san_mean'):
        if n in best and best[n]['mean_gain'] is not None:
            c = best[n]
            lines += ['', f"Targets for `{n}` " + _targets_met(c)
                      + f"{'met' if c['mean_gain'] >= 1.0 else 'NOT met'} ({fmt(c['mean_gain'], sign=True)})."]
    chosen = summary['chosen']
    if chosen and chosen in best and 'san_sharedconv' in best:
        c, sc = best[chosen], best['san_sharedconv']
        ahead = {s: c['diagonal'][s] - sc['diagonal'][s] for s in TRAIN}
        lines += ['', f"Targets for the default recipe `{chosen}` " + _targets_met(c)
                  + f"{'met' if (c['mean_gain'] or -9) >= 1.0 else 'NOT met'} ({fmt(c['mean_gain'], sign=True)}); "
                  f"above shared convs + private BN by more than the noise (2 x {STANDARD_ERROR} = "
                  f"{2 * STANDARD_ERROR:.1f} per size) on the trained sizes: "
                  f"{'met' if all(v > 2 * STANDARD_ERROR for v in ahead.values()) else 'NOT met'} ("
                  + ', '.join(f'{s}: {fmt(v, sign=True)}' for s, v in ahead.items())
                  + f"; mean {fmt(mean(ahead.values()), sign=True)})."]
    return lines


def _seeds(seeds: dict) -> list[str]:
    rows = []
    for s, g in sorted(seeds.items(), key=lambda kv: -int(kv[0])):
        text = [f"lr {c['lr']:g}, " + ' / '.join(f'{v:.2f}' for v in c['values'].values())
                + f" (seeds {'/'.join(map(str, c['values']))}): {c['mean']:.2f} ± {c['sd']:.2f}"
                for c in g['cells'].values()]
        rows.append([s, *text, f"{g['gain']:+.2f}", f"{g['spread']:.2f}", '**yes**' if g['stands'] else 'no'])
    return ['', '## Seeds at the best rates', '',
            'The SAN (its best rate) against the baseline trained at S (its best rate), top-1 (%) at S per seed, mean '
            '± sample standard deviation. A gain stands where it exceeds twice the spread of the difference '
            '(sqrt(sd_SAN^2 + sd_baseline^2)).', '',
            *markdown_table(['S', 'SAN (lr, seeds: top-1)', 'baseline (lr, seeds: top-1)', 'gain', 'spread', 'stands'],
                            rows)]


def _meta_learners(models: dict) -> list[str]:
    rows = []
    for name in CANDIDATES:
        for lr, cell in sorted(models.get(name, {}).items()):
            m = cell.get('meta') or {}
            w, k = m.get('w_over_b') or {}, m.get('kernel_change') or {}
            rows.append([name, f'{lr:g}', fmt(w.get('median'), 4), fmt(k.get('median'), 4)])
    return ['', '## Do the meta learners work? (median over the 20 generated convs)', '',
            '`w_over_b` = |eps(S_max) W| / |B|; `kernel_change` = |k(64) - k(32)| / |k(64)|. The paper reports W and B '
            '"of the same order of magnitude" at ImageNet\'s eps = 0.3..0.7.', '',
            *markdown_table(['recipe', 'lr', 'w_over_b', 'kernel_change'], rows)]


def markdown(summary: dict, root: Path, arch: str = 'resnet18', notes: Path | None = None) -> str:
    title, protocol = ARCHS[arch]
    lines = [f'# {title} on Imagenette: SAN recipes and baselines over learning rates', '',
             f'Runs: `{root}` (one `run.py --lr X` work dir per rate). Protocol of every run: {protocol}, '
             '15 epochs, batch 64, SGD momentum 0.9, 1 warm-up epoch then cosine, seed 0, '
             'training sizes 64/56/48/40/32, top-1 (%) on the 3,925 Imagenette val images. Learning rates are per '
             'batch of 64 (the paper\'s per-sample rate is 0.025). One seed per run: a model\'s top-1 has a standard '
             f'error of about {STANDARD_ERROR} point.', '', *carried_note(summary['models'])]
    lines += _proxy_rows(summary['models']) + _same_rate(summary) + _brackets(summary['best_vs_best'])
    lines += _best_against_best(summary)
    if summary.get('seeds'):
        lines += _seeds(summary['seeds'])
    lines += _meta_learners(summary['models'])
    if notes is not None and notes.exists():
        lines += ['', notes.read_text().strip()]
    return '\n'.join(lines) + '\n'


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--root', default='work_dirs/i18', help='the folder holding lr<X>/ work dirs')
    p.add_argument('--out', default='benchmarks/results/imagenette_lr_sweep')
    p.add_argument('--previous', type=Path,
                   help="an earlier report's .json: its runs that ROOT lacks are carried over (named in the report)")
    p.add_argument('--no-diagnostics', action='store_true', help='skip loading checkpoints for the meta statistics')
    p.add_argument('--seed-roots', nargs='+', type=Path, default=[],
                   help='roots of seed runs (run.py --seed N --work-dir ROOT/lrX), for the seeds section')
    p.add_argument('--previous-seeds', nargs='+', default=[], metavar='REPORT.json@LR',
                   help="per-seed rows carried from a report.py --seeds report whose seeds ran at LR")
    p.add_argument('--arch', choices=sorted(ARCHS), default='resnet18', help="the runs' architecture (run.py --arch)")
    p.add_argument('--notes', type=Path, default=Path(__file__).resolve().parent / 'lr_sweep_notes.md',
                   help='analysis appended to the report (default: the ResNet-18 notes)')
    args = p.parse_args(argv)
    root = Path(args.root)
    runs = load_runs(root)
    if args.previous is not None:
        runs = merge_runs(runs, load_previous(args.previous))
    if not runs:
        raise SystemExit(f'no finished run (eval.json + timing.json) under {root}/lr*/')
    seed_rows = load_seed_rows(args.seed_roots)
    for spec in args.previous_seeds:
        for key, per_seed in load_previous_seeds(spec).items():
            for seed, row in per_seed.items():
                seed_rows.setdefault(key, {}).setdefault(seed, row)
    summary = summarise(runs, diagnostics=not args.no_diagnostics, seed_rows=seed_rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.md').write_text(markdown(summary, root, args.arch, args.notes))
    out.with_suffix('.json').write_text(json.dumps(summary, indent=2, default=str))
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")


if __name__ == '__main__':
    main()
