"""Timing and memory on a device: CUDA events on a GPU, a synchronised wall clock elsewhere.

Every timed sample covers ``inner`` calls between two CUDA events (or two reads of
``time.perf_counter`` on the CPU) and is their mean; callables are timed in
alternating rounds (A B C, C B A, ...) after untimed warm-up rounds, so a drift in clocks
or temperature hits every variant alike. Take the median of the samples.
"""
from __future__ import annotations

import gc
import statistics
import time
from typing import Callable, Sequence

import torch

CLOCK_NOTE = {
    'cuda': 'CUDA-event medians: each sample is the time between two `torch.cuda.Event`s recorded around '
            '`inner` calls on the current stream, divided by `inner`; the variants alternate round by round '
            '(A B C, C B A, ...) after untimed warm-up rounds.',
    'cpu': 'synchronised wall-clock medians (`time.perf_counter`), the variants alternating round by round '
           '(dry run on the CPU: no figure here is a GPU figure).',
}


def synchronize(device: str) -> None:
    """Waits for the device's queued work (a no-op on the CPU)."""
    if device == 'cuda':
        torch.cuda.synchronize()


class Stopwatch:
    """Measures the device time of a region: CUDA events on a GPU, ``perf_counter`` on the CPU."""

    def __init__(self, device: str) -> None:
        self.device = device

    def __call__(self, fn: Callable[[], object], inner: int = 1) -> float:
        """Seconds per call of ``fn``, averaged over ``inner`` calls."""
        if self.device == 'cuda':
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(inner):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1000.0 / inner
        begin = time.perf_counter()
        for _ in range(inner):
            fn()
        return (time.perf_counter() - begin) / inner


def alternating(fns: dict[str, Callable[[], object]], device: str, repeats: int, warmup: int = 1,
                inner: int = 1) -> dict[str, list[float]]:
    """Per name, ``repeats`` samples of seconds per call, the callables alternating round by round.

    Args:
        fns: name -> callable (one training step, one forward...).
        device: ``'cuda'`` (CUDA events) or ``'cpu'`` (wall clock).
        repeats: timed rounds.
        warmup: untimed rounds first (cuDNN autotuning, allocator, lazy initialisation).
        inner: calls per sample.
    """
    watch = Stopwatch(device)
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    synchronize(device)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for round_index in range(repeats):
        for name in (names if round_index % 2 == 0 else names[::-1]):
            gc.collect()
            samples[name].append(watch(fns[name], inner))
    return samples


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> float:
    """(max - min) / median of the samples: how much the rounds varied."""
    mid = median(values)
    return float((max(values) - min(values)) / mid) if mid else float('nan')


def reset_peak(device: str) -> int:
    """Frees cached blocks, resets the peak counter; returns the bytes allocated now (0 on the CPU)."""
    gc.collect()
    if device != 'cuda':
        return 0
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    return torch.cuda.memory_allocated()


def peak_since_reset(device: str) -> int | None:
    """Peak bytes allocated since :func:`reset_peak` (None on the CPU: not measured there)."""
    if device != 'cuda':
        return None
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated()
