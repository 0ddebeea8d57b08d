"""Data-pipeline throughput: dataset + transforms + collate, and the preprocessor's cost."""
from __future__ import annotations

import os
import time
from typing import Sequence

import torch
from torch.utils.data import DataLoader

from benchmarks.perf_common import MEAN, STD, interleaved_medians, median


def pipelines(resolutions: Sequence[int]) -> dict[str, list[dict]]:
    """The training pipelines compared, all with pillow bicubic resizing."""
    largest = max(resolutions)
    load = dict(type='LoadImageFromFile')
    pack = dict(type='PackInputs')
    return {
        'standard': [load, dict(type='RandomResizedCrop', scale=largest, backend='pillow', interpolation='bicubic'),
                     dict(type='RandomFlip', prob=0.5, direction='horizontal'), pack],
        'multi': [load, dict(type='MultiResolution', resolutions=list(resolutions)), pack],
        'multi_from_largest': [load, dict(type='MultiResolution', resolutions=list(resolutions),
                                          views_from='largest'), pack],
        'largest_only': [load, dict(type='MultiResolution', resolutions=list(resolutions), largest_only=True), pack],
    }


def _loader(data_root: str, pipeline: list[dict], images: int, batch: int, workers: int) -> DataLoader:
    from mmengine.dataset import default_collate
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS
    import san_plugin.mm  # noqa: F401

    init_default_scope('mmpretrain')
    dataset = DATASETS.build(dict(type='CustomDataset', data_root=data_root, data_prefix='train',
                                  pipeline=pipeline, indices=images))
    return DataLoader(dataset, batch_size=batch, num_workers=workers, collate_fn=default_collate,
                      persistent_workers=workers > 0, shuffle=False, drop_last=False)


def _one_pass(loader: DataLoader) -> int:
    count = 0
    for batch in loader:
        inputs = batch['inputs']
        count += (inputs[0] if isinstance(inputs, list) else inputs).shape[0]
    return count


def loader_throughput(data_root: str, resolutions: Sequence[int], images: int, batch: int, workers: int,
                      repeats: int) -> dict:
    """Images/s of each pipeline, passes interleaved; the first pass (worker start, page cache) untimed."""
    loaders = {name: _loader(data_root, p, images, batch, workers) for name, p in pipelines(resolutions).items()}
    counts = {name: len(loader.dataset) for name, loader in loaders.items()}
    times = interleaved_medians({name: (lambda l=loader: _one_pass(l)) for name, loader in loaders.items()},
                                repeats=repeats, warmup=1)
    sample_batches = {name: next(iter(loader)) for name, loader in loaders.items()}
    del loaders
    return {name: dict(images=counts[name], seconds=median(t), images_per_s=counts[name] / median(t),
                       samples=[round(counts[name] / s, 1) for s in t])
            for name, t in times.items()} | {'_batches': sample_batches}


def preprocessor_cost(batches: dict, resolutions: Sequence[int], repeats: int) -> dict:
    """Seconds per image of the data preprocessor on each pipeline's batch (main process, CPU).

    ``standard``: one view normalised; ``multi``: every view normalised; ``largest_only``:
    the largest view normalised and resized to every other resolution on the device.
    """
    from mmpretrain.registry import MODELS
    common = dict(type='SANDataPreprocessor', num_classes=10, mean=MEAN, std=STD, to_rgb=True)
    preprocessors = {
        'standard': MODELS.build(common),
        'multi': MODELS.build(common),
        'multi_from_largest': MODELS.build(common),
        'largest_only': MODELS.build(dict(common, resize_on_device=True, resolutions=list(resolutions))),
    }
    fns = {name: (lambda p=p, b=batches[name]: p(b, True)) for name, p in preprocessors.items()}
    times = interleaved_medians(fns, repeats=repeats, warmup=1)
    out = {}
    for name, t in times.items():
        inputs = batches[name]['inputs']
        n = (inputs[0] if isinstance(inputs, list) else inputs).shape[0]
        views = preprocessors[name](batches[name], True)['inputs']
        out[name] = dict(seconds_per_image=median(t) / n, batch=n,
                         views=len(views) if isinstance(views, list) else 1)
    return out


def data_pipeline(data_root: str | None, resolutions: Sequence[int], images: int, batch: int, workers: int,
                  repeats: int) -> dict:
    """The data-pipeline figure; ``{'skipped': reason}`` when the data directory is missing."""
    if not data_root or not os.path.isdir(os.path.join(data_root, 'train')):
        return {'skipped': f'data directory {data_root!r} (with a train/ folder) not found'}
    start = time.perf_counter()
    loaders = loader_throughput(data_root, resolutions, images, batch, workers, repeats)
    batches = loaders.pop('_batches')
    prep = preprocessor_cost(batches, resolutions, repeats=max(3, repeats))
    combined = {name: 1.0 / (1.0 / loaders[name]['images_per_s'] + prep[name]['seconds_per_image'])
                for name in loaders}
    return dict(data_root=data_root, images=images, batch=batch, workers=workers, repeats=repeats,
                threads=torch.get_num_threads(), loaders=loaders, preprocessor=prep, combined=combined,
                seconds=time.perf_counter() - start)
