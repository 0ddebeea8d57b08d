"""A SAN fine-tuned from a trained 64-px model against the SAN trained from scratch.

    python benchmarks/imagenette/finetune_report.py --finetune WORK_LR1/san_finetune [WORK_LR2/san_finetune ...] \\
        --scratch WORK/san --baseline WORK/baseline_64 [--out benchmarks/results/imagenette_resnet18_finetune]
    python benchmarks/imagenette/finetune_report.py --from benchmarks/results/imagenette_resnet18_finetune.json \\
        [--notes NOTES.md]

Each argument is a model folder that ``run.py`` wrote (``eval.json``, ``timing.json``); several
``--finetune`` folders are the fine-tune at several learning rates. The report gives the proxy rows,
each fine-tuned SAN minus the from-scratch SAN at each training size, the target (the best
fine-tune by its mean over the five training sizes: >= 0 at all five, at most 1/3 of the SAN's
epochs), and the training compute: the SAN's epochs and wall time, the baseline's own training
counted separately. ``--from REPORT.json`` writes the markdown again from the report's json (no
run folder read): after an edit of the notes or of this script's text.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.imagenette.common import TEST_RESOLUTIONS as TESTS
from benchmarks.imagenette.common import TRAIN_RESOLUTIONS as TRAIN
from benchmarks.imagenette.common import fmt, proxy_row
from benchmarks.markdown import markdown_table
from benchmarks.portable_paths import portable
from benchmarks.results_json import read_results


def load_run(folder: Path) -> dict:
    """``eval.json`` and ``timing.json`` of one finished ``run.py`` model folder."""
    missing = [name for name in ('eval.json', 'timing.json') if not (folder / name).exists()]
    if missing:
        raise SystemExit(f'{folder}: no {" or ".join(missing)} (is the run finished and evaluated?)')
    return dict(eval=json.loads((folder / 'eval.json').read_text()),
                timing=json.loads((folder / 'timing.json').read_text()), dir=str(folder))


def summarise(finetunes: list[dict], scratch: dict, baseline: dict) -> dict:
    runs = {f'finetune_{i}': run for i, run in enumerate(finetunes)}
    runs.update(scratch=scratch, baseline_64=baseline)
    rows = {name: proxy_row(run['eval']) for name, run in runs.items()}
    cost = {name: dict(epochs=run['timing']['epochs'], lr=run['timing'].get('lr'),
                       train_wall_s=run['timing'].get('train_wall_s'), command=run['timing'].get('command'))
            for name, run in runs.items()}
    gains = {name: {s: rows[name][s] - rows['scratch'][s] for s in TRAIN} for name in runs if name.startswith('finetune')}
    best = max(gains, key=lambda name: sum(rows[name][s] for s in TRAIN))
    epoch_ratio = cost[best]['epochs'] / cost['scratch']['epochs']
    return dict(rows=rows, cost=cost, gain_over_scratch=gains, best=best,
                mean_gain={name: sum(g.values()) / len(g) for name, g in gains.items()},
                target_met=all(v >= 0 for v in gains[best].values()) and epoch_ratio <= 1 / 3 + 1e-9,
                san_epoch_ratio=epoch_ratio)


def _label(name: str, cost: dict) -> str:
    if name.startswith('finetune'):
        return f"SAN fine-tuned from the 64-px baseline, lr {cost[name]['lr']:g}"
    return {'scratch': 'SAN from scratch', 'baseline_64': 'baseline trained at 64 (the starting point)'}[name]


def markdown(summary: dict) -> str:
    rows, cost, gains, best = summary['rows'], summary['cost'], summary['gain_over_scratch'], summary['best']
    proxy = []
    for name in rows:
        c, wall = cost[name], cost[name]['train_wall_s']
        proxy.append([_label(name, cost), f"{c['lr']:g}", c['epochs'], *(fmt(rows[name].get(t), 1) for t in TESTS),
                      '-' if wall is None else f'{wall / 60:.0f} min'])
    lines = ['# Imagenette ResNet-18: a SAN from a trained model', '',
             'Top-1 (%) on the 3,925 val images, proxy inference (each test size with its nearest training size).', '',
             *markdown_table(['model', 'lr', 'epochs', *TESTS, 'train wall'], proxy), '',
             *markdown_table(['fine-tuned minus from scratch', *TRAIN, 'mean'],
                             [[f'lr {cost[name]["lr"]:g}', *(fmt(g[s], sign=True) for s in TRAIN),
                               fmt(summary['mean_gain'][name], sign=True)] for name, g in gains.items()])]
    lines += ['', f"SAN training compute: {cost[best]['epochs']} epochs against {cost['scratch']['epochs']} "
              f"({summary['san_epoch_ratio']:.2f} of the from-scratch SAN's; each SAN epoch runs the same five "
              f"resolutions), plus the baseline's own {cost['baseline_64']['epochs']} epochs at 64 px, counted "
              f"separately. Target for the best fine-tune (lr {cost[best]['lr']:g}, by its mean over the training "
              'sizes): >= the from-scratch SAN at all five training sizes with at most 1/3 of its compute: '
              f"**{'met' if summary['target_met'] else 'not met'}**.", '', 'Training commands (from `timing.json`):', '']
    lines += [f"- {_label(name, cost)}: `{portable(cost[name]['command'])}`" for name in rows]
    return '\n'.join(lines) + '\n'


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--finetune', type=Path, nargs='+', help="run.py's san_finetune folder(s), e.g. one per learning rate")
    p.add_argument('--scratch', type=Path, help="run.py's san folder (from scratch)")
    p.add_argument('--baseline', type=Path, help="run.py's baseline_64 folder (the starting point)")
    p.add_argument('--from', dest='from_json', type=Path, metavar='REPORT.json',
                   help="write the markdown again from this report's json instead of the three folders")
    p.add_argument('--out', default='benchmarks/results/imagenette_resnet18_finetune')
    p.add_argument('--notes', type=Path, default=None, help='markdown appended to the report')
    args = p.parse_args(argv)
    if args.from_json is not None:
        summary = read_results(args.from_json, 'finetune_report.py', required=('rows', 'cost', 'gain_over_scratch'))
    elif args.finetune and args.scratch and args.baseline:
        summary = summarise([load_run(f) for f in args.finetune], load_run(args.scratch), load_run(args.baseline))
    else:
        p.error('give --finetune, --scratch and --baseline (the run folders), or --from REPORT.json')
    text = markdown(summary)
    if args.notes:
        text += '\n' + args.notes.read_text().strip() + '\n'
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.md').write_text(text)
    if args.from_json is None:
        out.with_suffix('.json').write_text(json.dumps(summary, indent=2))
    print(f"wrote {out.with_suffix('.md')}" + ('' if args.from_json else f" and {out.with_suffix('.json')}"))


if __name__ == '__main__':
    main()
