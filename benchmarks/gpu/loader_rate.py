"""Does the training loader keep up with the GPU step? Images/s of the ImageNet config's loader.

Generated ImageNet-size JPEGs (500x375 and similar, photo-like content) are read through the
ImageNet configs' training pipeline (``configs/_base_/datasets/imagenet_san.py``:
``SafeLoadImageFromFile`` + ``MultiResolution(largest_only=True)`` + ``PackInputs``), batched by
``default_collate`` in worker processes (pinned memory on a GPU), and turned into the five
normalised views by the config's ``SANDataPreprocessor(resize_on_device=True)`` on the device.
The rate is measured in the steady state: after every worker has delivered its first batch,
over consecutive windows of one batch per worker (median of the windows), with the device
synchronised at the end of each window.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from multiprocessing import Pool
from typing import Sequence

import numpy as np
import torch

from benchmarks.perf_views import natural_image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATASET_CONFIG = os.path.join(REPO, 'configs', '_base_', 'datasets', 'imagenet_san.py')
IMAGENET_SIZES = ((500, 375), (375, 500), (500, 333), (640, 480))


def _write_one(args: tuple[str, int, int, int]) -> int:
    from PIL import Image
    root, index, width, height = args
    folder = os.path.join(root, 'train', f'n{index % 8:08d}')
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f'{index:06d}.JPEG')
    Image.fromarray(natural_image(np.random.default_rng(index), width, height)).save(path, quality=90)
    return os.path.getsize(path)


def write_jpegs(root: str, count: int, sizes: Sequence[tuple[int, int]], processes: int) -> float:
    """Writes ``count`` JPEGs (quality 90) in folder layout under ``root/train``; returns the mean KiB."""
    jobs = [(root, i, *sizes[i % len(sizes)]) for i in range(count)]
    with Pool(max(1, processes)) as pool:
        sizes_written = pool.map(_write_one, jobs, chunksize=max(1, count // (4 * max(1, processes))))
    return sum(sizes_written) / max(1, count) / 1024


def config_pipeline(resolutions: Sequence[int] | None) -> tuple[list[dict], dict]:
    """The ImageNet config's training pipeline and data preprocessor (resolutions replaced if given)."""
    from mmengine.config import Config
    cfg = Config.fromfile(DATASET_CONFIG)
    pipeline = [dict(step) for step in cfg.train_pipeline]
    preprocessor = dict(cfg.data_preprocessor)
    if resolutions is not None:
        resolutions = sorted(resolutions, reverse=True)
        for step in pipeline:
            if step['type'] == 'MultiResolution':
                step['resolutions'] = resolutions
        preprocessor['resolutions'] = resolutions
    return pipeline, preprocessor


def _worker_init(_: int) -> None:
    try:
        import cv2
        cv2.setNumThreads(0)  # as mmengine's mp_cfg: one thread per worker
    except ImportError:
        pass


def loader_rate(device: str, workers: int, files: int, batch: int, windows: int,
                resolutions: Sequence[int] | None = None, sizes: Sequence[tuple[int, int]] = IMAGENET_SIZES) -> dict:
    """Steady-state images/s of the loader plus the on-device preprocessor.

    Args:
        device: where the preprocessor runs (``'cuda'``: pinned memory, non-blocking copies).
        workers: loader worker processes.
        files: distinct JPEGs written (sampled with replacement, so the page cache holds them,
            as it would hold a hot ImageNet shard).
        batch: images per batch.
        windows: timed windows of ``workers`` batches each.
        resolutions: replace the config's resolutions (the CPU dry run uses small ones).
        sizes: ``(width, height)`` of the generated images, cycled.
    """
    import san_plugin.mm  # noqa: F401
    from mmengine.dataset import default_collate
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS, MODELS
    from torch.utils.data import DataLoader, RandomSampler

    init_default_scope('mmpretrain')
    root = tempfile.mkdtemp(prefix='san_loader_')
    try:
        start = time.perf_counter()
        mean_kib = write_jpegs(root, files, sizes, processes=os.cpu_count() or 1)
        write_s = time.perf_counter() - start
        pipeline, preprocessor_cfg = config_pipeline(resolutions)
        dataset = DATASETS.build(dict(type='CustomDataset', data_root=root, data_prefix='train', pipeline=pipeline))
        per_window = max(1, workers)
        total_batches = per_window * (windows + 1)
        sampler = RandomSampler(dataset, replacement=True, num_samples=total_batches * batch,
                                generator=torch.Generator().manual_seed(0))
        loader = DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True,
                            collate_fn=default_collate, pin_memory=device == 'cuda', worker_init_fn=_worker_init,
                            prefetch_factor=2 if workers > 0 else None)
        preprocessor = MODELS.build(preprocessor_cfg).to(device)
        window_rates: list[float] = []
        marks: list[tuple[float, int]] = []
        images = 0
        shapes: list[tuple[int, ...]] = []
        first = time.perf_counter()
        for index, data in enumerate(loader):
            views = preprocessor(data, True)['inputs']
            images += views[0].shape[0]
            if index == 0:
                shapes = [tuple(v.shape) for v in views]
            if (index + 1) % per_window == 0:
                if device == 'cuda':
                    torch.cuda.synchronize()
                marks.append((time.perf_counter(), images))
        for (t0, n0), (t1, n1) in zip(marks, marks[1:]):
            window_rates.append((n1 - n0) / (t1 - t0))
        whole = images / (time.perf_counter() - first)
        del loader
    finally:
        shutil.rmtree(root, ignore_errors=True)
    window_rates.sort()
    return dict(workers=workers, batch=batch, files=files, mean_file_kib=mean_kib, write_s=write_s,
                image_sizes=[list(s) for s in sizes], view_shapes=[list(s) for s in shapes],
                pipeline=[step['type'] for step in pipeline], images=images, windows=len(window_rates),
                images_per_s=float(np.median(window_rates)) if window_rates else whole,
                window_min=window_rates[0] if window_rates else None,
                window_max=window_rates[-1] if window_rates else None,
                images_per_s_with_start=whole)
