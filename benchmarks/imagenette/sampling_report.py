"""A SAN trained on a sample of its resolutions against one trained on all of them (Imagenette, ResNet-18).

    python benchmarks/imagenette/sampling_report.py --root benchmarks/results/runs/resnet18 \\
        --previous benchmarks/results/imagenette_lr_sweep.json \\
        --equal-compute benchmarks/results/runs/resnet18_equal_compute \\
        --cost benchmarks/results/imagenette_sampling_cost.json --out benchmarks/results/imagenette_sampling

reads committed run summaries (``run_summary.py``; ``--previous`` carries the 'all' SAN's runs at the
rates the summaries lack from the learning-rate sweep's report) and the cost benchmark's json, and
writes a markdown + json report:

- the cost of a step (GFLOPs and CPU time, measured in one run) and of each whole run
  (step GFLOPs x steps), relative to ``'all'`` for 15 epochs;
- (a) the same epochs: every variant at its own best learning rate (by the mean top-1 over the five
  training sizes; whether that best is bracketed), its top-1 at every test size and the difference
  from ``'all'`` at its best rate;
- (b) the same training compute: the sandwich trained for more epochs (``--equal-compute``: runs of
  the same recipe with ``run.py --epochs N``), against ``'all'`` at its best rate;
- the targets: at >= 35 % less training compute, the mean over the five sizes within 0.5 point of
  ``'all'`` and no size more than 1 point below; or, at equal compute, ahead of ``'all'``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.imagenette.common import TEST_RESOLUTIONS, TRAIN_RESOLUTIONS, fmt
from benchmarks.imagenette.lr_sweep import bracket, bracket_status, load_previous, load_runs, mean, merge_runs
from benchmarks.markdown import markdown_table
from benchmarks.results_json import jsonable

VARIANTS = {'san': 'all', 'san_sandwich1': 'sandwich1', 'san_sandwich2': 'sandwich2'}
"""run.py's model name -> the cost benchmark's row of the same sampling."""
LABELS = {'san': "'all' (every resolution, every step)", 'san_sandwich1': "'sandwich', 1 random",
          'san_sandwich2': "'sandwich', 2 random"}
REFERENCE_EPOCHS = 15
SAVING_TARGET, MEAN_TOLERANCE, SIZE_TOLERANCE = 0.35, 0.5, 1.0


def diagonal_mean(run: dict) -> float | None:
    row = run['proxy_row']
    return mean(row[s] for s in TRAIN_RESOLUTIONS) if all(s in row for s in TRAIN_RESOLUTIONS) else None


def run_gflops(cost: dict, model: str, epochs: int) -> float | None:
    """Training GFLOPs of a whole run: expected step GFLOPs x steps (one image batch per step)."""
    row = cost['rows'].get(VARIANTS[model]) if cost else None
    return None if row is None else row['step_gflops'] * cost['steps_per_epoch'] * epochs


def summarise(runs: dict, equal_compute: dict, cost: dict | None) -> dict:
    out: dict = {'variants': {}, 'equal_compute': {}, 'cost': cost}
    reference_gflops = run_gflops(cost, 'san', REFERENCE_EPOCHS)
    for model in VARIANTS:
        per_lr = {lr: run for lr, run in runs.get(model, {}).items() if run.get('epochs', REFERENCE_EPOCHS) == REFERENCE_EPOCHS}
        found = bracket(per_lr, diagonal_mean)
        if found is None:
            continue
        out['variants'][model] = dict(
            lr=found['lr'], mean=found['score'], bracket=found, status=bracket_status(found),
            rates={lr: diagonal_mean(run) for lr, run in sorted(per_lr.items())},
            row=per_lr[found['lr']]['proxy_row'], epochs=REFERENCE_EPOCHS,
            compute=None if reference_gflops is None else run_gflops(cost, model, REFERENCE_EPOCHS) / reference_gflops)
    for model, per_lr in equal_compute.items():
        for lr, run in sorted(per_lr.items()):
            epochs = run['epochs']
            out['equal_compute'].setdefault(model, {})[lr] = dict(
                mean=diagonal_mean(run), row=run['proxy_row'], epochs=epochs,
                compute=None if reference_gflops is None else run_gflops(cost, model, epochs) / reference_gflops)
    reference = out['variants'].get('san')
    if reference:
        for entry in [*out['variants'].values(), *(c for m in out['equal_compute'].values() for c in m.values())]:
            entry['gain'] = {s: entry['row'][s] - reference['row'][s] for s in TEST_RESOLUTIONS
                             if s in entry['row'] and s in reference['row']}
            entry['mean_gain'] = None if entry['mean'] is None else entry['mean'] - reference['mean']
            entry['targets'] = targets(entry)
    return out


def targets(entry: dict) -> dict:
    """The issue's two ways to succeed, each True/False (None where a figure is missing)."""
    gains = [entry['gain'].get(s) for s in TRAIN_RESOLUTIONS]
    compute = entry.get('compute')
    if compute is None or entry['mean_gain'] is None or None in gains:
        return dict(less_compute=None, equal_compute=None)
    return dict(
        less_compute=compute <= 1 - SAVING_TARGET and entry['mean_gain'] >= -MEAN_TOLERANCE
        and min(gains) >= -SIZE_TOLERANCE,
        equal_compute=compute <= 1.0 + 1e-9 and entry['mean_gain'] > 0)


def _row_cells(row: dict, sizes) -> list[str]:
    return [fmt(row.get(s)) for s in sizes]


def markdown(summary: dict, command: str) -> str:
    lines = ['# A SAN trained on a sample of its resolutions (Imagenette, ResNet-18)', '',
             "Half-width ResNet-18 SANs of the learning-rate sweep's protocol (64..32 px, batch 64, seed 0, every view "
             "resized from the crop), trained with `sampling` 'all' or 'sandwich' (the largest and the smallest size "
             "every step, 1 or 2 of 56/48/40 drawn per iteration); top-1 (%) on the 3,925 validation images, proxy "
             "inference. Each variant is at its own best learning rate of those tried (by the mean over the five "
             "training sizes).", '']
    cost = summary['cost']
    if cost:
        lines += ['## Cost', '', f"Measured in one run (`sampling_cost.py`, batch {cost['batch_size']}, "
                  f"{cost['threads']} thread): expected GFLOPs of a training step (forward + backward) and its CPU time, "
                  "both relative to 'all'.", '']
        lines += markdown_table(['sampling', 'step GFLOPs', 'vs all', 'step CPU time (s)', 'vs all'],
                                [[name, fmt(r['step_gflops'], 2), fmt(r['ratio_gflops'], 3), fmt(r['step_cpu_s'], 3),
                                  fmt(r['ratio_cpu_s'], 3)] for name, r in cost['rows'].items()])
        lines.append('')
    variants = summary['variants']
    if variants:
        lines += ['## (a) The same number of epochs (15)', '']
        lines += markdown_table(['variant', 'rates tried: mean top-1', 'best rate', 'bracketed?', 'training compute vs all'],
                                [[LABELS[m], ', '.join(f'{lr:g}: {fmt(v)}' for lr, v in e['rates'].items()), f"{e['lr']:g}",
                                  e['status'], fmt(e['compute'], 3)] for m, e in variants.items()])
        lines += ['', 'Top-1 at every test size, each variant at its best rate (the gain over \'all\' below each):', '']
        header = ['variant', *map(str, TEST_RESOLUTIONS), 'mean of 64..32']
        rows = []
        for model, entry in variants.items():
            rows.append([LABELS[model], *_row_cells(entry['row'], TEST_RESOLUTIONS), fmt(entry['mean'])])
            if model != 'san' and 'gain' in entry:
                rows.append(['  vs all', *(fmt(entry['gain'].get(s), sign=True) for s in TEST_RESOLUTIONS),
                             fmt(entry['mean_gain'], sign=True)])
        lines += markdown_table(header, rows)
        lines.append('')
    if summary['equal_compute']:
        lines += ['## (b) The same training compute', '',
                  "The sandwich trained for as many more epochs as fit in what 'all' spends in 15 (step GFLOPs x steps).",
                  '']
        rows = []
        for model, per_lr in summary['equal_compute'].items():
            for lr, entry in per_lr.items():
                rows.append([LABELS[model], str(entry['epochs']), f'{lr:g}', fmt(entry['compute'], 3),
                             *_row_cells(entry['row'], TRAIN_RESOLUTIONS), fmt(entry['mean']),
                             fmt(entry.get('mean_gain'), sign=True)])
        lines += markdown_table(['variant', 'epochs', 'lr', 'compute vs all', *map(str, TRAIN_RESOLUTIONS), 'mean',
                                 'vs all'], rows)
        lines.append('')
    lines += ['## Targets', '', f"At >= {SAVING_TARGET:.0%} less training compute: mean top-1 over the five sizes within "
              f"{MEAN_TOLERANCE} point of 'all' and no size more than {SIZE_TOLERANCE:g} point below; or, at equal "
              "compute, ahead of 'all'.", '']
    verdicts = []
    for model, entry in variants.items():
        if model != 'san' and 'targets' in entry:
            verdicts.append(_verdict(LABELS[model], entry, '15 epochs'))
    for model, per_lr in summary['equal_compute'].items():
        for lr, entry in per_lr.items():
            verdicts.append(_verdict(LABELS[model], entry, f"{entry['epochs']} epochs, lr {lr:g}"))
    lines += verdicts or ['No sampled run yet.']
    lines += ['', '```', command, '```', '']
    return '\n'.join(lines)


def _verdict(label: str, entry: dict, what: str) -> str:
    t = entry['targets']
    gains = [entry['gain'].get(s) for s in TRAIN_RESOLUTIONS]
    worst = min((g for g in gains if g is not None), default=None)
    return (f"- {label}, {what}: compute {fmt(entry.get('compute'), 3)} of 'all', mean {fmt(entry['mean_gain'], sign=True)}"
            f", worst size {fmt(worst, sign=True)}; less-compute target "
            f"{_word(t['less_compute'])}, equal-compute target {_word(t['equal_compute'])}.")


def _word(value: bool | None) -> str:
    return 'not measured' if value is None else ('met' if value else 'missed')


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--root', type=Path, required=True, help='run summaries (or work dirs) as lr<X>/<model>')
    p.add_argument('--previous', type=Path, help="lr_sweep.py's report: the 'all' SAN at rates the root lacks")
    p.add_argument('--equal-compute', type=Path, help='summaries of the sandwich trained for more epochs')
    p.add_argument('--cost', type=Path, help="sampling_cost.py's json")
    p.add_argument('--out', default='benchmarks/results/imagenette_sampling', help='results prefix (.md, .json)')
    args = p.parse_args(argv)
    runs = load_runs(args.root)
    if args.previous:
        runs = merge_runs(runs, {k: v for k, v in load_previous(args.previous).items() if k == 'san'})
    equal = load_runs(args.equal_compute) if args.equal_compute else {}
    cost = json.loads(args.cost.read_text()) if args.cost else None
    summary = summarise(runs, equal, cost)
    command = 'python benchmarks/imagenette/sampling_report.py ' + ' '.join(
        argv if argv is not None else __import__('sys').argv[1:])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(jsonable(summary), indent=1) + '\n')
    out.with_suffix('.md').write_text(markdown(summary, command.strip()))
    print(out.with_suffix('.md').read_text())



if __name__ == '__main__':
    main()
