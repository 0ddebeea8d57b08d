"""Per-image resolution (a confidence cascade) over a trained SAN on Imagenette.

    python benchmarks/imagenette/cascade.py --config WORK_DIR/san/san_run_config.py \\
        --checkpoint WORK_DIR/san/epoch_15.pth --data-root ../shared/data/imagenette [--splits 5] \\
        [--timing-rounds 5] [--threads 1] [--out benchmarks/results/imagenette_cascade]
    python benchmarks/imagenette/cascade.py --from benchmarks/results/imagenette_cascade.json

One pass over the validation set decodes every image once and makes the standard test crop at
every training size (as the single-size evaluation does); the SAN's softmax at each size gives,
in the same run, (a) the SAN at each single size, (c) test-time averaging (the mean softmax of
several sizes, the SAN's multi-resolution testing) and the inputs of the cascade. The cascade's
thresholds never see the images they are scored on: two-fold cross-fitting over halves of the
validation set (fit on one half, score the other, swap), repeated over ``--splits`` random
halvings; every image is charged the GFLOPs of every size it passed through (the deployed, baked
model's GFLOPs per size). (b) the baselines trained at each size come from
``benchmarks/results/imagenette_lr_sweep.json`` (each at its best learning rate there), with the
GFLOPs of their architecture counted here.

The wall clock of the batched cascade (the baked model of each size, each step one batch of the
undecided images) against the single 64-px model is measured on the stored crops (model time,
not decoding), at ``--threads`` threads, alternating the two in every round; the ratio of the
medians is reported. ``--from REPORT.json`` writes the markdown again from a report's json (nothing
evaluated, the figure kept).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Sequence

import torch

from benchmarks.imagenette.cascade_targets import MIN_SAVING, at_budget_met, at_equal_top1_met, saving
from benchmarks.imagenette.resolution_predictor import crossfit_predictor, predictor_inputs
from benchmarks.markdown import markdown_table
from benchmarks.portable_paths import portable
from benchmarks.results_json import jsonable, read_results

REPO = Path(__file__).resolve().parents[2]
SWEEP = REPO / 'benchmarks' / 'results' / 'imagenette_lr_sweep.json'
VARIANTS = {('max_prob', 'last'): 'top-1 probability, exit size', ('margin', 'last'): 'margin, exit size',
            ('max_prob', 'mean'): 'top-1 probability, mean of sizes passed',
            ('margin', 'mean'): 'margin, mean of sizes passed'}
MAIN = ('max_prob', 'last')


def load_san(config: str, checkpoint: str, data_root: str | None, num_workers: int, batch_size: int):
    from mmengine.config import Config
    import san_plugin.mm  # noqa: F401  (registers the plugin's modules, safe checkpoint loading)
    from san_plugin.mm.model_from_config import build_model
    cfg = Config.fromfile(config)
    loader = cfg.test_dataloader
    if data_root is not None:
        loader.dataset.data_root = data_root
    loader.update(num_workers=num_workers, persistent_workers=False, batch_size=batch_size)
    return cfg, build_model(cfg, checkpoint)


@torch.no_grad()
def views_and_probabilities(model, cfg, sizes: Sequence[int]):
    """Every image's crop at every size (model inputs), the SAN's softmax there and its pooled
    features at the smallest size, one decode per image."""
    from san_plugin.mm.cascade import classify_with, multi_view_loader
    from san_plugin.mm.tta import view_inputs
    from san_plugin.mm.transforms import TEST_CROP_RATIO
    classify = classify_with(model)
    views: dict[int, list] = {s: [] for s in sizes}
    probs: dict[int, list] = {s: [] for s in sizes}
    labels, features = [], []
    smallest = min(sizes)
    for batch in multi_view_loader(cfg, sizes, TEST_CROP_RATIO):
        inputs, batch_labels = view_inputs(model, batch)
        for size in sizes:
            views[size].append(inputs[size])
            if size == smallest:  # what model(x, mode='tensor') computes, keeping the pooled features
                feats = model.extract_feat(inputs[size])
                logits, _ = model.head(feats, size), features.append(feats[-1])
            else:
                logits = classify(size, inputs[size])
            probs[size].append(torch.softmax(logits.float(), dim=1))
        labels.append(batch_labels)
    return ({s: torch.cat(v) for s, v in views.items()}, {s: torch.cat(p) for s, p in probs.items()},
            torch.cat(labels), torch.cat(features))


def accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    return 100.0 * float((probs.argmax(dim=1) == labels).double().mean())


def tta_rows(probs, labels, gflops, combinations) -> list[dict]:
    return [{'sizes': list(c), 'top1': accuracy(torch.stack([probs[s] for s in c]).mean(0), labels),
             'gflops': sum(gflops[s] for s in c)} for c in combinations]


def baseline_rows(sweep_path: Path, plain_gflops: dict[int, float]) -> list[dict]:
    """Each baseline at its training size and best rate, as ``imagenette_lr_sweep.json`` records it."""
    best = json.loads(sweep_path.read_text())['best_vs_best']
    rows = []
    for name, entry in best.items():
        if name.startswith('baseline_'):
            size = int(name.split('_')[1])
            rows.append({'size': size, 'top1': entry['top1'], 'lr': entry['lr'], 'rates_tried': entry['rates_tried'],
                         'gflops': plain_gflops.get(size)})
    return sorted(rows, key=lambda r: -r['size'])


def crossfit_curve(probs, labels, gflops, targets: list[dict], splits: int, score: str, combine: str,
                   grid: int) -> list[dict]:
    """Per target: cross-fitted top-1 and mean GFLOPs, mean and range over ``splits`` random halvings,
    and the images stopping at each size (mean over the halvings)."""
    from san_plugin.cascade import cross_fit
    per_split = [cross_fit(probs, labels, gflops, targets, parts=2, seed=seed, score=score, combine=combine,
                           grid=grid) for seed in range(splits)]
    rows = []
    for index, target in enumerate(targets):
        results = [split[index] for split in per_split]
        done = [r for r in results if r.error is None]
        row = {'target': target, 'splits': len(done), 'errors': [r.error for r in results if r.error]}
        if done:
            tops, costs = [r.top1 for r in done], [r.mean_gflops for r in done]
            fits = [part['fit_top1'] for r in done for part in r.parts]
            row.update(top1=statistics.fmean(tops), top1_min=min(tops), top1_max=max(tops),
                       fit_top1=statistics.fmean(fits), mean_gflops=statistics.fmean(costs), gflops_min=min(costs),
                       gflops_max=max(costs),
                       counts={s: statistics.fmean(r.counts.get(s, 0) for r in done) for s in sorted(gflops)})
        if done and done[0].reference_top1 is not None:
            gains = [r.top1 - r.reference_top1 for r in done]
            row.update(reference_top1=statistics.fmean(r.reference_top1 for r in done), gain=statistics.fmean(gains),
                       gain_min=min(gains), gain_max=max(gains))
        if results[0].error is None:
            row['rules_seed0'] = results[0].parts  # the rule of each half of the first halving (seed 0)
        rows.append(row)
    return rows


def reference_bounds(probs, labels, gflops, correct, sizes, budget_size: int, reference_size: int,
                     grid: int) -> dict:
    """Optimistic references, not results: the cascade fitted and scored on the same (all) images,
    and the oracle that runs each image only at the smallest size where the SAN is right."""
    from san_plugin.cascade import cascade_frontier
    from san_plugin.cascade.fit import pick
    front = cascade_frontier(probs, labels, gflops, grid=grid)
    at_budget = pick(front, budget=gflops[budget_size])
    matching = pick(front, target_top1=accuracy(probs[reference_size], labels))
    cost = torch.tensor([gflops[s] for s in sizes], dtype=torch.float64)
    first_right = torch.where(correct.any(1), correct.double().argmax(1), 0)
    return {'in_sample_at_budget': {'top1': at_budget.top1, 'mean_gflops': at_budget.mean_gflops,
                                    'sizes': list(at_budget.sizes)},
            'in_sample_matching': {'top1': matching.top1, 'mean_gflops': matching.mean_gflops,
                                   'sizes': list(matching.sizes)},
            'oracle': {'top1': 100.0 * float(correct.any(1).double().mean()),
                       'mean_gflops': float(cost[first_right].mean())}}


def time_rounds(baked: dict, views: dict, parts: list[tuple[torch.Tensor, tuple, tuple]], single: int,
                rounds: int, batch_size: int) -> dict:
    """Median wall clock of the batched cascade (each part's images with the rule fitted on the
    other part) and of the single-size model over the same images, alternating in every round."""
    from san_plugin.cascade import run_cascade

    def classify(size, x):
        return baked[size](x, mode='tensor')

    def size_pass(size: int) -> float:
        start = time.perf_counter()
        for rows, _, _ in parts:
            for chunk in rows.split(batch_size):
                classify(size, views[size][chunk])
        return time.perf_counter() - start

    def single_pass() -> float:
        return size_pass(single)

    exits: list[torch.Tensor] = []

    def cascade_pass() -> float:
        exits.clear()
        start = time.perf_counter()
        for rows, sizes, thresholds in parts:
            for chunk in rows.split(batch_size):
                batch = {s: views[s][chunk] for s in sizes}
                exits.append(run_cascade(classify, batch, sizes, thresholds).exit_stage)
        return time.perf_counter() - start

    times = {'single': [], 'cascade': []}
    per_size: dict[int, list[float]] = {s: [] for s in baked}
    with torch.no_grad():
        single_pass(), cascade_pass()  # warm-up
        for r in range(rounds):
            order = (('single', single_pass), ('cascade', cascade_pass))
            for name, run in (order if r % 2 == 0 else order[::-1]):
                times[name].append(run())
            for size in per_size:  # every image at every size: what one size costs in time
                per_size[size].append(size_pass(size))
    medians = {k: statistics.median(v) for k, v in times.items()}
    medians['per_size'] = {s: statistics.median(v) for s, v in per_size.items()}
    return {'exit_stages': torch.cat(exits), 'rounds': rounds, 'times_s': times, 'median_s': medians,
            'ratio': medians['cascade'] / medians['single'],
            'threads': torch.get_num_threads(), 'batch_size': batch_size, 'single_size': single}


def measure(args) -> dict:
    from san_plugin.core import bake, find_controller
    from san_plugin.cascade import Cascade
    from san_plugin.cascade.cross_fitting import split_parts
    from san_plugin.evaluation import deployed_gflops
    torch.set_num_threads(args.threads)
    start = time.time()
    cfg, model = load_san(args.config, args.checkpoint, args.data_root, args.num_workers, args.batch_size)
    resolutions = find_controller(model).resolutions
    sizes = sorted(resolutions)
    gflops = deployed_gflops(model, sizes)
    plain_gflops = plain_model_gflops(cfg, sizes)
    views, probs, labels, features = views_and_probabilities(model, cfg, sizes)
    single = {s: {'top1': accuracy(probs[s], labels), 'gflops': gflops[s]} for s in sizes}
    largest, middle = max(sizes), sorted(sizes)[len(sizes) // 2]
    combos = [tuple(sorted(sizes, reverse=True)[i:i + 2]) for i in range(len(sizes) - 1)]
    combos = list(dict.fromkeys(combos + [(largest, middle, min(sizes)), tuple(sorted(sizes, reverse=True))]))
    steps = torch.linspace(gflops[min(sizes)], gflops[largest], 13).tolist()
    budgets = sorted(set(gflops.values()) | {b for b in steps if min(abs(b - g) for g in gflops.values()) > 0.02 * b})
    targets = [{'budget': b} for b in budgets] + [{'match_size': largest}]
    curves = {}
    for score, combine in VARIANTS:
        curves[f'{score}/{combine}'] = crossfit_curve(probs, labels, gflops, targets, args.splits, score, combine,
                                                      args.grid)
    main = curves[f'{MAIN[0]}/{MAIN[1]}']
    correct = torch.stack([probs[s].argmax(1) == labels for s in sizes], dim=1)
    bounds = reference_bounds(probs, labels, gflops, correct, sizes, middle, largest, args.grid)
    predictor = crossfit_predictor(predictor_inputs(features, probs[min(sizes)]), correct, sizes, gflops, budgets,
                                   args.splits)
    at_48 = next(r for r in main if r['target'] == {'budget': gflops[middle]})
    equal_top1 = main[-1]
    timing = None
    if args.timing_rounds:
        parts = [(rows, tuple(rule['sizes']), tuple(rule['thresholds']))
                 for rows, rule in zip(split_parts(labels.numel(), 2, seed=0), equal_top1['rules_seed0'])]
        baked = {s: bake(model, s).eval() for s in sizes}
        timing = time_rounds(baked, views, parts, largest, args.timing_rounds, args.batch_size)
        simulated = torch.cat([Cascade(part_sizes, thresholds, gflops).simulate(
            {s: p[rows] for s, p in probs.items()}).exit_stage for rows, part_sizes, thresholds in parts])
        timing['exits_differing_from_simulation'] = int((timing.pop('exit_stages') != simulated).sum())
    return {
        'config': args.config, 'checkpoint': args.checkpoint, 'data_root': args.data_root,
        'images': int(labels.numel()), 'resolutions': list(resolutions), 'sizes': sizes, 'gflops': gflops,
        'plain_gflops': plain_gflops, 'single_size': single, 'tta': tta_rows(probs, labels, gflops, combos),
        'baselines': baseline_rows(Path(args.sweep), plain_gflops), 'curves': curves, 'splits': args.splits,
        'grid': args.grid, 'targets': {'budget_size': middle, 'reference_size': largest, 'at_budget': at_48,
                                       'at_equal_top1': equal_top1},
        'predictor': predictor, 'bounds': bounds, 'timing': timing, 'wall_s': round(time.time() - start, 1),
        'threads': args.threads,
        'machine': f'{platform.platform()}, {platform.processor() or "cpu"}',
        'command': 'python benchmarks/imagenette/cascade.py ' + ' '.join(args.argv),
    }


def plain_model_gflops(cfg, sizes) -> dict[int, float]:
    """GFLOPs of the unconverted architecture (what every baseline is: the SAN config's backbone and
    neck with a linear head) at each size."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    from san_plugin.evaluation import count_flops
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    head = cfg.model.head
    plain = MODELS.build(dict(type='ImageClassifier', backbone=cfg.model.backbone, neck=cfg.model.get('neck'),
                              head=dict(type='LinearClsHead', num_classes=head.num_classes,
                                        in_channels=head.in_channels))).eval()
    return {s: count_flops(plain, s) / 1e9 for s in sizes}


# -- the report -------------------------------------------------------------------------------------
def _pct(value) -> str:
    return '-' if value is None else f'{value:.2f}'


def curve_table(rows: list[dict], sizes: Sequence[int]) -> list[str]:
    header = ['target', 'top-1 (%), mean [min, max]', 'mean GFLOPs [min, max]', *(f'stop at {s}' for s in sizes)]
    cells = []
    for row in rows:
        target = row['target']
        name = (f"budget {target['budget']:.4f}" if 'budget' in target else f"as accurate as {target['match_size']} px")
        if 'top1' not in row:
            cells.append([name, f"not reached on a fit half ({row['errors'][0]})", *([''] * (1 + len(sizes)))])
            continue
        cells.append([name, f"{row['top1']:.2f} [{row['top1_min']:.2f}, {row['top1_max']:.2f}]",
                      f"{row['mean_gflops']:.4f} [{row['gflops_min']:.4f}, {row['gflops_max']:.4f}]",
                      *(f"{row['counts'][s]:.0f}" for s in sizes)])
    return markdown_table(header, cells)


def _protocol(r: dict) -> list[str]:
    top = r['targets']['reference_size']
    return ['# Per-image resolution on Imagenette: a confidence cascade over one SAN', '',
            f"SAN: `{portable(r['config'])}`, checkpoint `{portable(r['checkpoint'])}` (training resolutions "
            f"{r['resolutions']}); "
            f"{r['images']} validation images, each decoded once and cropped at every size as the single-size "
            f"evaluation does (short side to S / 0.875, pillow bicubic, centre crop). GFLOPs: one image through the "
            f"deployed model (the SAN baked for that size), a multiply-add = 2 FLOPs; a cascade charges each image "
            f"every size it passed through.", '',
            f"Thresholds are never fitted on the images they score: two-fold cross-fitting over halves of the "
            f"validation set (fit on one half, score the other, swap), repeated over {r['splits']} random halvings "
            f"(seeds 0..{r['splits'] - 1}); the tables give the mean over the halvings and the range. Fitting: every "
            f"subset of the sizes, {r['grid']} thresholds per size (placed between the fit images' confidences), the "
            f"most accurate cascade within a budget or the cheapest as accurate as the {top}-px SAN on the fit half.",
            '']


def _targets(r: dict) -> list[str]:
    top, mid = r['targets']['reference_size'], r['targets']['budget_size']
    g = r['gflops']
    ref = r['single_size'][top]['top1']
    at_budget, equal = r['targets']['at_budget'], r['targets']['at_equal_top1']
    out = ['## Targets', '']
    if 'top1' in at_budget:
        met = at_budget_met(r)
        out.append(f"- At the {mid}-px SAN's GFLOPs ({g[mid]:.4f}): the cascade reaches {at_budget['top1']:.2f}% "
                   f"[{at_budget['top1_min']:.2f}, {at_budget['top1_max']:.2f}] at {at_budget['mean_gflops']:.4f} "
                   f"GFLOPs, against the {top}-px SAN's {ref:.2f}% and the {mid}-px SAN's "
                   f"{r['single_size'][mid]['top1']:.2f}%: target **{'met' if met else 'not met'}**.")
    if 'top1' in equal:
        saved, met = saving(r), at_equal_top1_met(r)
        out.append(f"- As accurate as the {top}-px SAN (fitted per half): {equal['top1']:.2f}% against its "
                   f"{equal['reference_top1']:.2f}% on the same images (difference {equal['gain']:+.2f}, range "
                   f"[{equal['gain_min']:+.2f}, {equal['gain_max']:+.2f}]) at {equal['mean_gflops']:.4f} GFLOPs, "
                   f"{100 * saved:.1f}% fewer than {g[top]:.4f}: target (>= {100 * MIN_SAVING:.0f}% fewer at equal top-1) "
                   f"**{'met' if met else 'not met'}**.")
    b = r['bounds']
    out.append(f"- For reference only (optimistic, not results): fitted and scored on all {r['images']} images, the "
               f"cascade reaches {b['in_sample_at_budget']['top1']:.2f}% within the {mid}-px GFLOPs, and matches the "
               f"{top}-px top-1 at {b['in_sample_matching']['mean_gflops']:.4f} GFLOPs "
               f"({100 * (1 - b['in_sample_matching']['mean_gflops'] / g[top]):.1f}% fewer); on their fit halves the "
               f"cross-fitted rules above reached {at_budget.get('fit_top1', float('nan')):.2f}% and "
               f"{equal.get('fit_top1', float('nan')):.2f}%. An oracle running each image only at the smallest size "
               f"where the SAN is right would reach {b['oracle']['top1']:.2f}% at {b['oracle']['mean_gflops']:.4f} "
               f"GFLOPs: the room is there, the confidence of the small sizes does not find it.")
    return out + _timing(r)


def _timing(r: dict) -> list[str]:
    t = r.get('timing')
    if not t:
        return []
    top, g, per_size = r['targets']['reference_size'], r['gflops'], t['median_s']['per_size']
    return [f"- Wall clock on the CPU ({t['threads']} thread, batches of {t['batch_size']}, model time on the "
            f"stored crops, not decoding): the batched cascade of the previous line (the baked model of each "
            f"size, only the undecided images run at each step) took {t['median_s']['cascade']:.2f} s against "
            f"{t['median_s']['single']:.2f} s for the baked {top}-px model over the same {r['images']} images: "
            f"ratio **{t['ratio']:.2f}** (medians of {t['rounds']} rounds, the two alternating in each round; "
            f"other processes were training on the machine). Its exits differ from the simulated ones for "
            f"{t['exits_differing_from_simulation']} images (baked models against the SAN). Every image at one "
            f"size, per size (s; time and GFLOPs relative to {top} px): " + ', '.join(
                f"{s} px {per_size[s]:.2f} ({per_size[s] / per_size[top]:.2f}, {g[s] / g[top]:.2f})"
                for s in sorted(r['sizes'])) + '.']


def _single_sizes(r: dict) -> list[str]:
    base = {b['size']: b for b in r['baselines']}
    rows = [[s, f"{r['single_size'][s]['top1']:.2f}", f"{r['gflops'][s]:.4f}", _pct(base.get(s, {}).get('top1')),
             base.get(s, {}).get('lr', '-'), '/'.join(f'{lr:g}' for lr in base.get(s, {}).get('rates_tried', [])) or '-',
             f"{r['plain_gflops'][s]:.4f}"] for s in sorted(r['sizes'], reverse=True)]
    tta = [['+'.join(map(str, row['sizes'])), f"{row['top1']:.2f}", f"{row['gflops']:.4f}"] for row in r['tta']]
    return ['## Single sizes, baselines, test-time averaging', '',
            *markdown_table(['size', 'SAN top-1 (%)', 'GFLOPs (baked SAN)', 'baseline trained at that size: top-1 (%)',
                             'its lr', 'of the rates', 'GFLOPs (plain model)'], rows),
            '', 'Baselines: top-1 from `benchmarks/results/imagenette_lr_sweep.json` as this run read it (each at '
            'its best of the rates listed, a separate run of the same protocol), not measured here; their GFLOPs '
            'are those of the unconverted architecture, counted here.', '',
            *markdown_table(['test-time averaging (mean softmax)', 'top-1 (%)', 'GFLOPs'], tta)]


def _predictor(r: dict) -> list[str]:
    sizes = r['sizes']
    cascade_rows = {row['target'].get('budget'): row for row in r['curves'][f'{MAIN[0]}/{MAIN[1]}']}
    rows = []
    for row in r['predictor']:
        c = cascade_rows.get(row['budget'], {})
        if 'top1' not in row:
            rows.append([f"{row['budget']:.4f}", 'no lambda fits', '', _pct(c.get('top1')), '', ''])
            continue
        rows.append([f"{row['budget']:.4f}", f"{row['top1']:.2f} [{row['top1_min']:.2f}, {row['top1_max']:.2f}]",
                     f"{row['mean_gflops']:.4f}", _pct(c.get('top1')), f"{c.get('mean_gflops', float('nan')):.4f}",
                     ' / '.join(f"{row['counts'][s]:.0f}" for s in sizes)])
    return ['## Optional: a learned resolution predictor on the frozen SAN', '',
            'Every image runs at the smallest size; a logistic regression on that pass (pooled features, sorted '
            'softmax) predicts whether the SAN is right at each size, and the image runs at the one size that '
            'maximises P(right) - lambda x GFLOPs (no climbing through the sizes between); trained on the frozen '
            'SAN, cross-fitted over the same halvings, lambda chosen on the fit half per budget '
            '(`benchmarks/imagenette/resolution_predictor.py`). The cascade column is the default cascade above.', '',
            *markdown_table(['budget', 'predictor top-1 (%) [min, max]', 'its mean GFLOPs', 'cascade top-1 (%)',
                             'its mean GFLOPs', 'predictor: images run at ' + ', '.join(map(str, sizes))], rows)]


def markdown(r: dict, png: Path | None) -> str:
    out = _protocol(r) + _targets(r) + [''] + _single_sizes(r)
    for key, label in VARIANTS.items():
        out += ['', f'## Cascade, cross-fitted: {label}' + (' (the default)' if key == MAIN else ''), '']
        out += curve_table(r['curves'][f'{key[0]}/{key[1]}'], r['sizes'])
    out += [''] + _predictor(r)
    if png is not None:
        out += ['', f'![accuracy against GFLOPs]({png.name})']
    out += ['', f"Wall time of this run: {r['wall_s'] / 60:.1f} min ({r['machine']}, {r['threads']} thread(s)).", '',
            f"Command: `{portable(r['command'])}`", '']
    return '\n'.join(out)


def plot(r: dict, path: Path) -> Path | None:
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    sizes = sorted(r['sizes'])
    ax.plot([r['gflops'][s] for s in sizes], [r['single_size'][s]['top1'] for s in sizes], 'o-', color='tab:red',
            label='SAN, one size')
    for s in sizes:
        ax.annotate(f'{s}', (r['gflops'][s], r['single_size'][s]['top1']), fontsize=7, xytext=(3, -9),
                    textcoords='offset points')
    base = [b for b in r['baselines'] if b.get('gflops') is not None]
    ax.plot([b['gflops'] for b in base], [b['top1'] for b in base], 's--', color='0.5',
            label='baselines (imagenette_lr_sweep.json, best lr)')
    ax.plot([t['gflops'] for t in r['tta']], [t['top1'] for t in r['tta']], 'D', color='tab:purple', ms=4,
            label='SAN, test-time averaging')
    for (score, combine), style in zip(VARIANTS, ('-', ':', '--', '-.')):
        rows = [row for row in r['curves'][f'{score}/{combine}'] if 'top1' in row and 'budget' in row['target']]
        ax.plot([row['mean_gflops'] for row in rows], [row['top1'] for row in rows], style, marker='.',
                label=f'cascade ({VARIANTS[(score, combine)]}), cross-fitted')
    rows = [row for row in r['predictor'] if 'top1' in row]
    ax.plot([row['mean_gflops'] for row in rows], [row['top1'] for row in rows], 'x-', color='tab:olive', lw=1,
            label='learned predictor (one jump from the smallest size), cross-fitted')
    ax.set_xlabel('mean GFLOPs per image')
    ax.set_ylabel('top-1 (%) on Imagenette val')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path



def main(argv: Sequence[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', help="the SAN's config (run.py dumps <model>_run_config.py)")
    p.add_argument('--checkpoint')
    p.add_argument('--from', dest='from_json', metavar='REPORT.json',
                   help="write the markdown again from this report's json instead of measuring (figure kept)")
    p.add_argument('--data-root', help="the validation data's root (default: the config's)")
    p.add_argument('--sweep', default=str(SWEEP), help="the baselines' results (lr_sweep.py's json)")
    p.add_argument('--splits', type=int, default=5, help='random halvings of the validation set')
    p.add_argument('--grid', type=int, default=16, help='thresholds tried per size')
    p.add_argument('--timing-rounds', type=int, default=5, help='0: no wall-clock measurement')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--batch-size', type=int, default=100)
    p.add_argument('--num-workers', type=int, default=1)
    p.add_argument('--out', default=str(REPO / 'benchmarks' / 'results' / 'imagenette_cascade'))
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.from_json is not None:
        result = read_results(args.from_json, 'cascade.py', required=('targets', 'single_size', 'curves'))
        png = out.with_suffix('.png')
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix('.md').write_text(markdown(result, png if png.exists() else None))
        print(f"wrote {out.with_suffix('.md')}")
        return result
    if not (args.config and args.checkpoint):
        p.error('give --config and --checkpoint (a trained SAN), or --from REPORT.json')
    args.argv = list(sys.argv[1:] if argv is None else argv)
    result = measure(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    png = plot(result, out.with_suffix('.png'))
    out.with_suffix('.json').write_text(json.dumps(jsonable(result), indent=1) + '\n')
    out.with_suffix('.md').write_text(markdown(result, png))
    print(out.with_suffix('.md').read_text())
    return result


if __name__ == '__main__':
    main()
