"""Figure 9: where the smaller training views are made (loader throughput, host-to-device bytes, pixels).

Four ways to feed a SAN the same crop at every training resolution, compared with a
single-view ``RandomResizedCrop`` + ``RandomFlip`` loader:

- ``standard``: the single-view loader (one resize per image), the yardstick;
- ``crop``: ``MultiResolution()``, every view resized from the crop with pillow;
- ``largest``: ``MultiResolution(views_from='largest')``, smaller views from the largest with OpenCV;
- ``device``: ``MultiResolution(largest_only=True)`` + ``SANDataPreprocessor(resize_on_device=True)``.

Measured on generated ImageNet-size JPEGs written to a temporary folder, and on the
CPU-scale settings of ``configs/imagenette`` and ``configs/demo``.
"""
from __future__ import annotations

import gc
import glob
import os
import shutil
import tempfile
import time
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from benchmarks.perf_common import MEAN, STD, interleaved_medians, median

MODES = ('standard', 'crop', 'largest', 'device')
CLOCK_TICK = os.sysconf('SC_CLK_TCK') if hasattr(os, 'sysconf') else 100


# -- data ----------------------------------------------------------------------------------
def natural_image(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A photo-like uint8 RGB image: smooth colour fields, a few edges, sensor-like noise."""
    from PIL import Image
    low = (rng.random((height // 24 + 2, width // 24 + 2, 3)) * 255).astype(np.uint8)
    img = np.asarray(Image.fromarray(low).resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)
    for _ in range(3):  # a few hard-edged shapes
        y, x = rng.integers(0, height), rng.integers(0, width)
        img[y:y + height // 4, x:x + width // 5] = rng.random(3) * 255
    img += rng.normal(0, 10, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_jpegs(root: str, count: int, width: int, height: int, classes: int = 4, seed: int = 0) -> str:
    """``count`` real JPEG files (quality 90) in ImageNet folder layout under ``root/train``."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    for i in range(count):
        folder = os.path.join(root, 'train', f'n{i % classes:08d}')
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(natural_image(rng, width, height)).save(os.path.join(folder, f'{i:06d}.JPEG'), quality=90)
    return root


def mean_file_kib(root: str) -> float:
    files = glob.glob(os.path.join(root, 'train', '*', '*.JPEG'))
    return sum(os.path.getsize(f) for f in files) / max(1, len(files)) / 1024


# -- the compared modes --------------------------------------------------------------------
def mode_configs(resolutions: Sequence[int], crop_ratio_range: tuple[float, float]) -> dict[str, tuple]:
    """Per mode: (training pipeline, data preprocessor config), as the configs write them."""
    res = sorted(resolutions, reverse=True)
    load, pack = dict(type='LoadImageFromFile'), dict(type='PackInputs')
    multi = dict(type='MultiResolution', resolutions=res, crop_ratio_range=crop_ratio_range)
    prep = dict(type='SANDataPreprocessor', num_classes=10, mean=MEAN, std=STD, to_rgb=True)
    return {
        'standard': ([load, dict(type='RandomResizedCrop', scale=res[0], crop_ratio_range=crop_ratio_range,
                                 backend='pillow', interpolation='bicubic'),
                      dict(type='RandomFlip', prob=0.5, direction='horizontal'), pack], prep),
        'crop': ([load, multi, pack], prep),
        'largest': ([load, dict(multi, views_from='largest'), pack], prep),
        'device': ([load, dict(multi, largest_only=True), pack], dict(prep, resize_on_device=True, resolutions=res)),
    }


def _loader(root: str, pipeline: list[dict], images: int, batch: int, workers: int) -> DataLoader:
    from mmengine.dataset import default_collate
    from mmpretrain.registry import DATASETS
    dataset = DATASETS.build(dict(type='CustomDataset', data_root=root, data_prefix='train', pipeline=pipeline,
                                  indices=images))
    return DataLoader(dataset, batch_size=batch, num_workers=workers, collate_fn=default_collate,
                      persistent_workers=workers > 0, shuffle=False, drop_last=False)


def _worker_cpu_s(loader: DataLoader) -> float:
    """CPU seconds used so far by a loader's (persistent) worker processes, from ``/proc``."""
    total = 0.0
    for worker in getattr(getattr(loader, '_iterator', None), '_workers', []):
        try:
            fields = open(f'/proc/{worker.pid}/stat').read().rsplit(')', 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICK
        except (OSError, IndexError, ValueError):
            return float('nan')
    return total


def batch_size(inputs) -> int:
    """Samples in a batch's inputs: a tensor, a list of view batches, or a list of per-sample views."""
    from san_plugin.mm.preprocessor import split_views
    if isinstance(inputs, torch.Tensor):
        return inputs.shape[0]
    views = split_views(inputs)  # no copy for default_collate's list of batches
    return views[0].shape[0] if views else len(inputs)


def _one_pass(loader: DataLoader, preprocessor=None) -> int:
    count = 0
    for batch in loader:
        if preprocessor is not None:
            batch = preprocessor(batch, True)
        count += batch_size(batch['inputs'])
    return count


def _interleaved_passes(runs: dict, repeats: int) -> dict[str, dict]:
    """Per name: wall seconds and CPU seconds (main process + workers) of each timed pass.

    One untimed pass each first (worker start, page cache); then ``repeats`` rounds, one
    pass of each per round, the order reversed every round.
    """
    for loader, prep in runs.values():
        _one_pass(loader, prep)
    out = {name: {'wall': [], 'cpu': [], 'images': 0} for name in runs}
    names = list(runs)
    for index in range(repeats):
        for name in (names if index % 2 == 0 else names[::-1]):
            loader, prep = runs[name]
            cpu, workers, wall = time.process_time(), _worker_cpu_s(loader), time.perf_counter()
            out[name]['images'] = _one_pass(loader, prep)
            out[name]['wall'].append(time.perf_counter() - wall)
            out[name]['cpu'].append(time.process_time() - cpu + _worker_cpu_s(loader) - workers)
    return out


def _summarise(passes: dict, reference: str) -> dict[str, dict]:
    """Throughput, CPU per image, and the ratio to ``reference``: the median of the per-round ratios
    (each pass against the reference's pass of the same round, robust to a drifting load) and
    the ratio of the median throughputs."""
    ref = passes[reference]
    out = {}
    for name, p in passes.items():
        rates = [p['images'] / w for w in p['wall']]
        ref_rates = [ref['images'] / w for w in ref['wall']]
        out[name] = dict(images_per_s=median(rates), cpu_ms_per_image=median(p['cpu']) * 1e3 / p['images'],
                         ratio=median([a / b for a, b in zip(rates, ref_rates)]),
                         ratio_of_medians=median(rates) / median(ref_rates),
                         cpu_ratio=median(p['cpu']) / median(ref['cpu']) * ref['images'] / p['images'],
                         samples_images_per_s=[round(r, 1) for r in rates])
    return out


def h2d_bytes_per_sample(preprocessor, batch: dict) -> float:
    """Bytes of image data the preprocessor hands to ``cast_data`` (its host-to-device copies), per sample."""
    counted = []
    cast = preprocessor.cast_data

    def counting(data):
        if isinstance(data, torch.Tensor):
            counted.append(data.numel() * data.element_size())
        elif isinstance(data, (list, tuple)):
            counted.extend(t.numel() * t.element_size() for t in data if isinstance(t, torch.Tensor))
        return cast(data)

    preprocessor.cast_data = counting
    try:
        out = preprocessor(batch, True)
    finally:
        del preprocessor.cast_data
    return sum(counted) / batch_size(out['inputs'])


def preprocessor_cost(preprocessors: dict, batches: dict, repeats: int) -> dict[str, float]:
    """Milliseconds per image of each preprocessor on one collated batch (main process, CPU)."""
    fns = {name: (lambda p=preprocessors[name], b=batches[name]: p(b, True)) for name in batches}
    times = interleaved_medians(fns, repeats=repeats, warmup=1, clock='cpu')
    return {name: median(t) * 1e3 / batch_size(batches[name]['inputs']) for name, t in times.items()}


def measure_modes(root: str, resolutions: Sequence[int], crop_ratio_range: tuple[float, float], images: int,
                  batch: int, workers: int, repeats: int, extra_costs: bool = False) -> dict:
    """Loader alone and loader + preprocessor (on this CPU), every mode, passes interleaved."""
    from mmpretrain.registry import MODELS
    from mmengine.dataset import pseudo_collate
    configs = mode_configs(resolutions, crop_ratio_range)
    preps = {name: MODELS.build(prep) for name, (_, prep) in configs.items()}
    loaders = {name: _loader(root, pipe, images, batch, workers) for name, (pipe, _) in configs.items()}
    summaries = {kind: _summarise(_interleaved_passes({name: (loaders[name], prep if kind == 'end_to_end' else None)
                                                      for name, prep in preps.items() if name in MODES},
                                                     repeats), 'standard')
                 for kind in ('loader', 'end_to_end')}
    del loaders  # shuts the workers down: nothing runs beside the preprocessor timings below
    gc.collect()
    batches = {name: next(iter(_loader(root, configs[name][0], batch, batch, 0))) for name in MODES}
    h2d = {name: h2d_bytes_per_sample(preps[name], batches[name]) for name in MODES}
    costs = {name: batches[name] for name in MODES}
    if extra_costs:  # the GPU's float path, run here on the CPU; and the pseudo_collate layout
        raw = batches['device']['inputs'][0]
        costs['device/float_path'] = dict(batches['device'], inputs=[raw.float()])
        preps['device/float_path'] = preps['device']
        samples = [dict(inputs=[x], data_samples=s) for x, s in zip(raw, batches['device']['data_samples'])]
        costs['device/pseudo_collate'] = pseudo_collate(samples)
        preps['device/pseudo_collate'] = preps['device']
    prep_ms = preprocessor_cost(preps, costs, repeats=max(3, repeats))
    out = dict(resolutions=sorted(resolutions, reverse=True), crop_ratio_range=list(crop_ratio_range),
               images=images, batch=batch, workers=workers, repeats=repeats, h2d_bytes_per_sample=h2d,
               preprocessor_ms_per_image=prep_ms, modes={})
    out['modes'] = {name: {kind: summaries[kind][name] for kind in summaries} for name in MODES}
    return out


# -- pixels --------------------------------------------------------------------------------
def pixel_differences(root: str, resolutions: Sequence[int], images: int,
                      crop_ratio_range: tuple[float, float] = (0.08, 1.0)) -> dict:
    """Mean absolute difference (0..255) of each mode's views against views resized from the crop with PIL.

    Every mode sees the same crops (one seed per image, no flip). References: PIL bicubic
    from the crop (``views_from='crop'``) and PIL bilinear from the crop (the official
    code). ``device_uint8`` is the preprocessor's CPU path, ``device_float`` its GPU path
    (run here on float input); both are de-normalised, the float one not rounded.
    """
    import mmcv
    from mmpretrain.registry import MODELS, TRANSFORMS
    from mmpretrain.structures import DataSample
    res = sorted(resolutions, reverse=True)
    base = dict(type='MultiResolution', resolutions=res, flip_prob=0.0, crop_ratio_range=crop_ratio_range)
    transforms = {'crop_bicubic': TRANSFORMS.build(base),
                  'crop_bilinear': TRANSFORMS.build(dict(base, interpolation='bilinear')),
                  'largest': TRANSFORMS.build(dict(base, views_from='largest')),
                  'largest_only': TRANSFORMS.build(dict(base, largest_only=True))}
    files = sorted(glob.glob(os.path.join(root, 'train', '*', '*.JPEG')))[:images]
    views: dict[str, list[list[np.ndarray]]] = {name: [] for name in transforms}
    for index, path in enumerate(files):
        img = mmcv.imread(path)  # BGR, as LoadImageFromFile
        for name, transform in transforms.items():
            np.random.seed(index)
            views[name].append(transform({'img': img})['img'])
    prep = MODELS.build(dict(type='SANDataPreprocessor', mean=MEAN, std=STD, to_rgb=True, resize_on_device=True,
                             resolutions=res))
    largest = torch.stack([torch.from_numpy(np.ascontiguousarray(v[0].transpose(2, 0, 1)))  # as PackInputs
                           for v in views['largest_only']])
    samples = [DataSample() for _ in files]
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)

    def device_views(batch: torch.Tensor) -> list[np.ndarray]:  # (N, S, S, 3) BGR on 0..255, per resolution
        out = prep({'inputs': [batch], 'data_samples': samples}, False)['inputs']
        return [(v * std + mean).flip(1).permute(0, 2, 3, 1).numpy() for v in out]

    candidates = {'device_uint8': device_views(largest), 'device_float': device_views(largest.float()),
                  'largest': [np.stack([v[i] for v in views['largest']]) for i in range(len(res))],
                  'crop_bilinear': [np.stack([v[i] for v in views['crop_bilinear']]) for i in range(len(res))]}
    refs = {ref: [np.stack([v[i] for v in views[ref]]).astype(np.float64) for i in range(len(res))]
            for ref in ('crop_bicubic', 'crop_bilinear')}
    table = {}
    for i, s in enumerate(res):
        table[s] = {f'{name}_vs_{ref}': float(np.abs(cand[i].astype(np.float64) - refs[ref][i]).mean())
                    for name, cand in candidates.items() for ref in refs if name != ref}
    return dict(images=len(files), resolutions=res, crop_ratio_range=list(crop_ratio_range), mad=table)


# -- the figure ----------------------------------------------------------------------------
CPU_SCALE = (  # the CPU-scale configs' settings (configs/imagenette, configs/demo)
    dict(name='imagenette', resolutions=[64, 56, 48, 40, 32], crop_ratio_range=(0.35, 1.0), batch=64, size=None),
    dict(name='demo (generated 96 px JPEGs)', resolutions=[64, 48, 32], crop_ratio_range=(0.35, 1.0), batch=32,
         size=96),
)


def views_figure(images: int, batch: int, workers: int, repeats: int, pixel_images: int,
                 cpu_scale_images: int, cpu_scale_data: str | None, size: tuple[int, int] = (500, 375),
                 resolutions: Sequence[int] = (224, 192, 160, 128, 96), log=print) -> dict:
    """The whole figure: ImageNet-size loaders, pixel differences, then the CPU-scale settings."""
    from mmengine.registry import init_default_scope
    import san_plugin.mm  # noqa: F401
    init_default_scope('mmpretrain')
    tmp = tempfile.mkdtemp(prefix='san_perf_views_')
    started = time.perf_counter()
    try:
        root = write_jpegs(os.path.join(tmp, 'imagenet'), max(images, pixel_images), *size)
        out = dict(image_size=list(size), jpeg_kib=mean_file_kib(root), threads=torch.get_num_threads())
        log(f'[perf] views: {images} JPEGs {size[0]}x{size[1]} ({out["jpeg_kib"]:.0f} KiB), loaders ...')
        out['imagenet'] = measure_modes(root, resolutions, (0.08, 1.0), images, batch, workers, repeats,
                                        extra_costs=True)
        out['pixels'] = pixel_differences(root, resolutions, pixel_images)
        out['cpu_scale'] = []
        for setting in CPU_SCALE:
            data = cpu_scale_data
            if setting['size'] is not None:
                data = write_jpegs(os.path.join(tmp, 'small'), cpu_scale_images, setting['size'], setting['size'])
            if not data or not os.path.isdir(os.path.join(data, 'train')):
                out['cpu_scale'].append(dict(name=setting['name'], skipped=f'no data at {data!r}'))
                continue
            log(f"[perf] views: CPU scale, {setting['name']} ...")
            count = min(cpu_scale_images, len(glob.glob(os.path.join(data, 'train', '*', '*'))))
            result = measure_modes(data, setting['resolutions'], setting['crop_ratio_range'], count,
                                   setting['batch'], workers, repeats)
            out['cpu_scale'].append(dict(result, name=setting['name'], data_root=data, jpeg_kib=mean_file_kib(data)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out['seconds'] = time.perf_counter() - started
    return out
