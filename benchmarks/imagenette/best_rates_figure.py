"""The figure of the current comparison: each model at its own best learning rate, top-1 against test size.

    python benchmarks/imagenette/best_rates_figure.py [--sweep benchmarks/results/imagenette_lr_sweep.json] \\
        [--out benchmarks/results/imagenette_resnet18_best_rates.png]

Reads the learning-rate sweep's json alone (``lr_sweep.py`` writes it; nothing is trained or
evaluated): the SAN, the shared-convs + private-BN ablation and each baseline at the rate its
``best_vs_best`` entry names, and draws each one's proxy row (a baseline: its only row) over every
test size. A model whose best rate is not bracketed says so in its label.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.imagenette.common import TRAIN_RESOLUTIONS
from benchmarks.imagenette.figures import finish_and_save
from benchmarks.results_json import read_results

REPO = Path(__file__).resolve().parents[2]
SWEEP = REPO / 'benchmarks' / 'results' / 'imagenette_lr_sweep.json'
FIGURE = REPO / 'benchmarks' / 'results' / 'imagenette_resnet18_best_rates.png'
DRAWN = ('san', 'san_sharedconv', *(f'baseline_{s}' for s in TRAIN_RESOLUTIONS))
"""The models of the figure: the SAN, the ablation and the five baselines."""


def best_rate_rows(sweep: dict, models=DRAWN) -> dict[str, dict]:
    """Each model's proxy row at its best rate of the sweep.

    Args:
        sweep: ``lr_sweep.py``'s json, read with :func:`benchmarks.results_json.read_results`.
        models: the names wanted; one the sweep has no best rate for is left out.

    Returns:
        ``{name: dict(lr=..., bracketed=..., row={T: top-1})}`` in the order of ``models``.

    Raises:
        SystemExit: the sweep names a best rate whose row it does not hold (naming model and rate).

    Example:
        >>> best_rate_rows(read_results(SWEEP, 'lr_sweep.py'))['baseline_32']['lr']
        0.2
    """
    out = {}
    for name in models:
        best = sweep['best_vs_best'].get(name)
        if best is None:
            continue
        cells = {float(lr): cell for lr, cell in sweep['models'].get(name, {}).items()}
        if best['lr'] not in cells:
            raise SystemExit(f"the sweep's best rate of {name}, {best['lr']:g}, has no row in its models")
        out[name] = dict(lr=best['lr'], bracketed=best['bracket']['bracketed'], row=cells[best['lr']]['proxy_row'])
    return out


def label(name: str, entry: dict) -> str:
    """A model's legend entry: what it is and the rate it is drawn at."""
    what = {'san': 'SAN (one model)', 'san_sharedconv': 'shared convs + private BN (ablation)'}.get(name)
    what = what or f"baseline trained at {name.rsplit('_', 1)[1]} px"
    return f"{what}, lr {entry['lr']:g}" + ('' if entry['bracketed'] else ' (best tried, not bracketed)')


def draw(rows: dict[str, dict], path: Path, title: str) -> Path:
    """The figure of :func:`best_rate_rows`' rows, written to ``path``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 6))
    baselines = [name for name in rows if name.startswith('baseline_')]
    styles = {'san': dict(color='tab:red', lw=2.2, marker='s', ms=4),
              'san_sharedconv': dict(color='tab:green', lw=1.4, ls=':', marker='v', ms=3)}
    for i, name in enumerate(baselines):
        styles[name] = dict(color=plt.cm.Greys(0.35 + 0.13 * i), lw=1, marker='o', ms=3)
    for name in [*baselines, *(n for n in rows if n not in baselines)]:
        tests = sorted(rows[name]['row'], reverse=True)
        ax.plot(tests, [rows[name]['row'][t] for t in tests], label=label(name, rows[name]), **styles[name])
    for s in TRAIN_RESOLUTIONS:
        ax.axvline(s, color='0.9', lw=0.8, zorder=0)
    ax.set_xlabel('test resolution (px)')
    ax.set_ylabel('top-1 (%) on Imagenette val')
    ax.set_title(title, fontsize=10)
    return finish_and_save(fig, ax, path)


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--sweep', type=Path, default=SWEEP, help="lr_sweep.py's json")
    p.add_argument('--out', type=Path, default=FIGURE)
    args = p.parse_args(argv)
    rows = best_rate_rows(read_results(args.sweep, 'lr_sweep.py', required=('models', 'best_vs_best')))
    path = draw(rows, args.out, 'ResNet-18 (width x0.5, 15 epochs) on Imagenette: each model at its own best rate')
    print(f'wrote {path}')
    return path


if __name__ == '__main__':
    main()
