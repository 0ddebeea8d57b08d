"""Collects the GPU check's demo runs: top-1 per resolution side by side, NaN check, loss-scale history.

    python benchmarks/gpu/collect_demo.py --run fp32=WORK_DIR --run amp=WORK_DIR --run nccl=WORK_DIR \
        [--reference benchmarks/results/demo/sweep.json] --md OUT/demo_gpu.md --json OUT/demo_gpu.json

Each ``WORK_DIR`` is a ``tools/train.py`` work dir of ``benchmarks/gpu/demo_gpu.py``: its
newest ``*/vis_data/scalars.json`` gives the last validation (``accuracy/top1_<S>``) and
``loss_scale.json`` (``LossScaleRecorderHook``) the loss and loss scale of every iteration.
``--reference`` adds the committed CPU run of the demo (seed 0; the diagonal of its sweep:
each training resolution with its own branch), made with the demo config of its day. Exits 1 if a run has no validation
or a non-finite loss.
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys


def last_validation(work_dir: str) -> dict[str, float]:
    """The last line of the newest ``scalars.json`` that holds ``accuracy/top1_mean``."""
    files = sorted(glob.glob(os.path.join(work_dir, '*', 'vis_data', 'scalars.json')), key=os.path.getmtime)
    found: dict[str, float] = {}
    for path in files[-1:]:
        with open(path) as handle:
            for line in handle:
                entry = json.loads(line)
                if 'accuracy/top1_mean' in entry:
                    found = entry
    return found


def per_resolution(validation: dict[str, float]) -> dict[int, float]:
    """``{S: top-1}`` from ``accuracy/top1_<S>`` keys."""
    out = {}
    for key, value in validation.items():
        suffix = key.rsplit('_', 1)[-1]
        if key.startswith('accuracy/top1_') and suffix.isdigit():
            out[int(suffix)] = float(value)
    return dict(sorted(out.items(), reverse=True))


def scale_changes(scales: list[list[float]]) -> list[list[float]]:
    """``[iteration, scale]`` at the first iteration and wherever the scale changed."""
    return [entry for index, entry in enumerate(scales) if index == 0 or entry[1] != scales[index - 1][1]]


def collect_run(name: str, work_dir: str) -> dict:
    """Accuracy, losses and loss scale of one run."""
    run: dict = dict(name=name, work_dir=work_dir)
    validation = last_validation(work_dir)
    run['top1'] = {str(k): v for k, v in per_resolution(validation).items()}
    run['top1_mean'] = validation.get('accuracy/top1_mean')
    history_path = os.path.join(work_dir, 'loss_scale.json')
    if os.path.exists(history_path):
        with open(history_path) as handle:
            history = json.load(handle)
        losses = [loss for _, loss in history['losses']]
        run.update(wrapper=history['wrapper'], iterations=len(losses), non_finite_losses=history['non_finite_losses'],
                   first_loss=losses[0] if losses else None, last_loss=losses[-1] if losses else None,
                   scale_changes=scale_changes(history['scales']), scale_decreases=history['scale_decreases'])
    problems = []
    if not run['top1']:
        problems.append('no validation result')
    if run.get('non_finite_losses'):
        problems.append(f'non-finite loss at iterations {run["non_finite_losses"][:5]}')
    if 'iterations' not in run:
        problems.append('no loss_scale.json (LossScaleRecorderHook did not run)')
    run['problems'] = problems
    return run


def reference_diagonal(path: str) -> dict[str, float]:
    """``{S: top-1}`` of a committed sweep: each training resolution's own branch at that resolution."""
    with open(path) as handle:
        sweep = json.load(handle)
    out = {}
    for row in sweep['rows']:
        if row.get('kind') == 'san' and str(row.get('resolution')) in row['cells']:
            out[str(row['resolution'])] = row['cells'][str(row['resolution'])]['top1']
    return out


def _fmt(value) -> str:
    if value is None:
        return '-'
    return f'{value:.2f}' if isinstance(value, float) else str(value)


def render(runs: list[dict], reference: dict[str, float] | None, reference_path: str | None) -> str:
    """The markdown report."""
    resolutions = sorted({int(s) for run in runs for s in run['top1']} | {int(s) for s in (reference or {})},
                         reverse=True)
    names = [run['name'] for run in runs] + (['CPU fp32 (committed)'] if reference else [])
    lines = ['# Demo trained three ways: fp32, --amp, tools/dist_train.sh', '',
             'Top-1 (%) at each training resolution with its own BN branch (the last validation of each run).', '',
             '| resolution | ' + ' | '.join(names) + ' |', '|---|' + '---:|' * len(names)]
    for s in resolutions:
        cells = [_fmt(run['top1'].get(str(s))) for run in runs] + ([_fmt(reference.get(str(s)))] if reference else [])
        lines.append(f'| {s} | ' + ' | '.join(cells) + ' |')
    means = [_fmt(run['top1_mean']) for run in runs]
    if reference:
        means.append(_fmt(sum(reference.values()) / len(reference)))
    lines += ['| mean | ' + ' | '.join(means) + ' |', '',
              '| run | optim wrapper | iterations | first / last loss | non-finite losses | loss scale (iteration: scale at each change) | scale decreases |',
              '|---|---|---:|---|---|---|---:|']
    for run in runs:
        changes = ', '.join(f'{int(it)}: {scale:g}' for it, scale in run.get('scale_changes', [])) or 'no scaler'
        lines.append(f'| {run["name"]} | {run.get("wrapper", "-")} | {run.get("iterations", "-")} | '
                     f'{_fmt(run.get("first_loss"))} / {_fmt(run.get("last_loss"))} | '
                     f'{len(run.get("non_finite_losses", [])) if "iterations" in run else "-"} | {changes} | '
                     f'{len(run.get("scale_decreases", [])) if "iterations" in run else "-"} |')
    if reference_path:
        lines += ['', f'CPU fp32 (committed): the diagonal of `{reference_path}`, seed 0, trained on the CPU with the '
                      f'demo config as it was then (a later change of the config makes it a different recipe).']
    problems = [f'{run["name"]}: {p}' for run in runs for p in run['problems']]
    lines += ['', 'Problems: ' + ('; '.join(problems) if problems else 'none') + '.', '']
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--run', action='append', default=[], metavar='NAME=WORK_DIR', required=True)
    parser.add_argument('--reference', help='a committed sweep.json of the same config (CPU)')
    parser.add_argument('--md', required=True)
    parser.add_argument('--json', required=True)
    args = parser.parse_args(argv)
    runs = []
    for spec in args.run:
        name, sep, work_dir = spec.partition('=')
        if not sep:
            parser.error(f'--run takes NAME=WORK_DIR, got {spec!r}')
        runs.append(collect_run(name, work_dir))
    reference = reference_diagonal(args.reference) if args.reference and os.path.exists(args.reference) else None
    with open(args.md, 'w') as handle:
        handle.write(render(runs, reference, args.reference if reference else None))
    with open(args.json, 'w') as handle:
        json.dump(dict(runs=runs, reference=reference, reference_path=args.reference), handle, indent=1)
    print(open(args.md).read())
    bad = [run for run in runs if run['problems']]
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
