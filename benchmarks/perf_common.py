"""Model builders, synthetic batches and timing helpers shared by the performance benchmarks."""
from __future__ import annotations

import gc
import statistics
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import torch
from torch import nn
from mmengine.optim import OptimWrapper

NUM_CLASSES = 1000
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def timm_feature_width(model_name: str) -> int:
    """Width of a timm model's final feature map (the head's input)."""
    import timm
    return int(timm.create_model(model_name, pretrained=False, num_classes=0).num_features)


def build_classifier(model_name: str, resolutions: Sequence[int], convs: str | None,
                     regenerate_kernels: bool = True, *, preprocessor: dict | None = None,
                     channels_last: bool = False) -> nn.Module:
    """A ``SANClassifier`` around a timm backbone, in train mode on the CPU.

    Args:
        model_name: a timm model name (``resnet18``, ``mobilenetv2_100``...).
        resolutions: training resolutions.
        convs: ``'meta'`` (the SAN), ``'shared'`` (shared convs, private BN) or None (the
            plain, unconverted network with the same head and step).
        regenerate_kernels: the SAN's memory/speed switch (see ``ScaleController``).
        preprocessor: options added to the ``SANDataPreprocessor`` (e.g. ``resize_on_device``).
        channels_last: the classifier's memory-format option (GPU convolutions).
    """
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    import san_plugin.mm  # noqa: F401  (registers the SAN modules)

    init_default_scope('mmpretrain')
    resolutions = sorted(resolutions, reverse=True)
    san = None if convs is None else dict(resolutions=resolutions, init='scratch', convs=convs,
                                          regenerate_kernels=regenerate_kernels)
    model = MODELS.build(dict(
        type='SANClassifier',
        backbone=dict(type='TIMMBackbone', model_name=model_name, pretrained=False),
        san=san,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='SANClsHead', num_classes=NUM_CLASSES, in_channels=timm_feature_width(model_name),
                  resolutions=resolutions),
        data_preprocessor=dict(type='SANDataPreprocessor', num_classes=NUM_CLASSES, mean=MEAN, std=STD,
                               **(preprocessor or {})),
        channels_last=channels_last))
    model.init_weights()
    return model.train()


def optim_wrapper(model: nn.Module, amp: bool = False) -> OptimWrapper:
    """SGD (momentum, weight decay) in an ``OptimWrapper`` or, with ``amp``, a ``CPUAmpOptimWrapper``."""
    from san_plugin.mm.engine.amp import CPUAmpOptimWrapper
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    return CPUAmpOptimWrapper(optimizer=optimizer) if amp else OptimWrapper(optimizer=optimizer)


def make_batch(resolutions: Sequence[int], batch: int, seed: int = 0) -> dict:
    """A dataloader-like batch: one uint8 ``(N, 3, S, S)`` tensor per resolution (largest first)."""
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(seed)
    views = [torch.randint(0, 256, (batch, 3, s, s), generator=gen, dtype=torch.uint8)
             for s in sorted(resolutions, reverse=True)]
    samples = [DataSample().set_gt_label(i % NUM_CLASSES) for i in range(batch)]
    return {'inputs': views if len(views) > 1 else views[0], 'data_samples': samples}


def summed_loss_step(model: nn.Module, data: dict, wrapper: OptimWrapper) -> dict:
    """The naive SAN step: every resolution's forward first, one backward of the summed loss.

    Every resolution's graph stays alive until the single backward (the memory that
    ``SANClassifier.train_step``'s per-resolution backward avoids).
    """
    from san_plugin.core import input_resolution
    with wrapper.optim_context(model):
        data = model.data_preprocessor(data, True)
    views = data['inputs'] if isinstance(data['inputs'], (list, tuple)) else [data['inputs']]
    teachers: list[torch.Tensor] = []
    total = 0
    for inputs in views:
        with wrapper.optim_context(model):
            logits = model(inputs, mode='tensor')
            losses = model.head.loss_from_logits(logits, data['data_samples'], resolution=input_resolution(inputs),
                                                 teachers=tuple(teachers))
        teachers.append(logits.detach())
        loss, _ = model.parse_losses(losses)
        total = total + loss
    wrapper.update_params(total)
    return {'loss': total.detach()}


def time_call(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                        inner: int = 1, clock: str = 'wall') -> dict[str, list[float]]:
    """Times several callables round-robin so background load hits all alike.

    The order reverses every round (A, B, B, A, A, B...), so a slow drift in the load
    does not favour whichever runs first.

    Args:
        fns: name -> callable.
        repeats: timed rounds.
        warmup: untimed rounds first.
        inner: calls per timed sample (the sample is their mean).
        clock: ``'wall'`` (``time.perf_counter``) or ``'cpu'`` (``time.process_time``: the
            CPU time of this process only, so time spent descheduled by other processes
            is not counted; with one thread it is the compute cost).

    Returns:
        name -> list of per-sample seconds (take the median).
    """
    now = time.perf_counter if clock == 'wall' else time.process_time
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for round_index in range(repeats):
        for name in (names if round_index % 2 == 0 else names[::-1]):
            fn = fns[name]
            gc.collect()
            start = now()
            for _ in range(inner):
                fn()
            times[name].append((now() - start) / inner)
    return times


def interleaved_both(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                     inner: int = 1) -> dict[str, dict[str, list[float]]]:
    """Wall-clock and CPU-time samples of the same interleaved rounds: ``{name: {'wall': [...], 'cpu': [...]}}``."""
    out: dict[str, dict[str, list[float]]] = {name: {'wall': [], 'cpu': []} for name in fns}
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    names = list(fns)
    for round_index in range(repeats):
        for name in (names if round_index % 2 == 0 else names[::-1]):
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(inner):
                fns[name]()
            out[name]['cpu'].append((time.process_time() - cpu) / inner)
            out[name]['wall'].append((time.perf_counter() - wall) / inner)
    return out


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


@contextmanager
def libraries_out_of_the_collectors_way() -> Iterator[None]:
    """Imports the libraries every figure uses and freezes them out of Python's cyclic collector.

    The timing loops call ``gc.collect()`` before every sample and mmengine calls it for every
    dataset it builds; with torch, timm and OpenMMLab loaded each call walks some 400k
    objects (about 0.1-0.2 s here), which made up half of a ``--quick`` run's CPU time.
    Frozen (``gc.freeze``), those long-lived objects are skipped; everything created inside
    is collected as before, and ``gc.unfreeze`` on the way out gives the collector back its
    full view. What is timed does not change.
    """
    import mmpretrain.models  # noqa: F401
    import timm  # noqa: F401

    import san_plugin.mm  # noqa: F401
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def forward_flops(model: nn.Module, resolution: int, batch: int = 1) -> int:
    """Forward FLOPs at ``resolution`` (eval mode, kernels cached), via ``FlopCounterMode``."""
    try:
        from san_plugin.evaluation.measure import count_flops
        return count_flops(model, resolution, batch, in_chans=3)
    except ImportError:  # san_plugin.evaluation not available: the same count, done here
        from torch.utils.flop_counter import FlopCounterMode
        was_training = model.training
        model.eval()
        x = torch.randn(batch, 3, resolution, resolution)
        with torch.no_grad():
            model(x)
            with FlopCounterMode(display=False) as counter:
                model(x)
        model.train(was_training)
        return int(counter.get_total_flops())


def train_step_flops(step: Callable[[], object]) -> int:
    """FLOPs of one whole training step (forward and backward), via ``FlopCounterMode``."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())
