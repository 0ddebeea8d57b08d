"""The README's results section, written from the committed results files alone.

    python benchmarks/readme_results.py           # rewrite the block between the markers in README.md
    python benchmarks/readme_results.py --check   # exit 1 and print a diff when README.md differs

Reads only ``benchmarks/results/*.json`` (nothing is trained, evaluated or measured) and writes the
block between ``BEGIN`` and ``END`` in README.md. Each part of the section is one small function of
the results folder (``SECTIONS``, in order) that returns its markdown lines, or none when its file
is absent. Some sections are reserved for results still to come (``RESERVED``): until their function
summarises them, each only links the reports of the files it finds, under its title, so no committed
result goes unmentioned and none is guessed at. To summarise one, replace the ``_reserved`` call in
its function with lines built from its json, as the other sections do.
The figure the block shows is drawn by ``benchmarks/imagenette/best_rates_figure.py`` from the
same sweep file.
"""
from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Callable

from benchmarks.imagenette import cascade_targets
from benchmarks.imagenette.best_rates_figure import FIGURE, best_rate_rows
from benchmarks.imagenette.common import TRAIN_RESOLUTIONS
from benchmarks.imagenette.lr_sweep import STANDARD_ERROR
from benchmarks.markdown import markdown_table
from benchmarks.results_json import read_results

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / 'benchmarks' / 'results'
README = REPO / 'README.md'
BEGIN = ('<!-- results:begin (written by `python benchmarks/readme_results.py` from benchmarks/results/*.json: '
         'edit that script, not this block) -->')
END = '<!-- results:end -->'
SWEEPS = {'ResNet-18': ('imagenette_lr_sweep.json', 'runs/resnet18'),
          'MobileNetV2': ('imagenette_mobilenetv2_lr_sweep.json', 'runs/mobilenetv2')}
"""Each architecture's bracketed learning-rate sweep (``lr_sweep.py``'s json) and the folder of its
committed run summaries (``run_summary.py``), in the order of the table."""
RESERVED = {
    'five_seeds': ('imagenette_seeds*.json', 'The SAN and the baselines over five seeds'),
    'gpu_cost': ('perf_cuda*.json', 'Cost on a GPU'),
}
"""Section -> (the results files it is reserved for, its title); none is summarised yet."""


def _sweeps(results: Path) -> dict[str, dict]:
    return {arch: read_results(results / name, 'lr_sweep.py', required=('models', 'best_vs_best', 'seeds'))
            for arch, (name, _) in SWEEPS.items() if (results / name).exists()}


def _san_runs(results: Path) -> dict[str, list[dict]]:
    """Each architecture's committed SAN run summaries (the default recipe, every rate and seed)."""
    return {arch: [read_results(path, 'run_summary.py', required=('lr', 'epochs', 'width'))
                   for path in sorted((results / runs).glob('lr*/san.json'))]
            for arch, (_, runs) in SWEEPS.items()}


def _signed(value: float) -> str:
    return f'{value:+.2f}'


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def _one(values, what: str):
    values = set(values)
    if len(values) != 1:
        raise SystemExit(f'the committed SAN runs differ in {what} ({sorted(values)}): say which in the README')
    return values.pop()


def introduction(results: Path) -> list[str]:
    """What was measured where (the machine, the protocol of the runs), and where the terms and the rest are."""
    runs = [run for per_arch in _san_runs(results).values() for run in per_arch]
    if not runs:
        return []
    perf = results / 'perf_cpu.json'
    machine = read_results(perf, 'benchmarks/perf.py', required=('machine',))['machine'] if perf.exists() else None
    where = (f"this project's {machine['cores']}-core CPU machine" + ('' if machine['cuda'] else ' (no GPU)')
             if machine else "this project's machine")
    images = _one((run['eval']['num_images'] for run in runs), 'their validation images')
    sizes = _one((tuple(run['eval']['train_resolutions']) for run in runs), 'their training sizes')
    return [f"Measured on {where}, at reduced scale: Imagenette (10 classes), networks at width "
            f"x{_one((run['width'] for run in runs), 'width'):g}, {_one((run['epochs'] for run in runs), 'epochs')} "
            f'epochs, training sizes {max(sizes)} to {min(sizes)} px, top-1 (%) on its {images:,} validation images, '
            'one seed unless said. Terms: [glossary](docs/glossary.md); every comparison with the command that '
            'reproduces it: [docs/results.md](docs/results.md).', '']


def _architecture_rows(arch: str, sweep: dict) -> list[list[str]]:
    best = sweep['best_vs_best']
    san = best['san']
    baselines = [best[f'baseline_{s}'] for s in TRAIN_RESOLUTIONS]
    name = arch if san['best_against_best'] else f"{arch} (not bracketed: {', '.join(san['unbracketed'])})"
    return [[name, f"one SAN ({san['lr']:g})", *(f'{san["diagonal"][s]:.2f}' for s in TRAIN_RESOLUTIONS),
             f"{_mean(san['diagonal'].values()):.2f}"],
            ['', 'a baseline trained at each size', *(f"{b['top1']:.2f} ({b['lr']:g})" for b in baselines),
             f"{_mean(b['top1'] for b in baselines):.2f}"],
            ['', 'SAN - baseline', *(_signed(san['gain'][s]) for s in TRAIN_RESOLUTIONS),
             f"**{_signed(san['mean_gain'])}**"]]


def _seeds_sentence(arch: str, seeds: dict) -> str:
    parts = [f"{_signed(g['gain'])} ({g['spread']:.2f}) at {s} px, " + ('**stands**' if g['stands'] else 'does not stand')
             for s, g in sorted(seeds.items(), reverse=True)]
    runs = sorted({seed for g in seeds.values() for cell in g['cells'].values() for seed in cell['values']})
    return f"{arch} over seeds {'/'.join(map(str, runs))}: " + '; '.join(parts)


def best_against_best(results: Path) -> list[str]:
    """The question asked first: one SAN against a model trained at each size, each at its best rate, with
    the seeds' spread."""
    sweeps = _sweeps(results)
    if not sweeps:
        return []
    rows = [row for arch, sweep in sweeps.items() for row in _architecture_rows(arch, sweep)]
    every = all(sweep['best_vs_best']['san']['best_against_best'] for sweep in sweeps.values())
    rate = ('[bracketed](docs/glossary.md#bracketed) best learning rate ([best against best](docs/glossary.md#best-against-best)' if every else
            'best learning rate tried (best against best only where the table says so')
    lines = [f'**Does one SAN match a model trained at each size?** Each model at its own {rate}; the rate in '
             'brackets, chosen on the validation set), seed 0:', '',
             *markdown_table(['architecture', 'model (learning rate)', *(f'{s} px' for s in TRAIN_RESOLUTIONS),
                              'mean'], rows), '']
    seeds = [_seeds_sentence(arch, sweep['seeds']) for arch, sweep in sweeps.items() if sweep['seeds']]
    if seeds:
        lines += ['The gain over seeds, each model at its best rate, with the spread of the difference in brackets '
                  '(a gain [stands](docs/glossary.md#stands-over-seeds) when it exceeds twice its spread): '
                  + '. '.join(seeds) + '.', '']
    return lines + _divergence(results, sweeps) + _figure(sweeps)


def _divergence(results: Path, sweeps: dict[str, dict]) -> list[str]:
    """The SAN runs (default recipe, seed 0) whose training diverged, and which baselines train best at that rate."""
    found = []
    for arch, runs in _san_runs(results).items():
        for run in runs:
            if run.get('divergence') and run['seed'] == 0 and arch in sweeps:
                best = sweeps[arch]['best_vs_best']
                there = [s for s in TRAIN_RESOLUTIONS if best.get(f'baseline_{s}', {}).get('lr') == run['lr']]
                found.append(f"the {arch} SAN diverged at lr {run['lr']:g}"
                             + (f" (the best rate of the {'/'.join(map(str, there))}-px baseline"
                                f"{'s' if len(there) > 1 else ''})" if there else ''))
    if not found:
        return []
    text = '; '.join(found)
    return [text[0].upper() + text[1:] + ': [when a SAN diverges](docs/training.md#when-a-san-diverges).', '']


def _figure(sweeps: dict[str, dict]) -> list[str]:
    if 'ResNet-18' not in sweeps:
        return []
    rows = best_rate_rows(sweeps['ResNet-18'])
    san, baselines = rows['san'], [r for name, r in rows.items() if name.startswith('baseline_')]
    tests = sorted(san['row'], reverse=True)
    above = sum(san['row'][t] > max(b['row'][t] for b in baselines) for t in tests)
    rates = ', '.join(f"{name.rsplit('_', 1)[1]} px at {r['lr']:g}" for name, r in rows.items()
                      if name.startswith('baseline_'))
    return [f'![ResNet-18 on Imagenette: one SAN and a baseline per size, each at its best rate]'
            f'({FIGURE.relative_to(REPO)})', '',
            f"*ResNet-18: the SAN (red, lr {san['lr']:g}) and the baseline trained at each size (grey; {rates}), "
            f'top-1 at every test size from {min(tests)} to {max(tests)} px; dotted green: shared convolutions + '
            f"private BN (lr {rows['san_sharedconv']['lr']:g}). The SAN is above every baseline at {above} of the "
            f'{len(tests)} test sizes. Full tables: '
            '[imagenette_lr_sweep.md](benchmarks/results/imagenette_lr_sweep.md).*', '']


def five_seeds(results: Path) -> list[str]:
    """Reserved: the SAN and the baselines over five seeds."""
    return _reserved(results, 'five_seeds')


def meta_learners(results: Path) -> list[str]:
    """The ablation: shared convolutions + private BN, the same training without the meta learners."""
    sweeps = _sweeps(results)
    with_ablation = {arch: s for arch, s in sweeps.items() if 'san_sharedconv' in s['best_vs_best']}
    if not with_ablation:
        return []
    parts = []
    for arch, sweep in with_ablation.items():
        san, shared = sweep['best_vs_best']['san'], sweep['best_vs_best']['san_sharedconv']
        lead = {s: san['diagonal'][s] - shared['diagonal'][s] for s in TRAIN_RESOLUTIONS}
        noise = 2 * STANDARD_ERROR
        verdict = ('within the noise' if all(v <= noise for v in lead.values()) else
                   'beyond the noise at ' + ', '.join(f'{s} px' for s, v in lead.items() if v > noise))
        parts.append((verdict == 'within the noise', f"{arch}, at its best rate {shared['lr']:g}: "
                      f"{_signed(shared['mean_gain'])} over the baselines against the SAN's "
                      f"{_signed(san['mean_gain'])}; the SAN leads it by {_signed(min(lead.values()))} to "
                      f"{_signed(max(lead.values()))} per training size (mean {_signed(_mean(lead.values()))}), "
                      f"{verdict} ({noise:.1f} points, twice one run's standard error)"))
    missing = [arch for arch in sweeps if arch not in with_ablation]
    answer = 'Not shown' if all(within for within, _ in parts) else 'In part'
    return [f'**Do the meta learners help?** {answer}. Shared convolutions + private BN (the same training '
            'without meta learners): ' + '; '.join(text for _, text in parts) + '.'
            + (f" Not run on {' or '.join(missing)}." if missing else ''), '']


def off_grid_inference(results: Path) -> list[str]:
    """Test sizes off the training grid (the paper's Table 2 on Imagenette): the dips of proxy inference,
    what BN calibration at the test size recovers, and the rule that follows."""
    path = results / 'imagenette_table2_resnet18.json'
    if not path.exists():
        return []
    r = read_results(path, 'benchmarks/imagenette/table2.py', required=('summary', 'calibration'))
    per_size, groups = r['summary']['per_size'], r['summary']['groups']
    off = [t for t in r['tests'] if t not in r['train_resolutions']]
    worst = min(off, key=lambda t: r['summary']['dips'].get(t, {}).get('proxy', 0.0))

    def cell(t: int) -> str:
        row = per_size[t]
        return f"{t} px {row['proxy']:.2f} -> {row['calibrated']:.2f}"

    gaps = [-v for group in groups.values() for t, v in group['proxy_minus_calibrated'].items() if t in off]
    ahead = sum(per_size[t]['calibrated'] > per_size[t]['envelope'] for t in off)
    wall = [s for row in r['calibration']['wall_s'].values() for s in row.values()]
    seed = r['san']['run_info'].get('seed')
    return [f"**Sizes off the training grid** (one ResNet-18 SAN, seed {seed}; the paper's Table 2 on Imagenette, "
            '[report](benchmarks/results/imagenette_table2_resnet18.md)): proxy inference, what the tables above use, '
            f"dips at the sizes off the grid (worst at {worst} px: {per_size[worst]['proxy']:.2f} %, "
            f"{-r['summary']['dips'][worst]['proxy']:.1f} points below its neighbours' mean), and the baselines "
            'dip at the same sizes. Other test crops at those sizes do not change it, and the same crops resized to a '
            'neighbouring training size score several points higher: the cause is the network at those feature-map '
            "sizes, whose BN statistics the nearest training branch does not fit. "
            f"BN calibrated at the test size on {r['calibration']['num_images']} training images (ideal inference) "
            f"recovers most of it ({', '.join(cell(t) for t in off)}), ahead of the baselines' envelope at "
            f"{ahead} of {len(off)} of these sizes. Proxy inference lies {min(gaps):.1f}-{max(gaps):.1f} points "
            'below calibrated ideal inference at these sizes (the paper, at ImageNet sizes: within 0.2). At an off-grid size, '
            f"calibrate its branch first ({min(wall):.0f}-{max(wall):.0f} s per size and branch on the CPU here; "
            '[how](docs/results.md#imagenette-ideal-and-proxy-inference-the-papers-table-2)).', '']


def cost(results: Path) -> list[str]:
    """Training step, memory and latency ratios on the CPU; whether a GPU figure exists."""
    lines = []
    path = results / 'perf_cpu.json'
    if path.exists():
        perf = read_results(path, 'benchmarks/perf.py', required=('results',))['results']
        step = [row['ratio'] for row in perf['training']]
        memory = [row['ratio'] for row in perf['memory']]
        baked = [b['baked_ratio'] for row in perf['latency'] for b in row['batches'].values()]
        s = perf['settings']
        lines = [f"**Cost** on the CPU ({s.get('threads', 1)} thread; timm {', '.join(s['models'])} at "
                 f"{max(s['resolutions'])} to {min(s['resolutions'])} px): a SAN training step takes "
                 f'{min(step):.3f} to {max(step):.3f}x the time of shared convolutions + private BN and '
                 f'{min(memory):.2f} to {max(memory):.2f}x the peak memory of a plain step; the model baked for one '
                 f'size runs at {min(baked):.3f} to {max(baked):.3f}x the original\'s latency. '
                 '[results.md](docs/results.md#performance-on-the-cpu-make-bench)']
    gpu = gpu_cost(results)
    return (lines + [gpu[0]] + ['']) if lines or gpu else []


def gpu_cost(results: Path) -> list[str]:
    """Reserved: the GPU figures (``benchmarks/gpu/check.sh``); until they exist, the README says so."""
    return _reserved(results, 'gpu_cost') or [
        '**No GPU figure exists yet**: `benchmarks/gpu/check.sh` is prepared and dry-run on the CPU only '
        '([results.md](docs/results.md#performance-on-a-gpu-benchmarksgpuchecksh)).']


def resolution_sampling(results: Path) -> list[str]:
    """Training on a sample of the resolutions at each step: the measured step cost and, once the runs
    exist (``imagenette_sampling.json``), each sampled SAN against 'all' at its best rate."""
    path = results / 'imagenette_sampling_cost.json'
    if not path.exists():
        return []
    cost = read_results(path, 'benchmarks/imagenette/sampling_cost.py', required=('rows',))['rows']
    one, two = cost['sandwich1'], cost['sandwich2']
    lines = ['**Training on a sample of the resolutions** '
             '([how](docs/training.md#training-on-a-sample-of-the-resolutions)): a step that runs 64 and 32 px and one '
             f"of the three sizes between (the sandwich rule) costs {one['ratio_gflops']:.3f}x the GFLOPs and "
             f"{one['ratio_cpu_s']:.3f}x the CPU time of a step over all five; with two of them "
             f"{two['ratio_gflops']:.3f}x and {two['ratio_cpu_s']:.3f}x (ResNet-18 SAN, "
             '[imagenette_sampling_cost.md](benchmarks/results/imagenette_sampling_cost.md)).']
    report = results / 'imagenette_sampling.json'
    if not report.exists():
        return lines + ['Its accuracy is not measured yet.', '']
    summary = read_results(report, 'benchmarks/imagenette/sampling_report.py', required=('variants',))
    variants = summary['variants']
    for name, label in (('san_sandwich1', 'one random size'), ('san_sandwich2', 'two random sizes')):
        entry = variants.get(name)
        if entry is None or 'mean_gain' not in entry:
            continue
        worst = min(entry['gain'][str(s)] for s in TRAIN_RESOLUTIONS)
        lines.append(f"With {label}, 15 epochs, {_sampled_rate(entry, variants['san']['lr'])} against 'all' at its "
                     f"best rate {variants['san']['lr']:g}: mean top-1 over the five training sizes "
                     f"{_signed(entry['mean_gain'])}, worst size {_signed(worst)}, at {entry['compute']:.2f}x the "
                     'training compute.')
    for name, per_lr in summary.get('equal_compute', {}).items():
        for lr, entry in per_lr.items():
            lines.append(f"Trained {entry['epochs']} epochs ({entry['compute']:.2f}x the compute of 'all'), lr {lr}: "
                         f"mean {_signed(entry['mean_gain'])}.")
    return lines + ['[imagenette_sampling.md](benchmarks/results/imagenette_sampling.md)', '']


def _sampled_rate(entry: dict, reference_lr: float) -> str:
    """Which rate a sampled SAN's row is at, and what the comparison is worth."""
    lr = entry['lr']
    if entry['bracket']['bracketed']:
        return f'at its best rate {lr:g} (bracketed)'
    if len(entry.get('rates', {})) == 1:
        same = ", the same rate: a same-setting comparison" if lr == reference_lr else ''
        return f'at {lr:g}, the only rate run so far (not its bracketed best{same})'
    return f'at {lr:g}, the best of the rates tried (not bracketed)'


def per_image_resolution(results: Path) -> list[str]:
    """The confidence cascade over one SAN: its headline and whether its targets were met."""
    path = results / 'imagenette_cascade.json'
    if not path.exists():
        return []
    r = read_results(path, 'benchmarks/imagenette/cascade.py', required=('targets', 'single_size', 'gflops'))
    top, mid = r['targets']['reference_size'], r['targets']['budget_size']
    equal, budget = r['targets']['at_equal_top1'], r['targets']['at_budget']
    met = [cascade_targets.at_equal_top1_met(r), cascade_targets.at_budget_met(r)]
    verdict = {(True, True): 'Both of its targets are met', (False, False): 'Neither of its targets is met'}.get(
        tuple(met), f"Of its targets, {'the first' if met[0] else 'the second'} is met")
    timing = r.get('timing')
    return [f'**Per-image resolution** (a confidence cascade over one ResNet-18 SAN, thresholds cross-fitted): as '
            f"accurate as its {top}-px size ({equal['top1']:.2f} %; {top} px: {equal['reference_top1']:.2f} %) at "
            f'{100 * cascade_targets.saving(r):.1f} % fewer GFLOPs, and {budget["top1"]:.2f} % within the {mid}-px '
            f"GFLOPs ({mid} px: {r['single_size'][mid]['top1']:.2f} %)"
            + (f"; CPU time {timing['ratio']:.2f}x the {top}-px model's" if timing else '')
            + f'. {verdict} ({100 * cascade_targets.MIN_SAVING:.0f} % fewer GFLOPs at the {top}-px top-1; the '
            f'{top}-px top-1 within the {mid}-px GFLOPs). [cascade.md](docs/cascade.md#measured-on-imagenette)', '']


def paper(results: Path) -> list[str]:
    """The paper's own ImageNet numbers, labelled as reported, not measured here."""
    path = results / 'paper_reported.json'
    if not path.exists():
        return []
    p = read_results(path, 'hand (copied from the paper)', required=('models', 'resolutions', 'source', 'table'))
    shown = [p['resolutions'][0], p['resolutions'][len(p['resolutions']) // 2], p['resolutions'][-1]]
    rows = [[model, ' / '.join(f"{m['san'][s]:.2f}" for s in shown), ' / '.join(f"{m['baselines'][s]:.2f}" for s in shown),
             _signed(_mean(m['san'][s] - m['baselines'][s] for s in p['resolutions']))]
            for model, m in p['models'].items()]
    sizes = ' / '.join(map(str, shown))
    return [f"**The paper's ImageNet numbers**, as reported in its {p['table']} "
            f"(**not measured here**; {p['dataset']}, {p['metric']}):", '',
            *markdown_table(['model', f'one SAN at {sizes} px', f'a baseline trained at each size, {sizes} px',
                             f"mean gain over {'/'.join(map(str, p['resolutions']))}"], rows), '',
            'Their released checkpoints load here: [docs/model_zoo.md](docs/model_zoo.md).', '']


def _reserved(results: Path, section: str) -> list[str]:
    """A reserved section: its title and a link to the report of each file it finds (none: no lines)."""
    pattern, title = RESERVED[section]
    found = sorted(results.glob(pattern))
    if not found:
        return []
    links = [f'[{shown.name}]({shown.relative_to(results.parent.parent).as_posix()})'
             for shown in (p.with_suffix('.md') if p.with_suffix('.md').exists() else p for p in found)]
    return [f"**{title}**: {', '.join(links)}.", '']


SECTIONS: tuple[Callable[[Path], list[str]], ...] = (
    introduction, best_against_best, five_seeds, meta_learners, off_grid_inference, cost, resolution_sampling,
    per_image_resolution, paper)
"""The parts of the README's results section, in order."""


def block(results: Path = RESULTS) -> str:
    """The README's results block, markers included, from the files in ``results``."""
    lines = [line for section in SECTIONS for line in section(results)]
    while lines and not lines[-1]:
        lines.pop()
    return '\n'.join([BEGIN, *lines, END])


def replace_block(readme: str, new_block: str, name: str = 'README.md') -> str:
    """``readme`` with the text from ``BEGIN`` to ``END`` replaced by ``new_block``.

    Raises:
        SystemExit: a marker is missing, repeated or out of order (naming the file and the marker).
    """
    begin = readme.find(BEGIN.split(' (')[0])
    end = readme.find(END)
    for marker, at in ((BEGIN.split(' (')[0], begin), (END, end)):
        if at < 0 or readme.count(marker) > 1:
            raise SystemExit(f'{name}: want exactly one {marker!r} line around the results block '
                             f'(found {readme.count(marker)})')
    if end < begin:
        raise SystemExit(f'{name}: {END!r} comes before the results block begins')
    return readme[:begin] + new_block + readme[end + len(END):]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--check', action='store_true', help='change nothing; exit 1 with a diff when README.md differs')
    p.add_argument('--readme', type=Path, default=README)
    p.add_argument('--results', type=Path, default=RESULTS, help='the folder of the results files')
    args = p.parse_args(argv)
    current = args.readme.read_text()
    wanted = replace_block(current, block(args.results), str(args.readme))
    if wanted == current:
        print(f'{args.readme}: the results block is up to date')
        return 0
    if args.check:
        sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), wanted.splitlines(True),
                                                   f'{args.readme} (committed)', f'{args.readme} (from the results files)'))
        print(f'\n{args.readme}: the results block differs from the results files; '
              'run python benchmarks/readme_results.py')
        return 1
    args.readme.write_text(wanted)
    print(f'{args.readme}: results block rewritten')
    return 0


if __name__ == '__main__':
    sys.exit(main())
