"""Multi-resolution testing two ways, on one model and one set of images: equal scores, which is faster.

* ``mmpretrain``: the toolbox's own recipe, a ``TestTimeAug`` test pipeline (one resize + centre
  crop per size) and ``AverageClsScoreTTA`` (each view a batch of ``DataSample`` predictions, their
  ``pred_score`` averaged per image);
* ``san_plugin``: what ``tools/test.py --tta`` runs, a ``MultiResolutionTest`` pipeline and
  :class:`san_plugin.mm.tta.MultiResolutionTTA` (each view's softmax as one tensor, averaged).

Both decode each image once and make the same crops (the config's ``eval_resize``). The passes
alternate (``--repeats`` of each, the median kept), so a ratio is measured in one run::

    python benchmarks/tta_paths.py --data-root ../shared/data/imagenette --images 1000 --threads 1

writes ``benchmarks/results/tta_paths.{md,json}``. ``--tiny`` runs the demo config on generated images;
``--from benchmarks/results/tta_paths.json`` writes the markdown again from the json (nothing measured).
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import torch

from benchmarks.portable_paths import portable
from benchmarks.results_json import read_results

ROOT = Path(__file__).resolve().parents[1]
SAN_CONFIG = ROOT / 'configs' / 'imagenette' / 'san_resnet18_imagenette.py'
TINY_CONFIG = ROOT / 'configs' / 'demo' / 'san_resnet18_demo.py'


def mmpretrain_tta_config(cfg, sizes: Sequence[int], crop_ratio: float):
    """``cfg`` rewritten as mmpretrain's documentation does test-time augmentation: ``TestTimeAug``
    with one standard test crop per size after the image loader, the model in ``AverageClsScoreTTA``."""
    from san_plugin.mm.eval_pipeline import is_image_loader
    from san_plugin.mm.transforms import eval_resize_steps
    cfg = copy.deepcopy(cfg)
    pipeline = cfg.test_dataloader.dataset.pipeline
    loader = next(step for step in pipeline if is_image_loader(step))
    options = dict(cfg.get('eval_resize') or {})
    views = [dict(type='Compose', transforms=eval_resize_steps(s, crop_ratio, **options)) for s in sizes]
    cfg.test_dataloader.dataset.pipeline = [loader, dict(type='TestTimeAug', transforms=[views, [pipeline[-1]]])]
    cfg.model = dict(type='AverageClsScoreTTA', module=cfg.model)
    return cfg


def plugin_tta_config(cfg, sizes: Sequence[int], crop_ratio: float):
    """``cfg`` rewritten as ``tools/test.py --tta`` does it."""
    from san_plugin.mm.tta import set_multi_resolution_tta
    cfg = copy.deepcopy(cfg)
    set_multi_resolution_tta(cfg, sizes, crop_ratio)
    return cfg


def scores_and_seconds(cfg, state: dict) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The averaged scores and the labels of every test image under ``cfg`` (model and loader built
    from it, the weights ``state`` loaded) and the seconds of the pass (loading and model, not the build)."""
    from mmengine.runner import Runner
    from mmpretrain.registry import MODELS
    model = MODELS.build(cfg.model).eval()
    model.module.load_state_dict(state)
    loader = Runner.build_dataloader(cfg.test_dataloader)
    scores, labels = [], []
    start = time.perf_counter()
    with torch.no_grad():
        for batch in loader:
            for sample in model.test_step(batch):
                scores.append(sample.pred_score)
                labels.append(sample.gt_label)
    return torch.stack(scores), torch.cat(labels), time.perf_counter() - start


def compare(cfg, sizes: Sequence[int], crop_ratio: float, repeats: int,
            state: dict) -> dict:
    """Both paths, alternating, ``repeats`` passes each: scores' largest difference, median seconds."""
    paths: dict[str, Callable] = {'mmpretrain': mmpretrain_tta_config, 'san_plugin': plugin_tta_config}
    configs = {name: make(cfg, sizes, crop_ratio) for name, make in paths.items()}
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    scores: dict[str, torch.Tensor] = {}
    for _ in range(repeats):
        for name, path_cfg in configs.items():
            scores[name], labels, wall = scores_and_seconds(path_cfg, state)
            seconds[name].append(wall)
    a, b = scores['mmpretrain'], scores['san_plugin']
    median = {name: statistics.median(values) for name, values in seconds.items()}
    return dict(sizes=list(sizes), images=int(a.size(0)), repeats=repeats,
                max_abs_difference=float((a - b).abs().max()),
                same_top1=bool(torch.equal(a.argmax(1), b.argmax(1))),
                top1=round(100.0 * float((b.argmax(1) == labels).float().mean()), 2),
                seconds={name: [round(v, 3) for v in values] for name, values in seconds.items()},
                median_seconds={name: round(v, 3) for name, v in median.items()},
                plugin_speedup=round(median['mmpretrain'] / median['san_plugin'], 3))


def write_report(result: dict, out: Path, write_json: bool = True) -> None:
    """The markdown (and, with ``write_json``, the json) of one comparison; the command is printed
    without its ``--note`` (the note follows on its own) and without the machine's paths."""
    command = result['command'].replace(f" --note {result['note']}", '') if result.get('note') else result['command']
    lines = ['# Multi-resolution testing: mmpretrain\'s TestTimeAug vs san_plugin\'s MultiResolutionTTA', '',
             f'Written by `benchmarks/tta_paths.py` (`{portable(command)}`).', '',
             f'Model: {portable(result["model"])}; {result["images"]} test images; views {result["sizes"]}; '
             f'{result["threads"]} torch thread(s), loader in the main process; median of {result["repeats"]} '
             f'alternating passes per path.' + (f' {result["note"]}' if result.get('note') else ''), '',
             '| path | median s / pass | passes (s) |', '| --- | --- | --- |']
    for name, median in result['median_seconds'].items():
        lines.append(f'| {name} | {median:.2f} | {", ".join(f"{v:.2f}" for v in result["seconds"][name])} |')
    lines += ['', f'- san_plugin / mmpretrain speed: **{result["plugin_speedup"]:.2f}x** '
                  '(mmpretrain seconds / san_plugin seconds).',
              f'- Largest difference of the averaged scores: {result["max_abs_difference"]:.2e}; '
              f'same top-1 for every image: {result["same_top1"]} (top-1 of the averaged scores: {result["top1"]:.2f}%).',
              '']
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.md').write_text('\n'.join(lines))
    if write_json:
        out.with_suffix('.json').write_text(json.dumps(result, indent=1) + '\n')


def tiny_setup(root: Path) -> tuple[str, dict]:
    """The demo config on a generated image folder (the layout of the real data)."""
    from san_plugin.data.synthetic import generate_dataset
    generate_dataset(root, num_train_per_class=1, num_val_per_class=2, image_size=48)
    return str(TINY_CONFIG), {'test_dataloader.dataset.data_root': str(root)}


def main(argv: Sequence[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', default=str(SAN_CONFIG))
    p.add_argument('--data-root', help='the data root of the config\'s test set (Imagenette: ../shared/data/imagenette)')
    p.add_argument('--checkpoint', help='weights to load (default: the config\'s initialisation, seed 0)')
    p.add_argument('--sizes', type=int, nargs='+', default=[64, 48])
    p.add_argument('--images', type=int, default=1000, help='the first N test images')
    p.add_argument('--batch-size', type=int, default=50)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--note', default='', help='a sentence on the conditions, written into the report')
    p.add_argument('--tiny', action='store_true', help='the demo config on generated images (a smoke run)')
    p.add_argument('--out', type=Path, default=ROOT / 'benchmarks' / 'results' / 'tta_paths')
    p.add_argument('--from', dest='from_json', metavar='REPORT.json',
                   help="write the markdown again from this report's json (nothing measured)")
    args = p.parse_args(argv)
    if args.from_json is not None:
        result = read_results(args.from_json, 'tta_paths.py', required=('median_seconds', 'command', 'model'))
        write_report(result, args.out, write_json=False)
        return result
    torch.set_num_threads(args.threads)
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    from san_plugin.mm.cli.config import load_config
    from san_plugin.mm.model_from_config import model_config
    from san_plugin.mm.transforms import TEST_CROP_RATIO
    with tempfile.TemporaryDirectory() as tmp:
        config, options = tiny_setup(Path(tmp)) if args.tiny else (args.config, {})
        if args.data_root:
            options['test_dataloader.dataset.data_root'] = args.data_root
        options.update({'test_dataloader.batch_size': args.batch_size, 'test_dataloader.num_workers': 0,
                        'test_dataloader.persistent_workers': False,
                        'test_dataloader.dataset.indices': args.images})
        cfg = load_config(config, options)
        init_default_scope(cfg.get('default_scope', 'mmpretrain'))
        cfg.model = model_config(cfg)
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        if args.checkpoint:
            from mmengine.runner import load_checkpoint
            load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
        result = compare(cfg, sorted(args.sizes, reverse=True), TEST_CROP_RATIO, args.repeats, model.state_dict())
    result.update(model=f'{Path(config).name}' + (f' + {args.checkpoint}' if args.checkpoint else ' (seed-0 init)'),
                  threads=args.threads, note=args.note, command='python benchmarks/tta_paths.py ' + ' '.join(sys.argv[1:] if argv is None else argv))
    write_report(result, args.out)
    print(json.dumps({k: result[k] for k in ('median_seconds', 'plugin_speedup', 'max_abs_difference')}))
    return result


if __name__ == '__main__':
    main()
