"""The figures of the CUDA benchmark: FLOPs, training throughput, peak memory, eval latency, torch.compile.

Each function measures one section and returns plain data (what ``perf_cuda.py`` stores
in the JSON and ``perf_cuda_report.py`` renders). Targets are those of the GPU issue.
"""
from __future__ import annotations

import copy
import time
from typing import Sequence

import torch

from benchmarks.gpu.cuda_models import (VARIANTS, amp_name, build_variant, device_batch, optim_wrapper,
                                        plain_timm, state_bytes)
from benchmarks.gpu.cuda_timing import alternating, median, peak_since_reset, reset_peak, spread, synchronize
from benchmarks.perf_common import forward_flops, summed_loss_step

TARGETS = dict(images_vs_flops=0.9, step_vs_shared=1.05, memory_vs_plain=1.3, latency_vs_original=1.05)


def flops(model_name: str, resolutions: Sequence[int]) -> dict:
    """Forward FLOPs of the original network at each resolution and their sum over the largest's."""
    import timm
    model = timm.create_model(model_name, pretrained=False, num_classes=1000).eval()
    per = {str(s): forward_flops(model, s) for s in sorted(resolutions, reverse=True)}
    largest = per[str(max(resolutions))]
    return dict(model=model_name, per_resolution=per, ratio=sum(per.values()) / largest)


class TrainBench:
    """The training variants of one batch size, their wrappers and step closures."""

    def __init__(self, model_name: str, resolutions: Sequence[int], batch: int, device: str, amp: bool,
                 channels_last: bool) -> None:
        self.device, self.batch = device, batch
        self.models = {v: build_variant(v, model_name, resolutions, device, channels_last) for v in VARIANTS}
        self.wrappers = {v: optim_wrapper(m, device, amp) for v, m in self.models.items()}
        self.data = device_batch(max(resolutions), batch, device)
        self.losses: dict[str, list[float]] = {v: [] for v in VARIANTS}

    def step(self, variant: str) -> None:
        log = self.models[variant].train_step(self.data, self.wrappers[variant])
        self.losses[variant].append(float(log['loss']))

    def steps(self) -> dict:
        return {v: (lambda v=v: self.step(v)) for v in VARIANTS}

    def loss_scales(self) -> dict[str, float | None]:
        return {v: (float(w.loss_scaler.get_scale()) if hasattr(w, 'loss_scaler') else None)
                for v, w in self.wrappers.items()}


def training(bench: TrainBench, flops_ratio: float, repeats: int, warmup: int, inner: int) -> dict:
    """Step time and images/s of every variant; the SAN against the plain network and the shared convs."""
    samples = alternating(bench.steps(), bench.device, repeats, warmup, inner)
    seconds = {v: median(s) for v, s in samples.items()}
    images = {v: bench.batch / t for v, t in seconds.items()}
    target_images = TARGETS['images_vs_flops'] * images['plain'] / flops_ratio
    return dict(
        batch=bench.batch, seconds=seconds, spread={v: spread(s) for v, s in samples.items()},
        samples=samples, images_per_s=images,
        san_vs_plain_images=images['san'] / images['plain'],
        target_images_per_s=target_images, images_met=images['san'] >= target_images,
        step_vs_flops=(seconds['san'] / seconds['plain']) / flops_ratio,
        step_vs_shared=seconds['san'] / seconds['shared'], kept_vs_shared=seconds['san_kept'] / seconds['shared'],
        step_met=seconds['san'] / seconds['shared'] <= TARGETS['step_vs_shared'],
        finite=all(all(map(_finite, losses)) for losses in bench.losses.values()),
        loss_scales=bench.loss_scales())


def memory(bench: TrainBench) -> dict:
    """Peak memory of one step of each variant: what the step allocated on top of what was resident
    before it (as the CPU figure: the state is in the baseline), and that plus the variant's own state
    (parameters, buffers, optimizer); and the SAN with one backward of the summed loss (every
    resolution's graph alive)."""
    runs = {v: (lambda v=v: bench.step(v)) for v in VARIANTS}
    runs['san_summed'] = lambda: summed_loss_step(bench.models['san'], bench.data, bench.wrappers['san'])
    for variant in VARIANTS:  # the optimizer state exists before any step is measured
        if not bench.wrappers[variant].optimizer.state:
            bench.step(variant)
    out: dict = {}
    for name, run in runs.items():
        variant = 'san' if name == 'san_summed' else name
        before = reset_peak(bench.device)
        run()
        peak = peak_since_reset(bench.device)
        own = state_bytes(bench.models[variant], bench.wrappers[variant].optimizer)
        out[name] = None if peak is None else dict(state_mib=own / 2**20, step_mib=(peak - before) / 2**20,
                                                   total_mib=(own + peak - before) / 2**20)
    if out['plain'] is None:
        return dict(measured=False, reason='peak memory is measured on CUDA only', batch=bench.batch)
    step = {name: out[name]['step_mib'] / out['plain']['step_mib'] for name in out}
    total = {name: out[name]['total_mib'] / out['plain']['total_mib'] for name in out}
    return dict(measured=True, batch=bench.batch, variants=out, vs_plain=step, total_vs_plain=total,
                met=step['san'] <= TARGETS['memory_vs_plain'])


def latency(model_name: str, resolutions: Sequence[int], size: int, batches: Sequence[int], device: str,
            channels_last: bool, precisions: Sequence[str], repeats: int, calls: dict[int, int]) -> dict:
    """Eval latency of the original network, the SAN (eval kernel cache) and the baked SAN."""
    from san_plugin.core import bake, convert
    original = plain_timm(model_name, device, channels_last)
    san, _ = convert(copy.deepcopy(original), list(resolutions), init='pretrained')
    san.to(device).eval()
    baked = bake(san, size).eval()
    nets = dict(original=original, san=san, baked=baked)
    out: dict = dict(resolution=size, rows=[])
    for precision in precisions:
        dtype = torch.float16 if device == 'cuda' else torch.bfloat16
        enabled = precision != 'fp32'
        for batch in batches:
            x = torch.randn(batch, 3, size, size, device=device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)

            def call(net, x=x):
                with torch.no_grad(), torch.autocast(device, dtype=dtype, enabled=enabled):
                    return net(x)

            reference = call(original).float()
            worst = max(float((call(n).float() - reference).abs().max()) for n in (san, baked))
            samples = alternating({k: (lambda n=n: call(n)) for k, n in nets.items()}, device, repeats, warmup=2,
                                  inner=calls.get(batch, 1))
            ms = {k: median(s) * 1000 for k, s in samples.items()}
            out['rows'].append(dict(
                precision=precision if precision == 'fp32' else ('fp16 autocast' if device == 'cuda' else
                                                                  'bf16 autocast'),
                batch=batch, ms=ms, spread={k: spread(s) for k, s in samples.items()},
                san_vs_original=ms['san'] / ms['original'], baked_vs_original=ms['baked'] / ms['original'],
                met=ms['san'] / ms['original'] <= TARGETS['latency_vs_original'], max_abs_diff=worst))
    return out


def compiled_step(model_name: str, resolutions: Sequence[int], batch: int, device: str, amp: bool,
                  channels_last: bool, backend: str, repeats: int) -> dict:
    """``torch.compile`` (``dynamic=False``: one graph per resolution) of the SAN's forward in its
    training step against the eager step, AMP as in the training figure.

    Before timing, one step of each from the same weights (a static loss scale of 1, so that no
    step is skipped for inf gradients) checks that every parameter the eager step updates is
    updated by the compiled one too (a graph that picks the wrong BN branch leaves the other
    branches without gradients).
    """
    import torch._dynamo
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    eager = build_variant('san', model_name, resolutions, device, channels_last)
    compiled_model = copy.deepcopy(eager)
    compiled = torch.compile(compiled_model, backend=backend, dynamic=False)
    wrappers = {'eager': optim_wrapper(eager, device, amp), 'compiled': optim_wrapper(compiled_model, device, amp)}
    data = device_batch(max(resolutions), batch, device)
    before = [p.detach().clone() for p in eager.parameters()]
    start = time.perf_counter()
    compiled_model.train_step(data, optim_wrapper(compiled_model, device, amp, loss_scale=1.0), forward=compiled)
    synchronize(device)
    first_step_s = time.perf_counter() - start
    eager.train_step(data, optim_wrapper(eager, device, amp, loss_scale=1.0))
    moved = [not torch.equal(p, b) for p, b in zip(eager.parameters(), before)]
    moved_compiled = [not torch.equal(p, b) for p, b in zip(compiled_model.parameters(), before)]
    missing = [name for (name, _), m, c in zip(eager.named_parameters(), moved, moved_compiled) if m and not c]
    steps = {'eager': lambda: eager.train_step(data, wrappers['eager']),
             'compiled': lambda: compiled_model.train_step(data, wrappers['compiled'], forward=compiled)}
    samples = alternating(steps, device, repeats, warmup=1)
    seconds = {k: median(s) for k, s in samples.items()}
    counters = torch._dynamo.utils.counters
    return dict(model=model_name, backend=backend, batch=batch, amp=amp_name(device, amp),
                graphs=int(counters['stats']['unique_graphs']),
                graph_breaks=int(sum(counters['graph_break'].values())),
                first_step_s=first_step_s, seconds=seconds, spread={k: spread(s) for k, s in samples.items()},
                ratio=seconds['compiled'] / seconds['eager'], parameters_not_updated=missing[:10],
                parameters_not_updated_count=len(missing))


def _finite(value: float) -> bool:
    return value == value and abs(value) != float('inf')
