"""The measured figures of ``perf.py``, one function per figure; each returns plain data."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import torch

from benchmarks.perf_common import (build_classifier, forward_flops, interleaved_both, make_batch, median,
                                    optim_wrapper, train_step_flops)

HERE = os.path.dirname(os.path.abspath(__file__))
MALLOC_ENV = {'MALLOC_MMAP_THRESHOLD_': '65536'}  # fixed: freed tensor buffers go back to the OS


def headline_clock() -> str:
    """CPU time with one thread (robust to other processes on a shared machine), else wall clock."""
    return 'cpu' if torch.get_num_threads() == 1 else 'wall'


def _timed(fns: dict, repeats: int, warmup: int, inner: int = 1) -> dict[str, dict]:
    """Interleaved timing of ``fns``; per name the headline clock's median/min/samples and both medians."""
    clock = headline_clock()
    both = interleaved_both(fns, repeats=repeats, warmup=warmup, inner=inner)
    return {name: dict(clock=clock, median_s=median(t[clock]), min_s=min(t[clock]),
                       samples_s=[round(x, 4) for x in t[clock]], wall_median_s=median(t['wall']),
                       cpu_median_s=median(t['cpu']), wall_samples_s=[round(x, 4) for x in t['wall']])
            for name, t in both.items()}


def _ratios(a: dict, b: dict) -> dict:
    return dict(ratio=a['median_s'] / b['median_s'], wall_ratio=a['wall_median_s'] / b['wall_median_s'],
                cpu_ratio=a['cpu_median_s'] / b['cpu_median_s'], clock=a['clock'])


def training_step(model_name: str, resolutions: Sequence[int], batch: int, repeats: int, warmup: int) -> dict:
    """SAN ``train_step`` vs the same network with shared convs and private BN (same step).

    Two SANs: ``meta`` regenerates its kernels in the backward (the default, less memory),
    ``meta_kept`` keeps them (``regenerate_kernels=False``)."""
    models = {c: build_classifier(model_name, resolutions, c) for c in ('meta', 'shared')}
    models['meta_kept'] = build_classifier(model_name, resolutions, 'meta', regenerate_kernels=False)
    wrappers = {c: optim_wrapper(m) for c, m in models.items()}
    data = make_batch(resolutions, batch)
    fns = {c: (lambda c=c: models[c].train_step(data, wrappers[c])) for c in models}
    times = _timed(fns, repeats=repeats, warmup=warmup)
    flops = {c: train_step_flops(fns[c]) for c in models}
    params = {c: sum(p.numel() for p in m.parameters()) for c, m in models.items()}
    kept = _ratios(times['meta_kept'], times['shared'])
    return dict(model=model_name, resolutions=list(resolutions), batch=batch, san=times['meta'],
                shared=times['shared'], san_kept=times['meta_kept'], kept_ratio=kept['ratio'],
                kept_wall_ratio=kept['wall_ratio'], step_flops=flops, params=params,
                **_ratios(times['meta'], times['shared']))


def mixed_precision(model_name: str, resolutions: Sequence[int], batch: int, repeats: int, warmup: int) -> dict:
    """SAN step under ``CPUAmpOptimWrapper`` (bf16 autocast) vs the fp32 step, one model, one optimizer."""
    model = build_classifier(model_name, resolutions, 'meta')
    fp32 = optim_wrapper(model)
    amp = type(optim_wrapper(model, amp=True))(optimizer=fp32.optimizer)
    data = make_batch(resolutions, batch)
    times = _timed({'fp32': lambda: model.train_step(data, fp32), 'bf16': lambda: model.train_step(data, amp)},
                   repeats=repeats, warmup=warmup)
    return dict(model=model_name, resolutions=list(resolutions), batch=batch, fp32=times['fp32'],
                bf16=times['bf16'], **_ratios(times['bf16'], times['fp32']))


def compiled_step(model_name: str, resolutions: Sequence[int], batch: int, repeats: int, warmup: int,
                  backend: str) -> dict:
    """SAN ``train_step`` with the classifier compiled by ``torch.compile`` vs eager (same init, own optimizers).

    The compiled module is passed as ``train_step``'s ``forward``, so the resolution loop, the
    backward calls and the optimizer step stay eager. The first compiled step (compilation) is
    timed apart; the dynamo counters say how many graphs and graph breaks there were."""
    import torch._dynamo
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    eager = build_classifier(model_name, resolutions, 'meta')
    compiled_model = copy.deepcopy(eager)
    compiled = torch.compile(compiled_model, backend=backend)
    wrappers = {'eager': optim_wrapper(eager), 'compiled': optim_wrapper(compiled_model)}
    data = make_batch(resolutions, batch)
    start = time.perf_counter()
    compiled_model.train_step(data, wrappers['compiled'], forward=compiled)
    compile_s = time.perf_counter() - start
    times = _timed({'eager': lambda: eager.train_step(data, wrappers['eager']),
                    'compiled': lambda: compiled_model.train_step(data, wrappers['compiled'], forward=compiled)},
                   repeats=repeats, warmup=warmup)
    counters = torch._dynamo.utils.counters
    return dict(model=model_name, resolutions=list(resolutions), batch=batch, backend=backend,
                compile_s=compile_s, eager=times['eager'], compiled=times['compiled'],
                graphs=int(counters['stats']['unique_graphs']), graph_breaks=int(sum(counters['graph_break'].values())),
                **_ratios(times['compiled'], times['eager']))


def memory_worker(model_name: str, resolutions: Sequence[int], batch: int, variant: str, threads: int) -> dict:
    """Runs ``perf_memory_worker.py`` in a fresh process and returns its JSON result (``python -m`` from the
    repository root: the package imports without an installed ``benchmarks``)."""
    cmd = [sys.executable, '-m', 'benchmarks.perf_memory_worker', '--model', model_name, '--resolutions',
           *map(str, resolutions), '--batch', str(batch), '--variant', variant, '--threads', str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=os.path.dirname(HERE),
                          env={**os.environ, **MALLOC_ENV})
    for line in proc.stdout.splitlines():
        if line.startswith('RESULT '):
            return json.loads(line[len('RESULT '):])
    raise RuntimeError(f'memory worker failed ({proc.returncode}): {" ".join(cmd)}\n{proc.stderr[-3000:]}')


def run_memory_jobs(jobs: list[tuple], threads: int, parallel: int) -> list[dict]:
    """Memory workers for ``(model, resolutions, batch, variant)`` jobs, ``parallel`` at a time.

    Peak resident memory is per process, so concurrent workers do not disturb each other's figure.
    """
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(lambda job: memory_worker(*job, threads), jobs))


def memory_figure(results: list[dict]) -> dict:
    """SAN (per-resolution backward) and summed-loss SAN peaks, relative to one plain step."""
    by_variant = {r['variant']: r for r in results}
    plain = by_variant['plain']['step_kib']
    out = dict(model=results[0]['model'], batch=results[0]['batch'], variants=by_variant,
               ratio=by_variant['san']['step_kib'] / plain, summed_ratio=by_variant['summed']['step_kib'] / plain)
    if 'san_kept' in by_variant:
        out['kept_ratio'] = by_variant['san_kept']['step_kib'] / plain
    return out


def inference_latency(model_name: str, resolutions: Sequence[int], resolution: int, batches: Sequence[int],
                      repeats: int, calls: int = 16) -> dict:
    """Eval-mode forward latency of the original timm model, the baked SAN and the SAN (kernels cached)."""
    import timm
    from san_plugin.core import bake, convert
    original = timm.create_model(model_name, pretrained=False).eval()
    san, _ = convert(copy.deepcopy(original), resolutions, init='pretrained')
    san.eval()
    baked = bake(san, resolution).eval()
    models = {'original': original, 'baked': baked, 'san': san}
    out = {}
    for batch in batches:
        x = torch.randn(batch, 3, resolution, resolution)
        inner = max(1, calls // batch)
        with torch.no_grad():
            times = _timed({n: (lambda m=m: m(x)) for n, m in models.items()}, repeats=repeats, warmup=1,
                           inner=inner)
        baked, san_r = _ratios(times['baked'], times['original']), _ratios(times['san'], times['original'])
        out[batch] = times | dict(inner=inner, clock=baked['clock'], baked_ratio=baked['ratio'],
                                  baked_wall_ratio=baked['wall_ratio'], san_ratio=san_r['ratio'],
                                  san_wall_ratio=san_r['wall_ratio'])
    return dict(model=model_name, resolution=resolution, batches=out)


def flops_per_resolution(model_name: str, resolutions: Sequence[int]) -> dict:
    """Forward FLOPs (batch 1) of the original, the converted SAN and the baked SAN at each resolution."""
    import timm
    from san_plugin.core import bake, convert
    original = timm.create_model(model_name, pretrained=False)
    san, _ = convert(copy.deepcopy(original), resolutions, init='pretrained')
    rows = {}
    for s in resolutions:
        rows[s] = dict(original=forward_flops(original, s), san=forward_flops(san, s),
                       baked=forward_flops(bake(san, s), s))
    return dict(model=model_name, rows=rows)


def scaling_times(model_name: str, resolutions: Sequence[int], batch: int, repeats: int, warmup: int) -> dict:
    """SAN step time with the k largest resolutions, k = 1..len, interleaved over k.

    One k-resolution SAN per k (the model and its optimizer state are those of that k).
    """
    resolutions = sorted(resolutions, reverse=True)
    ks = range(1, len(resolutions) + 1)
    models = {k: build_classifier(model_name, resolutions[:k], 'meta') for k in ks}
    wrappers = {k: optim_wrapper(m) for k, m in models.items()}
    data = {k: make_batch(resolutions[:k], batch) for k in ks}
    return _timed({k: (lambda k=k: models[k].train_step(data[k], wrappers[k])) for k in ks}, repeats=repeats,
                  warmup=warmup)
