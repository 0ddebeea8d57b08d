"""Cost of a model at one resolution: FLOPs, parameters, latency."""
from __future__ import annotations

import copy
import statistics
import time
from typing import Any, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from san_plugin.core.inference import example_input, inference, model_device
from san_plugin.deploy.export import deployed_model


def count_flops(model: nn.Module, resolution: int, batch: int = 1, *, in_chans: int | None = None) -> int:
    """FLOPs of one forward pass at ``resolution`` (``torch.utils.flop_counter``).

    A multiply-add counts as 2 FLOPs (PyTorch's convention; halve for MACs). Works on a
    plain or baked model and on a SAN, which runs at ``resolution`` in its current mode.
    A SAN's kernels are generated once and cached at inference (and baked in
    deployment), so one warm-up pass runs first and the generation is not counted.

    Args:
        model: any image model.
        resolution: the input's height and width.
        batch: the batch size.
        in_chans: input channels; read from the first convolution when None.

    Example:
        >>> count_flops(timm.create_model('resnet18'), 224) / 1e9
        3.6...
    """
    x = example_input(model, resolution, batch, in_chans=in_chans)
    with inference(model, resolution):
        model(x)  # warm-up: fills a SAN's kernel cache
        with FlopCounterMode(display=False) as counter:
            model(x)
    return int(counter.get_total_flops())


def deployed_gflops(model: nn.Module, sizes: Sequence[int]) -> dict[int, float]:
    """GFLOPs of one image at each size on what a deployment runs
    (:func:`~san_plugin.deploy.export.deployed_model`: a SAN baked for that size, a plain model as
    it is), counted once per size, smallest size first.

    Example:
        >>> deployed_gflops(san, [64, 32])
        {32: 0.037, 64: 0.149}
    """
    return {int(s): count_flops(deployed_model(model, int(s)), int(s)) / 1e9 for s in sorted(set(sizes))}


def count_params(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (each shared tensor once).

    For a SAN this counts the meta learners and every BN branch; count a baked model
    (``san_plugin.core.bake``) for what one deployed resolution holds.

    Example:
        >>> count_params(nn.Linear(3, 2))
        8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def measure_latency(
    model: nn.Module,
    resolution: int,
    batch_size: int = 1,
    *,
    warmup: int = 5,
    repeats: int = 20,
    device: torch.device | str | None = None,
    in_chans: int | None = None,
) -> dict[str, Any]:
    """Wall-clock latency of one forward pass (eval mode, no autograd).

    Each of ``repeats`` timed passes is bracketed by a device synchronisation on CUDA.
    A model on another device than ``device`` is timed as a copy moved there (the model
    itself is not moved).

    Args:
        model: a plain, baked or SAN model (a SAN runs at ``resolution``).
        resolution: input height and width.
        batch_size: images per pass.
        warmup: untimed passes first.
        repeats: timed passes.
        device: where to run; the model's device when None.
        in_chans: input channels; read from the first convolution when None.

    Returns:
        ``median_ms``, ``mean_ms``, ``std_ms``, ``min_ms``, ``max_ms``, ``p90_ms``,
        ``images_per_s`` (from the median) and the settings ``resolution``,
        ``batch_size``, ``repeats``, ``warmup``, ``device``, ``threads``.

    Example:
        >>> measure_latency(net, 160, 1, warmup=3, repeats=10)['median_ms']
        4.2...
    """
    if repeats < 1 or warmup < 0 or batch_size < 1:
        raise ValueError(f'need repeats >= 1, warmup >= 0, batch_size >= 1; got {repeats}, {warmup}, {batch_size}')
    target = torch.device(device) if device is not None else model_device(model)
    if model_device(model) != target:
        model = copy.deepcopy(model).to(target)
    x = example_input(model, resolution, batch_size, in_chans=in_chans, device=target)
    times = []
    with inference(model, resolution):
        for _ in range(warmup):
            model(x)
        for _ in range(repeats):
            _synchronize(target)
            start = time.perf_counter()
            model(x)
            _synchronize(target)
            times.append((time.perf_counter() - start) * 1e3)
    ordered = sorted(times)
    median = statistics.median(ordered)
    return {
        'median_ms': median,
        'mean_ms': statistics.fmean(ordered),
        'std_ms': statistics.pstdev(ordered),
        'min_ms': ordered[0],
        'max_ms': ordered[-1],
        'p90_ms': ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))],
        'images_per_s': batch_size * 1e3 / median if median > 0 else float('inf'),
        'resolution': int(resolution),
        'batch_size': int(batch_size),
        'repeats': int(repeats),
        'warmup': int(warmup),
        'device': str(target),
        'threads': torch.get_num_threads(),
    }
