"""Writes the Imagenette Table 1 results (markdown + json + Fig. 1-style png) from a run's work dir.

    python benchmarks/imagenette/report.py [--work-dir work_dirs/imagenette]
        [--out benchmarks/results/imagenette_resnet18]
    python benchmarks/imagenette/report.py --from benchmarks/results/imagenette_resnet18.json \
        [--out benchmarks/results/imagenette_resnet18] [--notes NOTES.md]

Reads ``<work-dir>/<model>/eval.json`` (benchmarks/imagenette/evaluate.py), ``timing.json`` and
``run_meta.json`` (benchmarks/imagenette/run.py). Models that have not finished are listed as
missing; the report is valid for whatever is there. ``benchmarks/imagenette/notes.md`` (ResNet-18;
``--notes`` names another file), when present, is appended as the analysis section. Models whose ``eval.json`` has multi-resolution
entries (``tta``) get the section "Multi-resolution testing": each combination's top-1 and summed
GFLOPs beside the same model's single-size cells (``san_plugin.evaluation.compare_tta``).

``--from REPORT.json`` writes the markdown again from a report's json alone (no work dir, nothing
evaluated, the figure kept): after an edit of the notes or of this script's text.
"""
from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from benchmarks.imagenette.common import TEST_RESOLUTIONS, TRAIN_RESOLUTIONS, fmt, fmt_minutes, proxy_row
from benchmarks.imagenette.figures import finish_and_save
from benchmarks.imagenette.seeds import seed_section, seed_statistics
from benchmarks.markdown import markdown_table
from benchmarks.portable_paths import portable

HERE = Path(__file__).resolve().parent
SAN_MODELS = {
    'san': 'SAN (meta convs, private BN, scale distillation)',
    'san_nodistill': 'SAN w/o scale distillation',
    'san_sharedconv': 'shared convs + private BN (+ distillation)',
    'san_meanloss': 'SAN, loss / 5 (alpha = beta = 0.2; post-hoc variant)',
}
TARGET_MEAN_GAIN = 1.5


def _load(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def _recipe(config: Path) -> dict | None:
    """The schedule and augmentation actually trained with (the config run.py dumped)."""
    if not config.exists():
        return None
    from mmengine.config import Config
    cfg = Config.fromfile(str(config))
    warmup = next((s['end'] for s in cfg.param_scheduler if s['type'] == 'LinearLR'), 0)
    crop = next((t for t in cfg.train_dataloader.dataset.pipeline
                 if t['type'] in ('RandomResizedCrop', 'MultiResolution')), {})
    return dict(epochs=cfg.train_cfg.max_epochs, warmup_epochs=warmup, lr=cfg.optim_wrapper.optimizer.lr,
                weight_decay=cfg.optim_wrapper.optimizer.weight_decay, momentum=cfg.optim_wrapper.optimizer.momentum,
                batch_size=cfg.train_dataloader.batch_size, crop_ratio_range=list(crop.get('crop_ratio_range', [])),
                backbone=cfg.model.backbone.type, widen_factor=cfg.model.backbone.get('widen_factor'),
                stem_channels=cfg.model.backbone.get('stem_channels', 64),
                base_channels=cfg.model.backbone.get('base_channels', 64))


ARCH_NAMES = {'ResNet': 'ResNet-18', 'MobileNetV2': 'MobileNetV2'}
NOTES = {'ResNet-18': 'notes.md', 'MobileNetV2': 'notes_mobilenetv2.md'}  # the analysis appended to each report


def arch_name(data: dict) -> str:
    """The backbone the models were trained with (run.py --arch), from the configs it dumped."""
    recipes = [m['recipe'] for m in data['models'].values() if m.get('recipe')]
    return ARCH_NAMES.get(recipes[0].get('backbone', 'ResNet'), recipes[0].get('backbone')) if recipes else 'ResNet-18'


def _backbone_text(recipe: dict, width) -> str:
    if recipe.get('backbone', 'ResNet') == 'MobileNetV2':
        return f"mmpretrain MobileNetV2, widen_factor {recipe['widen_factor']} (last 1x1 conv: 1280 channels)"
    return (f"mmpretrain ResNet-18 (depth 18, ImageNet stem: 7x7/2 conv + max-pool), width x{width} (stem/base "
            f"channels {recipe['stem_channels']}/{recipe['base_channels']})")


def collect(work_dir: str | Path) -> dict:
    work = Path(work_dir)
    models = {}
    for name in ['san', *[f'baseline_{s}' for s in TRAIN_RESOLUTIONS], *list(SAN_MODELS)[1:]]:
        timing, result = _load(work / name / 'timing.json'), _load(work / name / 'eval.json')
        if timing or result:
            models[name] = dict(timing=timing, eval=result, recipe=_recipe(work / name / f'{name}_run_config.py'))
    return dict(models=models, meta=_load(work / 'run_meta.json') or {})


def baseline_rows(data: dict, tests) -> dict[int, dict[int, float]]:
    rows = {}
    for s in TRAIN_RESOLUTIONS:
        result = (data['models'].get(f'baseline_{s}') or {}).get('eval')
        if result:
            rows[s] = {t: result['rows']['baseline'].get(str(t)) for t in tests}
    return rows


def san_rows(result: dict, tests) -> dict[int, dict[int, float]]:
    return {int(r): {t: cells.get(str(t)) for t in tests} for r, cells in result['rows'].items()}


def matrix(title_rows: dict[int, dict[int, float]], tests, mark) -> list[str]:
    return markdown_table(['Train \\ Test', *tests], [
        [r, *((f'**{fmt(v)}**' if mark(r, t) and v is not None else fmt(v)) for t, v in title_rows[r].items())]
        for r in sorted(title_rows, reverse=True)])


def as_sweep(name: str, result: dict):
    """One model's ``eval.json`` as a ``SweepResult``: its rows, GFLOPs per size and multi-resolution
    entries (a SAN's against its proxy curve, a baseline's against its own row).

    Example:
        >>> as_sweep('baseline_64', json.loads(Path('work/baseline_64/eval.json').read_text())).tta[0].source
        'baseline_64'
    """
    from san_plugin.evaluation import Cost, SweepResult, SweepRow, TTAEntry
    costs = {int(t): Cost(gflops=g) for t, g in (result.get('gflops') or {}).items()}
    train = result.get('train_resolutions') or []
    if train:
        rows, source = [SweepRow.san(int(r), cells) for r, cells in result['rows'].items()], 'proxy'
    else:
        rows, source = [SweepRow.baseline(int(name.rsplit('_', 1)[1]), result['rows']['baseline'], label=name)], name
    tta = [TTAEntry(source, entry['resolutions'], entry['top1'],
                    Cost.total(costs.get(s, Cost()) for s in entry['resolutions']))
           for entry in (result.get('tta') or {}).values()]
    return SweepResult(training_resolutions=train, rows=rows, costs=costs, tta=tta)


def tta_summary(name: str, result: dict) -> list[dict]:
    """Each multi-resolution combination of one model beside its single-size cells.

    Example:
        >>> tta_summary('san', result)[0]
        {'views': '80+64', 'top1': 79.6, 'gflops': 0.214, 'best_within': {'resolution': 64, ...}, ...}
    """
    from san_plugin.evaluation import compare_tta
    sweep = as_sweep(name, result)

    def single(cell) -> dict | None:
        return None if cell is None else dict(resolution=cell.resolution, top1=cell.accuracy.top1,
                                              gflops=cell.cost.gflops)

    out = []
    for entry in sweep.tta:
        c = compare_tta(sweep, entry)
        out.append(dict(views=entry.views, resolutions=list(entry.resolutions), top1=entry.accuracy.top1,
                        gflops=entry.cost.gflops, at_largest=single(c.at_largest), best_within=single(c.best_within),
                        gain_over_largest=c.gain_over_largest, gain_over_best_within=c.gain_over_best_within))
    return out


def summarise(data: dict, tests) -> dict:
    """Diagonal gains, proxy-vs-best-baseline margins and the issue's three targets."""
    base = baseline_rows(data, tests)
    out: dict = {'baselines': {str(s): {str(t): v for t, v in row.items()} for s, row in base.items()}}
    for name in SAN_MODELS:
        result = (data['models'].get(name) or {}).get('eval')
        if not result:
            continue
        proxy = proxy_row(result, tests)
        diag = {s: proxy.get(s) for s in TRAIN_RESOLUTIONS if s in proxy}
        gains = {s: diag[s] - base[s][s] for s in diag if s in base and diag[s] is not None and base[s].get(s) is not None}
        best = {t: max((row[t] for row in base.values() if row.get(t) is not None), default=None) for t in tests}
        margins = {t: proxy[t] - best[t] for t in tests if proxy.get(t) is not None and best[t] is not None}
        entry = dict(proxy_row={str(t): v for t, v in proxy.items()}, diagonal={str(s): v for s, v in diag.items()},
                     diagonal_gain={str(s): g for s, g in gains.items()},
                     mean_diagonal_gain=(sum(gains.values()) / len(gains)) if gains else None,
                     margin_over_best_baseline={str(t): m for t, m in margins.items()},
                     mean_proxy=(sum(v for v in proxy.values() if v is not None) / len(proxy)) if proxy else None)
        complete = len(gains) == len(TRAIN_RESOLUTIONS) and len(margins) == len(tests)
        entry['targets'] = dict(
            complete=complete,
            san_ge_baseline_at_every_training_resolution=complete and all(g >= 0 for g in gains.values()),
            mean_diagonal_gain_ge_1_5=complete and entry['mean_diagonal_gain'] >= TARGET_MEAN_GAIN,
            proxy_above_best_baseline_at_every_test_resolution=complete and all(m > 0 for m in margins.values()))
        out[name] = entry
    tta = {name: tta_summary(name, m['eval']) for name, m in data['models'].items()
           if (m.get('eval') or {}).get('tta')}
    if tta:
        out['tta'] = tta
    return out


def plot(data: dict, tests, path: Path) -> Path | None:
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 6))
    base = baseline_rows(data, tests)
    for i, (s, row) in enumerate(sorted(base.items(), reverse=True)):
        xs = [t for t in tests if row.get(t) is not None]
        ax.plot(xs, [row[t] for t in xs], marker='o', ms=3, lw=1, color=plt.cm.Greys(0.35 + 0.13 * i),
                label=f'baseline trained at {s}')
    styles = {'san': dict(color='tab:red', lw=2.2, marker='s', ms=4),
              'san_nodistill': dict(color='tab:blue', lw=1.4, ls='--', marker='^', ms=3),
              'san_sharedconv': dict(color='tab:green', lw=1.4, ls=':', marker='v', ms=3),
              'san_meanloss': dict(color='tab:purple', lw=1.6, ls='-.', marker='D', ms=3)}
    for name, label in SAN_MODELS.items():
        result = (data['models'].get(name) or {}).get('eval')
        if result:
            row = proxy_row(result, tests)
            xs = [t for t in tests if row.get(t) is not None]
            ax.plot(xs, [row[t] for t in xs], label=label + ' (proxy)', **styles[name])
    for s in TRAIN_RESOLUTIONS:
        ax.axvline(s, color='0.9', lw=0.8, zorder=0)
    ax.set_xlabel('test resolution (px)')
    ax.set_ylabel('top-1 (%) on Imagenette val')
    ax.set_title(f'{arch_name(data)} on Imagenette: SAN vs individually trained baselines')
    return finish_and_save(fig, ax, path)


def _single(cell: dict | None) -> str:
    if cell is None:
        return '-'
    return f"{cell['top1']:.2f} @ {cell['resolution']}" + ('' if cell['gflops'] is None else f" ({cell['gflops']:.3f})")


def _model_label(name: str) -> str:
    return SAN_MODELS.get(name) or (f'baseline trained at {name.rsplit("_", 1)[1]} (itself at each size)'
                                    if name.startswith('baseline_') else name)


def tta_section(tta: dict[str, list[dict]]) -> list[str]:
    """The section "Multi-resolution testing": the SAN's combinations against its single sizes, then
    every model's combinations side by side (``tta``: ``summary['tta']``, model -> :func:`tta_summary`)."""
    lines = ['## Multi-resolution testing (one checkpoint, the softmax averaged over sizes)', '',
             'Each val image at every size of a combination (one decode, the standard test crop at each size), '
             'the softmax of its proxy predictions averaged: an ensemble from one checkpoint, with no calibration; '
             'a baseline averages itself at those sizes. GFLOPs: the views\' GFLOPs summed, counted on the '
             'deployed model (the SAN baked per size). Beside each SAN combination, the SAN at one size: the '
             'proxy cell at the largest view, and the best proxy cell at no more GFLOPs (top-1 @ size (GFLOPs)).']
    if 'san' in tta:
        lines += ['', *markdown_table(
            ['views (px)', 'GFLOPs', 'SAN, averaged', 'SAN at the largest view', 'gain',
             'best SAN single size at <= GFLOPs', 'gain'],
            [[e['views'], fmt(e['gflops'], 3), f"{e['top1']:.2f}", _single(e['at_largest']),
              fmt(e['gain_over_largest'], sign=True), _single(e['best_within']),
              fmt(e['gain_over_best_within'], sign=True)] for e in tta['san']])]
        gains = [e['gain_over_best_within'] for e in tta['san'] if e['gain_over_best_within'] is not None]
        if gains:
            lines += ['', f'Averaging beats the best single size of no more GFLOPs in {sum(g > 0 for g in gains)} '
                      f'of {len(gains)} combinations (mean gain {sum(gains) / len(gains):+.2f} points).']
    views = list(dict.fromkeys(e['views'] for entries in tta.values() for e in entries))
    gflops = {e['views']: e['gflops'] for entries in tta.values() for e in entries if e['gflops'] is not None}
    order = [*SAN_MODELS, *[f'baseline_{s}' for s in TRAIN_RESOLUTIONS]]
    rows = [['GFLOPs', *(fmt(gflops.get(v), 3) for v in views)]]
    for name in sorted(tta, key=lambda n: order.index(n) if n in order else len(order)):
        top1 = {e['views']: e['top1'] for e in tta[name]}
        rows.append([_model_label(name), *(fmt(top1.get(v)) for v in views)])
    return lines + ['', 'Top-1 (%) of every model\'s combinations:', '', *markdown_table(['model', *views], rows)]


def _protocol(models: dict, arch: str) -> list[str]:
    """The title, the recipe every model trained with, and what the tables show."""
    lines = [f'# Table 1 on Imagenette: {arch} SAN vs individually trained baselines (CPU)', '']
    timings = [m['timing'] for m in models.values() if m.get('timing')]
    recipes = [m['recipe'] for m in models.values() if m.get('recipe')]
    if timings and recipes:
        t0, r0 = timings[0], recipes[0]
        same = all(r == r0 for r in recipes)
        if r0['epochs'] < 30 or t0['width'] != 1.0:
            lines += [f"> **Reduced scale**: {r0['epochs']} epochs at width x{t0['width']} (the paper: 120 epochs, "
                      "full width, ImageNet), what fits a 2-core CPU; see the analysis at the end.", '']
        lines += [f"Recipe ({'identical for every model' if same else 'NOT identical across models: see the json'}): "
                  f"{r0['epochs']} epochs, batch {r0['batch_size']}, SGD momentum {r0['momentum']} lr {r0['lr']} "
                  f"({r0['warmup_epochs']} epoch linear warm-up from lr/100, then half cosine to 0, per iteration), "
                  f"weight decay {r0['weight_decay']}, no label smoothing, RandomResizedCrop (area "
                  f"{r0['crop_ratio_range'][0]}-{r0['crop_ratio_range'][1]}, pillow bicubic) + horizontal flip "
                  f"(the SAN: one crop resized to every training resolution); test: resize the short side to "
                  f"T/0.875 (pillow bicubic, antialiased) + center crop T. Seed {t0['seed']}. Backbone: "
                  f"{_backbone_text(r0, t0['width'])}.", '']
    counts = {m['eval']['num_images'] for m in models.values() if m.get('eval')}
    return lines + [
        f'Top-1 (%) on the {", ".join(f"{c:,}" for c in sorted(counts)) or "?"} Imagenette val images. Training '
        'resolutions 64/56/48/40/32; **bold** = SAN proxy cell (row S(T), the nearest training resolution, with its '
        'encoding and BN branch, no calibration); baseline tables: **bold** = trained and tested at the same size.', '']


def _matrices(models: dict, base: dict, tests, arch: str) -> list[str]:
    """The baselines' table and every SAN's full table (every BN branch at every test size)."""
    lines = [f'## Baselines (one {arch} per training resolution)', '']
    lines += matrix(base, tests, lambda r, t: r == t) if base else ['(none finished)']
    for name, label in SAN_MODELS.items():
        result = (models.get(name) or {}).get('eval')
        if not result:
            continue
        if result['row_mode'] != 'full':
            continue  # proxy row only: it is in the proxy-row table below
        lines += ['', f'## {label}: `{name}` (every BN branch x every test size)', '']
        lines += matrix(san_rows(result, tests), tests, lambda r, t, p=result['proxy']: p.get(str(t)) == r)
    return lines


def _signed(value) -> str:
    return '-' if value is None else f'{value:+.2f}'


def _diagonal(san: dict, base: dict) -> list[str]:
    rows = [[r, fmt(base.get(r, {}).get(r)), fmt(san['diagonal'].get(str(r))),
             _signed(san['diagonal_gain'].get(str(r)))] for r in TRAIN_RESOLUTIONS]
    rows.append(['mean', '', '', _signed(san['mean_diagonal_gain'])])
    return ['', '## Diagonal: SAN proxy cell at S vs the baseline trained and tested at S', '',
            *markdown_table(['S', 'baseline', 'SAN', 'gain'], rows)]


def _proxy_rows(summary: dict, base: dict, tests) -> list[str]:
    rows = []
    if base:
        best = {t: max((row[t] for row in base.values() if row.get(t) is not None), default=None) for t in tests}
        vals = [v for v in best.values() if v is not None]
        rows.append(['best baseline at T', *(fmt(best[t]) for t in tests),
                     fmt(sum(vals) / len(vals)) if vals else '-', ''])
    for name, label in SAN_MODELS.items():
        if name in summary:
            s = summary[name]
            rows.append([label, *(fmt(s['proxy_row'].get(str(t))) for t in tests), fmt(s['mean_proxy']),
                         _signed(s['mean_diagonal_gain'])])
    return ['', '## Proxy rows and ablations (each test size with its nearest training branch)', '',
            *markdown_table(['model', *tests, 'mean', 'mean diag. gain'], rows)]


def _targets(san: dict, tests) -> list[str]:
    m = san['margin_over_best_baseline']
    tg = san['targets']
    yes = lambda ok: 'met' if ok else ('NOT met' if tg['complete'] else 'not measurable (models missing)')  # noqa: E731
    return ['', 'SAN proxy cell minus the best baseline at each test size: '
            + ', '.join(f'{t}: {m[str(t)]:+.2f}' for t in tests if str(t) in m),
            '', '## Targets (SAN with scale distillation)', '',
            f"- SAN >= baseline at every training resolution: {yes(tg['san_ge_baseline_at_every_training_resolution'])}",
            f"- mean diagonal gain >= {TARGET_MEAN_GAIN} points: {yes(tg['mean_diagonal_gain_ge_1_5'])}",
            f"- proxy cell above the best baseline at every test resolution: "
            f"{yes(tg['proxy_above_best_baseline_at_every_test_resolution'])}"]


def _runs(data: dict) -> list[str]:
    """Every model's run, the models not finished, the machine and the commands."""
    models = data['models']
    rows = []
    for name, m in models.items():
        t, e = m.get('timing') or {}, m.get('eval') or {}
        rows.append([name, f"`{t.get('config', '-')}`", t.get('epochs', '-'), fmt_minutes(t.get('train_wall_s')),
                     fmt_minutes(e.get('eval_wall_s')), t.get('started', '-')])
    lines = ['', '## Runs', '',
             *markdown_table(['model', 'config', 'epochs', 'train wall', 'eval wall', 'started (UTC)'], rows)]
    missing = [n for n in ['san', *[f'baseline_{s}' for s in TRAIN_RESOLUTIONS], *list(SAN_MODELS)[1:]]
               if not (models.get(n) or {}).get('eval')]
    if missing:
        lines += ['', 'Not finished (no results): ' + ', '.join(missing)]
    invocations = data['meta'].get('invocations', [])
    machine = invocations[-1] if invocations else {}
    lines += ['', f"Machine: {machine.get('machine', platform.platform())}, {machine.get('cpus', '?')} CPU cores "
              f"({machine.get('processor', platform.machine())}), no GPU; wall times include whatever else ran on it "
              '(see the notes).', '', 'Commands (repository root):', '', '```']
    lines += [portable(i['command']) for i in invocations] or ['python benchmarks/imagenette/run.py --data-root data/imagenette']
    lines += ['```', '', 'Per-model training commands (configs dumped by run.py into the work dir):', '', '```']
    lines += [portable(m['timing']['command']) for m in models.values() if m.get('timing')]
    return lines + ['```']


def markdown(data: dict, summary: dict, tests, png: Path | None, notes: Path | None = None) -> str:
    """``notes``: the analysis appended (default: ``NOTES`` of the backbone, if present)."""
    models = data['models']
    arch = arch_name(data)
    base = baseline_rows(data, tests)
    lines = _protocol(models, arch) + _matrices(models, base, tests, arch)
    if 'san' in summary:
        lines += _diagonal(summary['san'], base)
    lines += _proxy_rows(summary, base, tests)
    if 'san' in summary:
        lines += _targets(summary['san'], tests)
    if summary.get('tta'):
        lines += ['', *tta_section(summary['tta'])]
    if png:
        lines += ['', f'![accuracy vs test resolution]({png.name})']
    lines += _runs(data)
    if summary.get('seeds'):
        lines += [''] + seed_section(summary['seeds'])
    notes = HERE / NOTES.get(arch, 'notes.md') if notes is None else notes
    if notes.is_file():
        lines += ['', notes.read_text().strip()]
    return '\n'.join(lines) + '\n'


def write_report(work_dir: str | Path, out: str | Path, test_resolutions=TEST_RESOLUTIONS,
                 seed_work_dirs=(), notes: Path | None = None) -> list[Path]:
    """``seed_work_dirs``: the same models trained with other seeds (``run.py --seed N``); with them the
    report gets a "Seeds" section (``seeds.py``) over ``work_dir`` and those. ``notes``: see :func:`markdown`."""
    tests = sorted({int(t) for t in test_resolutions}, reverse=True)
    data = collect(work_dir)
    summary = summarise(data, tests)
    if seed_work_dirs:
        summary['seeds'] = seed_statistics([Path(work_dir), *map(Path, seed_work_dirs)])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.with_suffix('.png')
    try:
        png = plot(data, tests, png)
    except Exception as error:  # a report without its figure beats no report
        print(f'plot failed: {error!r}')
        png = None
    md = out.with_suffix('.md')
    md.write_text(markdown(data, summary, tests, png, notes))
    js = out.with_suffix('.json')
    js.write_text(json.dumps(dict(summary=summary, models=data['models'], meta=data['meta']), indent=2))
    return [p for p in (md, js, png) if p]


def rewrite_report(report: str | Path, out: str | Path, test_resolutions=TEST_RESOLUTIONS,
                   notes: Path | None = None) -> list[Path]:
    """The markdown of a report written again from its json (what :func:`write_report` saved); the
    figure beside ``out`` is kept, not drawn again.

    Raises:
        SystemExit: ``report`` is not a json this script wrote (naming it).
    """
    try:
        saved = json.loads(Path(report).read_text())
        data, summary = dict(models=saved['models'], meta=saved['meta']), saved['summary']
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SystemExit(f'--from {report}: not a json written by report.py ({error!r})') from None
    tests = sorted({int(t) for t in test_resolutions}, reverse=True)
    md, png = Path(out).with_suffix('.md'), Path(out).with_suffix('.png')
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(markdown(data, summary, tests, png if png.exists() else None, notes))
    return [md]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--from', dest='from_json', type=Path, metavar='REPORT.json',
                   help="write the markdown again from this report's json (no work dir read, nothing evaluated)")
    p.add_argument('--work-dir', default='work_dirs/imagenette')
    p.add_argument('--out', default='benchmarks/results/imagenette_resnet18')
    p.add_argument('--test-resolutions', type=int, nargs='+', default=list(TEST_RESOLUTIONS))
    p.add_argument('--seeds', nargs='+', default=(), metavar='WORK_DIR',
                   help='work dirs of the same models trained with other seeds: adds the "Seeds" section')
    p.add_argument('--notes', type=Path, default=None,
                   help=f'markdown appended as the analysis (default: {", ".join(NOTES.values())} by backbone; '
                        'a missing file: none)')
    args = p.parse_args(argv)
    if args.from_json is not None:
        written = rewrite_report(args.from_json, args.out, args.test_resolutions, notes=args.notes)
    else:
        written = write_report(args.work_dir, args.out, args.test_resolutions, seed_work_dirs=args.seeds,
                               notes=args.notes)
    for path in written:
        print(f'wrote {path}')


if __name__ == '__main__':
    main()
