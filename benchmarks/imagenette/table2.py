"""The paper's Table 2 on Imagenette: ideal inference before and after BN calibration, data-free BN
interpolation and proxy inference of one trained SAN, against baselines, at test sizes on and off the
training grid; with ``--diagnose``, what makes some off-grid sizes fall.

    python benchmarks/imagenette/table2.py WORK_DIR/san --baselines WORK_DIR/baseline_64 ... \\
        --data-root ../shared/data/imagenette [--tests 80 72 ...] [--calib-images 2048] \\
        [--calib-crop train|test] [--out PREFIX] [--diagnose] [--threads 2]
    python benchmarks/imagenette/table2.py --from-json benchmarks/results/imagenette_table2_resnet18.json

A model folder is one that ``run.py`` wrote (``<model>_run_config.py``, ``timing.json``, the checkpoint).
For every training size S_j of the SAN (a row) and every test size T (a column):

- ideal inference before calibration: encoding eps(T), the BN branch of S_j as trained;
- ideal inference after BN calibration: the same branch with its running statistics recomputed at T,
  exact averages over N training images (``--calib-images``) at T; never validation images;
- proxy inference: encoding and BN branch of S_j (the SAN's cell at S(T), the nearest training size,
  is what the SAN runs by default);

and one row of data-free ideal inference (BN branches interpolated between the neighbouring training
branches), the baselines at every T and their envelope (the best baseline per T). Every validation
image is decoded once; one pass evaluates every setting at every size. ``--diagnose`` adds: the
feature-map size after every stage at each size (forward hooks), the same pixels at a neighbouring
size (the T crop resized or zero-padded to T'), and other test crops at T.

Writes ``PREFIX.json`` (every cell, N, times, commands, the models' run records), ``PREFIX.md`` and
``PREFIX.png`` (default prefix ``benchmarks/results/imagenette_table2_<arch>``). ``--from-json``
rewrites the markdown and the figure from a json without evaluating.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from benchmarks.imagenette.table2_views import CALIBRATION_CROPS, View, crop_variants

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TESTS = (80, 72, 64, 60, 56, 52, 48, 44, 40, 36, 32, 28, 24)
DEFAULT_PAIRS = ('44:48,40', '36:40,32', '72:64,80')
DEFAULT_CALIB_IMAGES = 2048


def parse_pair(text: str) -> tuple[int, tuple[int, ...]]:
    """``'44:48,40'`` -> ``(44, (48, 40))``: a test size and the neighbouring sizes its pixels are taken to."""
    try:
        size, others = text.split(':')
        neighbours = tuple(int(s) for s in others.split(','))
        size = int(size)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f'--diagnose-pairs {text!r}: give T:T1,T2 such as 44:48,40') from error
    if size <= 0 or any(n <= 0 or n == size for n in neighbours):
        raise argparse.ArgumentTypeError(f'--diagnose-pairs {text!r}: sizes must be positive and differ from {size}')
    return size, neighbours


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('san_dir', nargs='?', type=Path, help="the SAN's run.py folder")
    p.add_argument('--baselines', nargs='*', type=Path, default=[], help="plain models' run.py folders")
    p.add_argument('--data-root', help='Imagenette root (train/, val/); default: as the configs say')
    p.add_argument('--tests', nargs='+', type=int, default=list(DEFAULT_TESTS), help='test sizes (px)')
    p.add_argument('--calib-images', type=int, default=DEFAULT_CALIB_IMAGES,
                   help='training images the BN statistics are recomputed over, at every test size')
    p.add_argument('--calib-crop', choices=CALIBRATION_CROPS, default='train',
                   help="calibration views: the training transform's crop (area/aspect ranges and flip of the "
                        "SAN's training pipeline) resized to T, or the standard test crop at T")
    p.add_argument('--calib-batch-size', type=int, default=None,
                   help="images per calibration forward (default: the SAN's training batch size)")
    p.add_argument('--seed', type=int, default=0, help='the draw of the calibration images and their crops')
    p.add_argument('--val-images', type=int, default=None,
                   help='evaluate on this many validation images, evenly spaced (default: all; for a quick look)')
    p.add_argument('--diagnose', action='store_true', help='feature-map sizes, resized/padded pixels, test crops')
    p.add_argument('--diagnose-pairs', nargs='+', type=parse_pair, metavar='T:T1,T2',
                   help=f'sizes whose pixels are taken to neighbouring sizes (default: {" ".join(DEFAULT_PAIRS)})')
    p.add_argument('--out', help='output prefix (default: benchmarks/results/imagenette_table2_<arch>)')
    p.add_argument('--from-json', type=Path, help='rewrite the markdown and figure from this json; evaluate nothing')
    p.add_argument('--batch-size', type=int, default=100, help='validation images per batch')
    p.add_argument('--num-workers', type=int, default=2)
    p.add_argument('--threads', type=int, help='torch threads')
    args = p.parse_args(argv)
    if args.from_json is None and args.san_dir is None:
        p.error('give the SAN folder, or --from-json JSON')
    if args.from_json is not None and args.san_dir is not None:
        p.error('--from-json evaluates nothing: give it without a SAN folder')
    if args.diagnose_pairs is not None and not args.diagnose:
        p.error('--diagnose-pairs needs --diagnose')
    if args.diagnose_pairs is None:
        args.diagnose_pairs = [parse_pair(t) for t in DEFAULT_PAIRS]
    if len(set(args.tests)) != len(args.tests) or any(t <= 0 for t in args.tests):
        p.error(f'--tests {args.tests}: give distinct positive sizes')
    for name in ('calib_images', 'calib_batch_size', 'val_images', 'batch_size'):
        value = getattr(args, name)
        if value is not None and value <= 0:
            p.error(f'--{name.replace("_", "-")} must be positive, got {value}')
    return args


# -- the models --------------------------------------------------------------------------------
def scrub(text: str) -> str:
    """A recorded path or command with this checkout's and the working directory's absolute paths dropped."""
    text = text.replace(sys.executable, 'python')
    for root in sorted({str(REPO), os.getcwd()}, key=len, reverse=True):
        text = text.replace(root + '/', '')
    return text


def load_model_dir(model_dir: Path, data_root: str | None) -> dict:
    """A run.py folder: its config, model (eval mode), training sizes and run record."""
    from benchmarks.imagenette.evaluate import build_model, is_san, model_dir_inputs
    from san_plugin.mm.resolutions import training_sizes
    cfg, checkpoint = model_dir_inputs(model_dir, data_root)
    stated = training_sizes(cfg)
    run_info = json.loads((model_dir / 'timing.json').read_text())
    run_info = {k: scrub(v) if isinstance(v, str) else v for k, v in run_info.items()}
    return dict(cfg=cfg, model=build_model(cfg, checkpoint), san=is_san(cfg), name=model_dir.name,
                train_resolutions=list(stated[0]) if stated else [], dir=scrub(str(model_dir)),
                checkpoint=scrub(checkpoint), config=next(model_dir.glob('*_run_config.py')).name, run_info=run_info)


def normalisation(cfg) -> tuple:
    pre = cfg.get('data_preprocessor', {})
    return (tuple(pre.get('mean', ())), tuple(pre.get('std', ())), bool(pre.get('to_rgb', True)))


def arch_of(entry: dict) -> str:
    """``resnet18`` / ``mobilenetv2`` (run.py's ``--arch``), from the run record or the config."""
    if entry['run_info'].get('arch'):
        return entry['run_info']['arch']
    backbone = entry['cfg'].model.backbone
    return 'mobilenetv2' if backbone.type == 'MobileNetV2' else f"{backbone.type.lower()}{backbone.get('depth', '')}"


# -- which (view, setting) pairs run ---------------------------------------------------------------
def plan_jobs(tests: Sequence[int], train: Sequence[int], baselines: Sequence[str],
              diagnose_views: Sequence[View]) -> dict[View, list[tuple[str, object]]]:
    """``{view: [(setting, row), ...]}``: every setting at every test size's standard view; the SAN's
    proxy rule (row S(size)) and every baseline at each diagnostic view."""
    from san_plugin.core import nearest_resolution
    jobs: dict[View, list[tuple[str, object]]] = {}

    def add(view: View, job: tuple[str, object]) -> None:
        if job not in jobs.setdefault(view, []):
            jobs[view].append(job)

    for t in tests:
        view = View.standard(t)
        for s in train:
            for setting in ('proxy', 'before', 'calibrated'):
                add(view, (setting, s))
        add(view, ('interpolated', None))
        for name in baselines:
            add(view, ('baseline', name))
    for view in diagnose_views:
        add(view, ('proxy', nearest_resolution(view.size, train)))
        for name in baselines:
            add(view, ('baseline', name))
    return jobs


def diagnose_views(pairs) -> list[View]:
    """Per pair (T, [T', ...]): the test crops at T and T', the T crop resized to T' and padded to a larger
    T', and the other test crops at T (``crop_variants``)."""
    views = []
    for size, neighbours in pairs:
        views += [View.standard(size), *(View.standard(n) for n in neighbours)]
        views += [View.standard(size).resized(n) for n in neighbours]
        views += [View.standard(size).padded(n) for n in neighbours if n > size]
        views += list(crop_variants(size).values())
    return list(dict.fromkeys(views))


# -- the evaluation pass -----------------------------------------------------------------------------
@torch.no_grad()  # not inference_mode: MetaConv2d caches kernels by parameter version
def evaluate(models: dict, jobs: dict[View, list], cfg, *, checks: dict[tuple, tuple], batch_size: int,
             num_workers: int, val_images: int | None) -> tuple[dict, dict, int, float]:
    """One pass over the validation set: hits of every job, and the largest logit difference of each
    check (``{key: (T, job_a, job_b)}``: two jobs at the standard view of T).

    Returns:
        ``({(view, job): hits}, {check key: max |logit difference|}, images, wall seconds)``.
    """
    from benchmarks.imagenette.evaluate import collate_views, input_normaliser, view_dataset
    from benchmarks.imagenette.table2_settings import logits
    from benchmarks.imagenette.table2_views import ViewMaker, fit_view
    pixels = list(dict.fromkeys(view.pixels for view in jobs))
    dataset = view_dataset(cfg, ViewMaker(pixels))
    if val_images is not None:
        if val_images > len(dataset):
            raise ValueError(f'--val-images {val_images}: the validation set has {len(dataset)} images')
        dataset = torch.utils.data.Subset(dataset, np.unique(np.linspace(0, len(dataset) - 1, val_images).round()
                                                             .astype(int)).tolist())
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                                         collate_fn=collate_views)
    normalised = input_normaliser(cfg)
    hits = {(view, job): 0 for view, view_jobs in jobs.items() for job in view_jobs}
    gaps = {key: 0.0 for key in checks}
    total, start, batches = 0, time.time(), len(loader)
    for index, (arrays, labels) in enumerate(loader):
        inputs = {p: normalised(a) for p, a in zip(pixels, arrays)}
        for view, view_jobs in jobs.items():
            x = fit_view(inputs[view.pixels], view)
            outputs = {}
            for setting, row in view_jobs:
                if setting == 'baseline':
                    out = logits(models['baseline'][row], x)
                elif setting == 'interpolated':
                    out = logits(models['interpolated'], x)
                elif setting == 'proxy':
                    out = logits(models['proxy'], x, row)
                else:
                    out = logits(models[setting][row], x)
                outputs[setting, row] = out
                hits[view, (setting, row)] += int((out.argmax(1) == labels).sum())
            for key, (t, a, b) in checks.items():
                if view == View.standard(t):
                    gaps[key] = max(gaps[key], float((outputs[a] - outputs[b]).abs().max()))
        total += len(labels)
        if (index + 1) % max(1, batches // 20) == 0 or index + 1 == batches:
            elapsed = time.time() - start
            left = elapsed / (index + 1) * (batches - index - 1)
            print(f'[table2] {total} images, {elapsed:.0f} s, about {left:.0f} s left', flush=True)
    return hits, gaps, total, round(time.time() - start, 1)


def top1(hits: dict, total: int) -> dict:
    return {key: 100.0 * h / max(total, 1) for key, h in hits.items()}


# -- the whole measurement -------------------------------------------------------------------------------
def load_models(args: argparse.Namespace) -> tuple[dict, dict]:
    """The SAN's folder and the baselines' (checked: a SAN, plain models, distinct names, one normalisation)."""
    san = load_model_dir(args.san_dir, args.data_root)
    if not san['san']:
        raise SystemExit(f'{args.san_dir}: its config is not a SAN (model.type SANClassifier with model.san)')
    baselines = {}
    for folder in args.baselines:
        entry = load_model_dir(folder, args.data_root)
        if entry['san']:
            raise SystemExit(f'{folder}: a SAN, not a baseline (a plain model trained at one size)')
        if entry['name'] in baselines or entry['name'] == san['name']:
            raise SystemExit(f'{folder}: two models named {entry["name"]!r}; give folders with distinct names')
        if normalisation(entry['cfg']) != normalisation(san['cfg']):
            raise SystemExit(f'{folder}: its input normalisation {normalisation(entry["cfg"])} differs from the '
                             f'SAN\'s {normalisation(san["cfg"])}; the views are normalised once for all models')
        baselines[entry['name']] = entry
    return san, baselines


def ideal_models(san: dict, tests: Sequence[int], args: argparse.Namespace) -> tuple[dict, dict]:
    """The ideal-inference models (per row before and after calibration, the interpolated one) and the
    calibration record (images, crop, images used and wall time per row and size)."""
    from benchmarks.imagenette.evaluate import input_normaliser
    from benchmarks.imagenette.table2_settings import calibrate_row, interpolated_model, row_model, training_sizes
    from benchmarks.imagenette.table2_views import calibration_set
    print(f'[table2] calibration images: {args.calib_images} from the training split, crop {args.calib_crop!r}',
          flush=True)
    calib = calibration_set(san['cfg'], tests, args.calib_images, crop=args.calib_crop, seed=args.seed,
                            num_workers=args.num_workers)
    normalised = input_normaliser(san['cfg'])
    batch = args.calib_batch_size or san['cfg'].train_dataloader.batch_size

    def batches_at(t: int):
        images = calib.images[t]
        return (normalised(images[i:i + batch]) for i in range(0, len(images), batch))

    models = dict(before={}, calibrated={})
    used, seconds = {}, {}
    for s in training_sizes(san['model']):
        models['before'][s] = row_model(san['model'], tests, source=s)
        models['calibrated'][s], used[s], seconds[s] = calibrate_row(models['before'][s], batches_at, tests, s)
        print(f'[table2] row {s}: calibrated at {len(tests)} sizes in {sum(seconds[s].values()):.0f} s', flush=True)
    models['interpolated'], weights = interpolated_model(san['model'], tests)
    record = dict(
        num_images=len(calib.paths), split='train', crop=args.calib_crop,
        step={k: list(v) if isinstance(v, tuple) else v for k, v in calib.step.items()},
        seed=args.seed, batch_size=batch, statistics='exact averages (calibrate_bn)',
        images_used={str(s): {str(t): n for t, n in row.items()} for s, row in used.items()},
        wall_s={str(s): {str(t): v for t, v in row.items()} for s, row in seconds.items()},
        total_wall_s=round(sum(sum(row.values()) for row in seconds.values()), 1),
        decode_wall_s=calib.decode_wall_s, paths=calib.paths,
        interpolation_weights={str(t): {str(s): w for s, w in ws.items()} for t, ws in weights.items()})
    return models, record


def grid_cells(acc: dict, tests: Sequence[int], train: Sequence[int], baselines: Sequence[str]) -> dict:
    """The top-1 of every setting at every test size's standard view, by setting, row and size."""
    cells = dict(proxy={}, before={}, calibrated={}, interpolated={}, baselines={n: {} for n in baselines})
    for t in tests:
        view = View.standard(t)
        for s in train:
            for setting in ('proxy', 'before', 'calibrated'):
                cells[setting].setdefault(str(s), {})[str(t)] = acc[view, (setting, s)]
        cells['interpolated'][str(t)] = acc[view, ('interpolated', None)]
        for name in baselines:
            cells['baselines'][name][str(t)] = acc[view, ('baseline', name)]
    return cells


def measure(args: argparse.Namespace, argv: Sequence[str] | None) -> dict:
    """Every cell of the report (and the diagnosis with ``--diagnose``), with what made them."""
    from san_plugin.core import nearest_resolution
    started = time.time()
    san, baselines = load_models(args)
    tests = sorted(args.tests, reverse=True)
    train = sorted(san['train_resolutions'], reverse=True)
    models, calibration = ideal_models(san, tests, args)
    models.update(proxy=san['model'], baseline={n: e['model'] for n, e in baselines.items()})
    jobs = plan_jobs(tests, train, list(baselines), diagnose_views(args.diagnose_pairs) if args.diagnose else [])
    checks = {}  # at a training size, ideal inference before calibration and interpolation are the proxy cell
    for t in tests:
        if t in train:
            checks[t, 'before_vs_proxy'] = (t, ('before', t), ('proxy', t))
            checks[t, 'interpolated_vs_proxy'] = (t, ('interpolated', None), ('proxy', t))
    hits, gaps, total, eval_wall = evaluate(models, jobs, san['cfg'], checks=checks, batch_size=args.batch_size,
                                            num_workers=args.num_workers, val_images=args.val_images)
    acc = top1(hits, total)
    differences: dict[str, dict[str, float]] = {}
    for (t, name), gap in gaps.items():
        differences.setdefault(str(t), {})[name] = gap
    result = dict(
        arch=arch_of(san), tests=tests, train_resolutions=train, num_images=total,
        val_images=None if args.val_images is None else total,
        proxy_row={str(t): nearest_resolution(t, train) for t in tests},
        san=_record(san), baselines={n: _record(e) for n, e in baselines.items()},
        cells=grid_cells(acc, tests, train, list(baselines)),
        interpolation_weights=calibration.pop('interpolation_weights'),
        checks=dict(max_abs_logit_difference=differences),
        calibration=calibration,
        cost=dict(eval_wall_s=eval_wall, forwards_per_image=sum(len(j) for j in jobs.values()),
                  threads=torch.get_num_threads(), batch_size=args.batch_size),
        command=scrub(shlex.join(['python', 'benchmarks/imagenette/table2.py',
                                  *(sys.argv[1:] if argv is None else argv)])),
        machine=dict(platform=platform.platform(), processor=platform.processor() or platform.machine(),
                     cpus=os.cpu_count(), torch=torch.__version__),
        started=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(started)),
    )
    if args.diagnose:
        result['diagnose'] = diagnosis(args.diagnose_pairs, acc, train, san, baselines, tests)
    result['cost']['total_wall_s'] = round(time.time() - started, 1)
    return result


def _record(entry: dict) -> dict:
    return {k: entry[k] for k in ('dir', 'config', 'checkpoint', 'train_resolutions', 'run_info')}


def diagnosis(pairs, acc: dict, train: Sequence[int], san: dict, baselines: dict, tests: Sequence[int]) -> dict:
    """The ``--diagnose`` tables: feature-map sizes, the same pixels at other sizes, other test crops."""
    from benchmarks.imagenette.table2_settings import feature_map_sizes
    from san_plugin.core import nearest_resolution
    models = {san['name']: None, **{n: ('baseline', n) for n in baselines}}

    def cell(view: View, name: str) -> float:
        job = models[name] or ('proxy', nearest_resolution(view.size, train))
        return acc[view, job]

    sizes = sorted(set(tests) | {s for size, others in pairs for s in (size, *others)}, reverse=True)
    maps = {san['name']: feature_map_sizes(san['model'], sizes),
            **{n: feature_map_sizes(e['model'], sizes) for n, e in baselines.items()}}
    resized = []
    for size, neighbours in pairs:
        at = View.standard(size)
        for other in neighbours:
            for name in models:
                resized.append(dict(model=name, size=size, to=other, at_size=cell(at, name),
                                    resized=cell(at.resized(other), name),
                                    padded=cell(at.padded(other), name) if other > size else None,
                                    at_to=cell(View.standard(other), name)))
    crops = []
    for size, _ in pairs:
        for variant, view in crop_variants(size).items():
            crops.append(dict(size=size, variant=variant, short=view.short, crop=view.crop, resized_to=view.size,
                              field_of_view=round(view.crop / view.short, 4),
                              top1={name: cell(view, name) for name in models}))
    return dict(pairs=[[size, list(others)] for size, others in pairs], sizes=sizes, feature_maps=maps,
                models={san['name']: 'the SAN, proxy inference: row S(size) at each input size',
                        **{n: 'baseline' for n in baselines}},
                resized=resized, crops=crops)


def output(prefix: Path, suffix: str) -> Path:
    """``PREFIX.json`` etc. (a dot in the prefix, as in ``lr0.05``, stays)."""
    return Path(f'{prefix}{suffix}')


def write(result: dict, prefix: Path) -> list[Path]:
    """``PREFIX.json`` (with the summary the markdown states), then the markdown and figure from it."""
    from benchmarks.imagenette.table2_report import summarise
    prefix.parent.mkdir(parents=True, exist_ok=True)
    json_path = output(prefix, '.json')
    result['summary'] = summarise(result)
    json_path.write_text(json.dumps(result, indent=2) + '\n')
    return [json_path, *from_json(json_path, prefix)]


def from_json(json_path: Path, prefix: Path | None = None) -> list[Path]:
    """Writes ``PREFIX.md`` and ``PREFIX.png`` from a results json (default prefix: the json's path without
    ``.json``)."""
    from benchmarks.imagenette.table2_report import markdown, plot
    json_path = Path(json_path)
    if json_path.suffix != '.json':
        raise SystemExit(f'--from-json {json_path}: expected a .json written by this script')
    result = json.loads(json_path.read_text())
    prefix = json_path.with_suffix('') if prefix is None else Path(prefix)
    png = plot(result, output(prefix, '.png'))
    md = output(prefix, '.md')
    md.write_text(markdown(result, png.name if png else None))
    return [p for p in (md, png) if p]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.from_json is not None:
        paths = from_json(args.from_json, Path(args.out) if args.out else None)
    else:
        result = measure(args, argv)
        paths = write(result, Path(args.out or f'benchmarks/results/imagenette_table2_{result["arch"]}'))
    print('wrote ' + ', '.join(str(p) for p in paths), flush=True)


if __name__ == '__main__':
    main()
