"""A small, committed summary of every Imagenette training run, so reports regenerate from the repo.

    python benchmarks/imagenette/run_summary.py WORK_ROOT OUT_ROOT

reads every finished run under ``WORK_ROOT`` (``lr<X>/<model>/`` as ``run.py --lr X --work-dir
WORK_ROOT/lr<X>`` writes it: ``timing.json``, ``eval.json``, the run's config and mmengine's
``scalars.json``) and writes ``OUT_ROOT/lr<X>/<model>.json``: the model, learning rate, seed,
epochs, width, training wall time, the command, the run's config file (text), the mean of every
logged loss per epoch, whether the SAN's divergence warning fired (the line), the test top-1 per
test size of every BN row and the proxy row, and the meta-learner statistics when cached.

``lr_sweep.py --root OUT_ROOT`` reads these summaries as it reads work dirs, so a report
regenerates after the checkpoints are gone.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

SUMMARY_VERSION = 1
DIVERGENCE_MARK = 'SAN training is diverging'


def epoch_losses(run_dir: Path) -> dict[int, dict[str, float]]:
    """``{epoch: {loss name: mean over the epoch's logged iterations}}`` from the run's scalars.json files.

    A run resumed after a crash (``run.py`` runs again with ``--auto-resume``) logs into a new
    timestamped folder from the epoch it resumed; an epoch logged by several folders is taken from
    the newest (the epochs of an abandoned attempt are replaced by those of the run that finished).
    """
    per_epoch: dict[int, dict[str, list[float]]] = {}
    for path in sorted(run_dir.glob('*/vis_data/scalars.json')):  # oldest first: the newest wins
        logged: dict[int, dict[str, list[float]]] = {}
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if 'epoch' not in record:
                continue
            for key, value in record.items():
                if key.startswith('loss') or key == 'lr':
                    logged.setdefault(int(record['epoch']), {}).setdefault(key, []).append(float(value))
        per_epoch.update(logged)
    return {epoch: {k: statistics.fmean(v) for k, v in losses.items()} for epoch, losses in sorted(per_epoch.items())}


def divergence_line(run_dir: Path) -> str | None:
    """The divergence warning of the run's log, if it fired."""
    for log in sorted(run_dir.glob('*.log')) + sorted(run_dir.glob('*/*.log')):
        for line in log.read_text(errors='replace').splitlines():
            if DIVERGENCE_MARK in line:
                return line.strip()
    return None


def summarise_run(run_dir: Path, arch: str | None = None, code: str | None = None) -> dict:
    """The summary of one finished run (``timing.json`` and ``eval.json`` present); ``arch`` fills in
    a ``timing.json`` that lacks it (runs of older code), ``code`` says which code trained it."""
    timing = json.loads((run_dir / 'timing.json').read_text())
    timing['arch'] = timing.get('arch') or arch
    result = json.loads((run_dir / 'eval.json').read_text())
    configs = sorted(run_dir.glob('*_run_config.py'))
    meta = run_dir / 'meta_stats.json'
    return dict(
        version=SUMMARY_VERSION, model=run_dir.name,
        **{k: timing.get(k) for k in ('arch', 'lr', 'seed', 'epochs', 'batch_size', 'width', 'train_wall_s', 'started',
                                      'command')},
        code=code, config=configs[0].read_text() if configs else None,
        epoch_losses=epoch_losses(run_dir), divergence=divergence_line(run_dir),
        eval={k: result[k] for k in ('rows', 'proxy', 'train_resolutions', 'test_resolutions', 'num_images')
              if k in result},
        meta=json.loads(meta.read_text()) if meta.exists() else None)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('work_root', type=Path, help='the folder holding lr<X>/<model>/ work dirs')
    p.add_argument('out_root', type=Path, help='where lr<X>/<model>.json go')
    p.add_argument('--arch', help="the runs' architecture where timing.json does not say (older run.py)")
    p.add_argument('--code', help='which code trained the runs (a commit, a worktree), recorded in each summary')
    args = p.parse_args(argv)
    written = 0
    for run_dir in sorted(args.work_root.glob('lr*/*')):
        if (run_dir / 'timing.json').exists() and (run_dir / 'eval.json').exists():
            out = args.out_root / run_dir.parent.name / f'{run_dir.name}.json'
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(summarise_run(run_dir, args.arch, args.code), indent=1) + '\n')
            written += 1
    if not written:
        raise SystemExit(f'no finished run (timing.json + eval.json) under {args.work_root}/lr*/')
    print(f'{written} run summaries written under {args.out_root}')


if __name__ == '__main__':
    main()
