"""Peak memory of one training step, measured in a fresh process (run by ``perf.py``).

    python benchmarks/perf_memory_worker.py --model resnet18 --resolutions 128 112 --batch 32 --variant san

Prints one JSON line: ``baseline_kib`` (resident size right before the measured step),
``peak_kib`` (the high-water mark during it) and ``step_kib`` (their difference).

What "before" means: the model and the optimizer are built and one warm-up step of the
same variant runs first, so the optimizer state (SGD momentum), oneDNN's primitive caches
and every lazily created buffer exist and are counted in the baseline, not in the step;
gradients are freed (``zero_grad(set_to_none=True)``) as after any step. ``perf.py`` starts
this process with ``MALLOC_MMAP_THRESHOLD_`` fixed at 64 KiB, so every tensor buffer is its
own mapping and returns to the OS when freed: the resident size then follows the live
tensors, and the warm-up step's freed memory cannot hide inside the baseline. The
high-water mark is reset (``/proc/self/clear_refs``) right before the measured step.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import re

import torch

from benchmarks.perf_common import build_classifier, make_batch, optim_wrapper, summed_loss_step

VARIANTS = ('san', 'shared', 'plain', 'summed', 'san_kept')


def _status_kib(field: str) -> int:
    with open('/proc/self/status') as f:
        return int(re.search(rf'^{field}:\s+(\d+)\s+kB', f.read(), re.M).group(1))


def _reset_peak() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def measure(model_name: str, resolutions: list[int], batch: int, variant: str, amp: bool = False) -> dict:
    """Builds the variant, runs a warm-up step, then measures one step's peak resident memory.

    Variants: ``san`` (per-resolution backward), ``san_kept`` (the same with
    ``regenerate_kernels=False``), ``shared`` (shared convs, private BN,
    same step), ``plain`` (the unconverted network, one step at the largest resolution
    alone), ``summed`` (SAN, one backward of the summed loss: every graph alive).
    """
    if variant not in VARIANTS:
        raise ValueError(f'variant must be one of {VARIANTS}, got {variant!r}')
    resolutions = sorted(resolutions, reverse=True)
    if variant == 'plain':
        resolutions = resolutions[:1]
    convs = {'san': 'meta', 'san_kept': 'meta', 'summed': 'meta', 'shared': 'shared', 'plain': None}[variant]
    model = build_classifier(model_name, resolutions, convs, regenerate_kernels=variant != 'san_kept')
    wrapper = optim_wrapper(model, amp=amp)
    data = make_batch(resolutions, batch)

    def step() -> None:
        if variant == 'summed':
            summed_loss_step(model, data, wrapper)
        else:
            model.train_step(data, wrapper)

    step()  # warm-up: optimizer state, oneDNN caches, lazy buffers
    gc.collect()
    baseline = _status_kib('VmRSS')
    reset = _reset_peak()
    step()
    peak = _status_kib('VmHWM')
    return dict(model=model_name, variant=variant, resolutions=resolutions, batch=batch, amp=amp,
                baseline_kib=baseline, peak_kib=peak, step_kib=peak - baseline, hwm_reset=reset,
                params=sum(p.numel() for p in model.parameters()),
                mmap_threshold=os.environ.get('MALLOC_MMAP_THRESHOLD_'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', required=True)
    parser.add_argument('--resolutions', type=int, nargs='+', required=True)
    parser.add_argument('--batch', type=int, required=True)
    parser.add_argument('--variant', choices=VARIANTS, required=True)
    parser.add_argument('--amp', action='store_true')
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    result = measure(args.model, args.resolutions, args.batch, args.variant, args.amp)
    print('RESULT ' + json.dumps(result), flush=True)


if __name__ == '__main__':
    main()
