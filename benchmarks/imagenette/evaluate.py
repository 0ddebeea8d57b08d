"""Top-1 of one checkpoint on the validation set at every test resolution, and multi-resolution testing.

Each validation image is decoded once and cropped at every test resolution (the standard test
crop: resize the short side to T / 0.875 with antialiased pillow bicubic, center crop T). A plain
model gives one row; a SAN gives one row per BN branch/encoding (``rows='full'``: every training
resolution on every batch) or only the proxy row (``rows='proxy'``: each test resolution with its
nearest training resolution's branch). Proxy cells are those whose row is S(T).

Multi-resolution testing (``tta``): the softmax of the model's predictions at several sizes of
the same image, averaged (a SAN: its proxy predictions; a baseline: itself at those sizes), from
the same decoded views. Its cost is the sum of the views' GFLOPs, counted once per model and size
on the deployed model (a SAN baked for that size). ``add_tta`` adds the combinations to an
existing ``eval.json`` without re-evaluating the rest:

    python benchmarks/imagenette/evaluate.py WORK_DIR/san [WORK_DIR/baseline_64 ...] \\
        [--tta 64,56 56,48 ...] [--force-tta] [--data-root DIR] [--threads 2]

(it reads the config ``run.py`` dumped into each model's folder and the checkpoint named in its
``timing.json``, looked up in that folder first).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from benchmarks.imagenette.common import TEST_RESOLUTIONS, TRAIN_RESOLUTIONS


def default_tta(train_resolutions: Sequence[int] = TRAIN_RESOLUTIONS,
                test_resolutions: Sequence[int] = TEST_RESOLUTIONS) -> list[tuple[int, int]]:
    """Each training size with the next smaller one, and each test size above the largest training
    size with the largest.

    Example:
        >>> default_tta()
        [(80, 64), (72, 64), (64, 56), (56, 48), (48, 40), (40, 32)]
    """
    train = sorted(set(train_resolutions), reverse=True)
    above = [(t, train[0]) for t in sorted(set(test_resolutions), reverse=True) if t > train[0]]
    return above + list(zip(train, train[1:]))


DEFAULT_TTA = default_tta()


def views_key(combination: Iterable[int]) -> str:
    """``(64, 56)`` -> ``'64+56'``: how ``eval.json`` and the report name a combination."""
    return '+'.join(str(s) for s in sorted(combination, reverse=True))


def parse_combination(text: str) -> tuple[int, ...]:
    """``'64,56'`` (or ``'64+56'``) -> ``(64, 56)``, checked: two or more distinct positive sizes."""
    from san_plugin.evaluation import tta_views
    try:
        return tta_views(int(s) for s in text.replace('+', ',').split(','))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f'--tta {text!r}: give sizes such as 64,56 ({error})') from error


def collate_views(samples: list[dict]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Samples whose ``img`` is a list of views -> ``([(N, H, W, C) uint8 per view], labels)``."""
    views = [torch.from_numpy(np.stack([s['img'][i] for s in samples])) for i in range(len(samples[0]['img']))]
    labels = torch.tensor([int(np.asarray(s['gt_label']).reshape(-1)[0]) for s in samples])
    return views, labels


def input_normaliser(cfg) -> Callable[[torch.Tensor], torch.Tensor]:
    """``(N, H, W, C)`` views as the loader gives them (``LoadImageFromFile``: BGR, 0..255) -> the model's
    normalised ``(N, C, H, W)`` float input (the config's data preprocessor: mean, std, ``to_rgb``)."""
    preprocessor = cfg.get('data_preprocessor', {})
    mean = torch.tensor(preprocessor.get('mean', [123.675, 116.28, 103.53])).view(1, 3, 1, 1)
    std = torch.tensor(preprocessor.get('std', [58.395, 57.12, 57.375])).view(1, 3, 1, 1)
    to_rgb = preprocessor.get('to_rgb', True)

    def normalised(view: torch.Tensor) -> torch.Tensor:
        x = view.permute(0, 3, 1, 2).float()
        if to_rgb:
            x = x.flip(1)
        return (x - mean) / std
    return normalised


def build_model(cfg, checkpoint: str) -> torch.nn.Module:
    """The config's model with the checkpoint's weights (the plugin's safe loader), in eval mode."""
    import san_plugin.mm  # noqa: F401  (registers the plugin, safe checkpoint loading)
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model.copy()
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = MODELS.build(model_cfg)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True, logger='silent')
    return model.eval()


def is_san(cfg) -> bool:
    return cfg.model.type == 'SANClassifier' and cfg.model.get('san') is not None


def gflops_per_size(model: torch.nn.Module, sizes: Iterable[int]) -> dict[str, float]:
    """GFLOPs of one image at each size, on what a deployment runs (a SAN baked for the size)."""
    from san_plugin.evaluation import deployed_gflops
    return {str(t): g for t, g in sorted(deployed_gflops(model, sizes).items(), reverse=True)}


def view_dataset(cfg, views_step, split: str = 'val'):
    """The images of the config's validation (``split='val'``) or training (``'train'``) dataset, each
    decoded once (``LoadImageFromFile``) and turned into a list of views by ``views_step`` (a transform
    dict or a callable)."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    loaders = {'val': cfg.get('val_dataloader') or cfg.test_dataloader, 'train': cfg.get('train_dataloader')}
    if loaders.get(split) is None:
        raise ValueError(f'the config has no {split} dataloader (split must be one of {sorted(loaders)})')
    dataset_cfg = loaders[split].dataset.copy()
    dataset_cfg.pipeline = [dict(type='LoadImageFromFile'), views_step]
    return DATASETS.build(dataset_cfg)


def _loader(cfg, sizes: Sequence[int], batch_size: int, num_workers: int):
    """The validation images, each decoded once and cropped at every one of ``sizes``."""
    dataset = view_dataset(cfg, dict(type='MultiResolutionTest', resolutions=list(sizes), backend='pillow',
                                     interpolation='bicubic'))
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                                       collate_fn=collate_views)


@torch.no_grad()  # not inference_mode: MetaConv2d caches kernels by parameter version
def _evaluate(model, cfg, row_sets: dict[int, list], proxy: dict[int, int | str],
              tta: Sequence[tuple[int, ...]], *, batch_size: int, num_workers: int):
    """Hits of every (test size, row) in ``row_sets`` and of every multi-resolution combination
    (the softmax of the ``proxy`` row at each of its sizes, averaged), one decode per image."""
    from san_plugin.core import san_resolution
    tta_sizes = {s for combination in tta for s in combination}
    sizes = sorted(set(row_sets) | tta_sizes, reverse=True)
    normalised = input_normaliser(cfg)

    def logits_of(x: torch.Tensor, row: int | str) -> torch.Tensor:
        if row == 'baseline':
            return model(x, mode='tensor')
        with san_resolution(model.backbone, row):
            return model(x, mode='tensor')

    correct = {t: {r: 0 for r in rows} for t, rows in row_sets.items()}
    tta_correct = {combination: 0 for combination in tta}
    total = 0
    for views, labels in _loader(cfg, sizes, batch_size, num_workers):
        total += len(labels)
        scores = {}
        for t, view in zip(sizes, views):
            x = normalised(view)
            rows = list(row_sets.get(t, []))
            if t in tta_sizes and proxy[t] not in rows:
                rows.append(proxy[t])
            for row in rows:
                logits = logits_of(x, row)
                if row in correct.get(t, {}):
                    correct[t][row] += int((logits.argmax(1) == labels).sum())
                if t in tta_sizes and row == proxy[t]:
                    scores[t] = torch.softmax(logits, dim=1)
        for combination in tta:
            averaged = torch.stack([scores[s] for s in combination]).mean(dim=0)
            tta_correct[combination] += int((averaged.argmax(1) == labels).sum())
    return correct, tta_correct, total


def _proxy_rows(cfg, sizes: Iterable[int]) -> tuple[list[int], dict[int, int | str]]:
    """The SAN's training resolutions and each size's proxy row (``'baseline'`` for a plain model)."""
    from san_plugin.core import nearest_resolution
    if not is_san(cfg):
        return [], {t: 'baseline' for t in sizes}
    train = sorted(cfg.model.san.resolutions, reverse=True)
    return train, {t: nearest_resolution(t, train) for t in sizes}


def _tta_entries(tta: Sequence[tuple[int, ...]], hits: dict, total: int) -> dict[str, dict]:
    return {views_key(c): dict(resolutions=list(c), top1=100.0 * hits[c] / max(total, 1)) for c in tta}


def _combinations(tta: Iterable[Iterable[int]]) -> list[tuple[int, ...]]:
    """Checked combinations, largest size first, each once (``ValueError`` names a bad one)."""
    from san_plugin.evaluation import tta_views
    return list(dict.fromkeys(tta_views(c) for c in tta))


def evaluate_checkpoint(cfg, checkpoint: str, test_resolutions: Sequence[int], *, rows: str = 'full',
                        tta: Iterable[Iterable[int]] = DEFAULT_TTA, batch_size: int = 100,
                        num_workers: int = 2) -> dict:
    """``{'rows': {row: {T: top1}}, 'proxy': {T: row}, 'train_resolutions': [...], 'num_images': n,
    'tta': {'64+56': {'resolutions': [64, 56], 'top1': ...}}, 'gflops': {T: GFLOPs}, ...}``.

    ``row`` is the SAN branch's training resolution, or ``'baseline'`` for a plain model; ``tta``
    averages the softmax of the proxy row (a baseline: the model) over each combination's sizes.
    ``gflops`` covers every test size and every combination's sizes.

    Example:
        >>> evaluate_checkpoint(cfg, 'work/san/epoch_15.pth', [64, 48], tta=[(64, 56)])['tta']['64+56']['top1']
    """
    model = build_model(cfg, checkpoint)
    tta = _combinations(tta)
    test_resolutions = sorted({int(t) for t in test_resolutions}, reverse=True)
    sizes = sorted(set(test_resolutions) | {s for c in tta for s in c}, reverse=True)
    train_resolutions, proxy = _proxy_rows(cfg, sizes)
    if not train_resolutions:
        row_sets = {t: ['baseline'] for t in test_resolutions}
    elif rows == 'full':
        row_sets = {t: list(train_resolutions) for t in test_resolutions}
    else:
        row_sets = {t: [proxy[t]] for t in test_resolutions}
    correct, tta_correct, total = _evaluate(model, cfg, row_sets, proxy, tta, batch_size=batch_size,
                                            num_workers=num_workers)
    table: dict[str, dict[str, float]] = {}
    for t in test_resolutions:
        for row, hits in correct[t].items():
            table.setdefault(str(row), {})[str(t)] = 100.0 * hits / max(total, 1)
    return dict(rows=table, proxy={str(t): proxy[t] for t in test_resolutions} if train_resolutions else {},
                train_resolutions=train_resolutions, test_resolutions=test_resolutions, num_images=total,
                row_mode=rows if train_resolutions else 'baseline', tta=_tta_entries(tta, tta_correct, total),
                gflops=gflops_per_size(model, sizes))


def add_tta(eval_json: str | Path, cfg, checkpoint: str, tta: Iterable[Iterable[int]] = DEFAULT_TTA, *,
            force: bool = False, batch_size: int = 100, num_workers: int = 2) -> dict:
    """Adds multi-resolution entries (and the GFLOPs they need) to an existing ``eval.json``.

    Only the combinations it lacks are evaluated (all of them with ``force``); the single-size
    cells are left as they are. The file is rewritten atomically.

    Raises:
        FileNotFoundError: no ``eval_json``.
        ValueError: the validation set now has another number of images than the file's.

    Example:
        >>> add_tta('work_dirs/imagenette/san/eval.json', cfg, 'work_dirs/imagenette/san/epoch_15.pth')
    """
    path = Path(eval_json)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: no evaluation to add multi-resolution entries to (run the eval step)')
    result = json.loads(path.read_text())
    tta = _combinations(tta)
    done = result.get('tta', {})
    missing = [c for c in tta if force or views_key(c) not in done]
    sizes = set(result['test_resolutions']) | {s for c in tta for s in c}
    uncounted = [t for t in sizes if str(t) not in result.get('gflops', {})]
    if not missing and not uncounted:
        return result
    start = time.time()
    model = build_model(cfg, checkpoint)
    if missing:
        _, proxy = _proxy_rows(cfg, {s for c in missing for s in c})
        _, hits, total = _evaluate(model, cfg, {}, proxy, missing, batch_size=batch_size, num_workers=num_workers)
        if total != result['num_images']:
            raise ValueError(f'{path} was measured on {result["num_images"]} images, the validation set now has '
                             f'{total}: re-evaluate the model instead')
        result['tta'] = {**done, **_tta_entries(missing, hits, total)}
    result['gflops'] = {**result.get('gflops', {}), **gflops_per_size(model, uncounted)}
    result['gflops'] = dict(sorted(result['gflops'].items(), key=lambda kv: -int(kv[0])))
    result['tta_wall_s'] = round(time.time() - start, 1)
    partial = path.with_name(path.name + '.partial')
    partial.write_text(json.dumps(result, indent=2))
    os.replace(partial, path)
    return result


def model_dir_inputs(model_dir: Path, data_root: str | None = None):
    """The config ``run.py`` dumped into a model's folder (its loaders' data root set to ``data_root``
    if given) and its checkpoint (``timing.json``'s, looked up in the folder first, so a copied folder works)."""
    from mmengine.config import Config
    configs = sorted(model_dir.glob('*_run_config.py'))
    timing = model_dir / 'timing.json'
    if not configs or not timing.is_file():
        raise FileNotFoundError(f'{model_dir}: expected <model>_run_config.py and timing.json (written by run.py)')
    cfg = Config.fromfile(str(configs[0]))
    if data_root is not None:
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            if cfg.get(key):
                cfg[key].dataset.data_root = data_root
    recorded = Path(json.loads(timing.read_text())['checkpoint'])
    checkpoint = model_dir / recorded.name if (model_dir / recorded.name).is_file() else recorded
    if not checkpoint.is_file():
        raise FileNotFoundError(f'{model_dir}: checkpoint {recorded} not found (neither in the folder nor as recorded)')
    return cfg, str(checkpoint)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('model_dirs', nargs='+', type=Path, help="run.py's per-model folders (with eval.json)")
    p.add_argument('--tta', nargs='+', type=parse_combination, default=DEFAULT_TTA, metavar='S1,S2',
                   help=f'combinations (default: {" ".join(views_key(c) for c in DEFAULT_TTA)})')
    p.add_argument('--force-tta', action='store_true', help='re-evaluate combinations that are there')
    p.add_argument('--data-root', help="the validation data's root, if it moved since training")
    p.add_argument('--batch-size', type=int, default=100)
    p.add_argument('--num-workers', type=int, default=2)
    p.add_argument('--threads', type=int, help='torch threads')
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    for model_dir in args.model_dirs:
        cfg, checkpoint = model_dir_inputs(model_dir, args.data_root)
        result = add_tta(model_dir / 'eval.json', cfg, checkpoint, args.tta, force=args.force_tta,
                         batch_size=args.batch_size, num_workers=args.num_workers)
        print(f'[{model_dir.name}] ' + ', '.join(f'{k}: {v["top1"]:.2f}' for k, v in result['tta'].items()), flush=True)


if __name__ == '__main__':
    main()
