"""Performance benchmark of san_plugin: training step, memory, data pipeline, latency, scaling, AMP, FLOPs, views.

    python benchmarks/perf.py [--quick] [--models resnet18 ...] [--repeats N] [--out DIR] [--data DIR]
    python benchmarks/perf.py --only views [--quick]   # figure 9 alone, merged into the existing JSON
    python benchmarks/perf.py --only latency --models mobilenetv2_100   # figure 4 for one model, merged


Writes ``perf_cpu.md`` (``perf_cuda.md`` is not produced: every figure here runs on the
CPU), ``perf_cpu.json`` and ``perf_scaling_cpu.png`` into ``--out`` (default
``benchmarks/results``). Every figure is a ratio of two things measured in the same run,
alternating, so background load affects both sides alike; the load is recorded.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field

import torch

from benchmarks import perf_report as report
from benchmarks import perf_sections as sections
from benchmarks.markdown import markdown_table
from benchmarks.perf_common import libraries_out_of_the_collectors_way
from benchmarks.perf_data import data_pipeline
from benchmarks.perf_views import views_figure
from benchmarks.portable_paths import portable
from benchmarks.results_json import int_keys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(os.path.dirname(REPO), 'shared', 'data', 'imagenette')
DEFAULT_MODELS = ('resnet18', 'resnet50', 'mobilenetv2_100')


CLOCK_NOTE = {
    'cpu': 'step and latency figures are medians of this process\'s CPU time (`time.process_time`, one torch '
           'thread), so the time the shared machine\'s other processes keep it descheduled is not counted; '
           'wall-clock ratios of the same rounds are given beside them. The data-pipeline figure is wall clock.',
    'wall': 'every figure is a median of wall-clock time.',
}


@dataclass
class Settings:
    """What one benchmark run measures."""

    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    resolutions: list[int] = field(default_factory=lambda: [128, 112, 96, 80, 64])
    batch: int = 32
    train_batches: list[int] | None = None  # figure 1's batches (default: [batch])
    repeats: int = 5
    warmup: int = 1
    latency_resolution: int = 112
    latency_batches: list[int] = field(default_factory=lambda: [1, 32])
    latency_repeats: int = 15
    latency_calls: int = 16
    amp_models: list[str] | None = None
    compile_models: list[str] = field(default_factory=lambda: ['resnet18'])
    compile_backend: str = 'inductor'
    memory_models: list[str] | None = None
    data_images: int = 1024
    data_batch: int = 32
    data_workers: int = 2
    data_repeats: int = 3
    memory_parallel: int = 1
    memory_batch: int | None = None
    threads: int = 2
    views_images: int = 256  # figure 9: generated ImageNet-size JPEGs, per pass
    views_batch: int = 32
    views_workers: int = 2
    views_repeats: int = 15
    views_pixel_images: int = 64
    views_cpu_images: int = 1024  # figure 9, CPU-scale settings

    @classmethod
    def quick(cls) -> 'Settings':
        return cls(models=['resnet18'], resolutions=[64, 48], batch=4, repeats=2, latency_batches=[1, 4],
                   latency_resolution=48, latency_repeats=3, latency_calls=1, data_images=32, data_batch=8,
                   data_repeats=1, memory_parallel=4, views_images=16, views_batch=8, views_repeats=1,
                   views_pixel_images=4, views_cpu_images=16,
                   amp_models=['resnet10t'],  # the bf16 path on a smaller net (the compile path costs the same)
                   compile_backend='aot_eager')  # exercises the path without a C++ compile


def machine_info() -> dict:
    """CPU model, cores, bf16 flags, load, library versions."""
    import mmengine
    import mmpretrain
    import timm
    cpuinfo = open('/proc/cpuinfo').read() if os.path.exists('/proc/cpuinfo') else ''
    model = re.search(r'^model name\s*:\s*(.+)$', cpuinfo, re.M)
    flags = re.search(r'^flags\s*:\s*(.+)$', cpuinfo, re.M)
    flags = set(flags.group(1).split()) if flags else set()
    bf16 = [f for f in ('avx512_bf16', 'amx_bf16', 'amx_tile', 'amx_int8', 'avx512f', 'avx512_vnni') if f in flags]
    return dict(cpu=model.group(1).strip() if model else platform.processor(), cores=os.cpu_count(),
                bf16_flags=bf16 or ['none of avx512_bf16/amx'], amx='amx_bf16' in flags,
                threads=torch.get_num_threads(), load=os.getloadavg(), python=platform.python_version(),
                torch=torch.__version__, timm=timm.__version__, mmengine=mmengine.__version__,
                mmpretrain=mmpretrain.__version__, cuda=torch.cuda.is_available(),
                mkldnn_bf16=getattr(torch.backends.mkldnn, 'is_available', lambda: False)())


def _busy_processes() -> list[str]:
    """The other processes using CPU right now (to record what shared the machine)."""
    try:
        out = subprocess.run(['ps', '-eo', 'pcpu,args', '--sort=-pcpu'], capture_output=True, text=True).stdout
    except OSError:
        return []
    rows = [line.strip()[:110] for line in out.splitlines()[1:] if line.strip()]
    return [r for r in rows if float(r.split()[0]) >= 20.0 and 'perf' not in r][:5]


def run(settings: Settings, data_root: str | None, log=print) -> dict:
    """Measures every figure; returns all results as plain data."""
    torch.set_num_threads(settings.threads)
    torch.manual_seed(0)
    res, s = settings.resolutions, settings
    results: dict = dict(settings=asdict(s), started=time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()),
                         load_start=os.getloadavg(), busy_start=_busy_processes())
    timings: dict = {}

    def timed(name: str, fn, *args):
        start = time.perf_counter()
        log(f'[perf] {name} ...')
        value = fn(*args)
        timings[name] = round(time.perf_counter() - start, 1)
        log(f'[perf] {name}: {timings[name]} s')
        return value

    results['training'] = [timed(f'training {m} batch {b}', sections.training_step, m, res, b, s.repeats, s.warmup)
                           for m in s.models for b in (s.train_batches or [s.batch])]
    memory_models = s.memory_models or s.models
    mem_batch = s.memory_batch or s.batch
    variants = ('san', 'plain', 'summed', 'san_kept')
    jobs = [(m, res, mem_batch, v) for m in memory_models for v in variants]
    scaling_ks = list(range(1, len(res) + (s.models[0] not in memory_models)))
    jobs += [(s.models[0], res[:k], mem_batch, 'san') for k in scaling_ks]
    memory = timed('memory', sections.run_memory_jobs, jobs, s.threads, s.memory_parallel)
    n = len(variants)
    results['memory'] = [sections.memory_figure(memory[i * n:i * n + n]) for i in range(len(memory_models))]
    results['data'] = timed('data', data_pipeline, data_root, res, s.data_images, s.data_batch, s.data_workers,
                            s.data_repeats)
    results['latency'] = [timed(f'latency {m}', sections.inference_latency, m, res, s.latency_resolution,
                                s.latency_batches, s.latency_repeats, s.latency_calls) for m in s.models]
    flops = [timed(f'flops {m}', sections.flops_per_resolution, m, res) for m in s.models]
    results['flops'] = flops
    scaling_memory = {len(r['resolutions']): r for r in memory[n * len(memory_models):]}
    if s.models[0] in memory_models:
        scaling_memory[len(res)] = results['memory'][memory_models.index(s.models[0])]['variants']['san']
    cumulative = {}
    for k in range(1, len(res) + 1):
        cumulative[k] = sum(flops[0]['rows'][r]['san'] for r in res[:k])
    results['scaling'] = dict(model=s.models[0], batch=s.batch, memory_batch=mem_batch, resolutions=res,
                              flops=cumulative,
                              memory=scaling_memory,
                              times=timed('scaling', sections.scaling_times, s.models[0], res, s.batch, s.repeats,
                                          s.warmup))
    results['amp'] = [timed(f'amp {m}', sections.mixed_precision, m, res, s.batch, s.repeats, s.warmup)
                      for m in (s.amp_models or s.models)]
    results['compile'] = [timed(f'compile {m}', sections.compiled_step, m, res, s.batch, s.repeats, s.warmup,
                                s.compile_backend) for m in s.compile_models]
    results['views'] = timed('views', run_views, s, data_root, log)
    results['clock'] = sections.headline_clock()
    results['load_end'] = os.getloadavg()
    results['busy_end'] = _busy_processes()
    results['section_seconds'] = timings
    return results


def run_latency(settings: Settings) -> list[dict]:
    """Figure 4 alone (``--only latency``): eval latency of each of ``settings.models``."""
    s = settings
    return [sections.inference_latency(m, s.resolutions, s.latency_resolution, s.latency_batches, s.latency_repeats,
                                       s.latency_calls) for m in s.models]


def run_views(settings: Settings, data_root: str | None, log=print) -> dict:
    """Figure 9 alone (see ``perf_views.py``)."""
    s = settings
    return views_figure(s.views_images, s.views_batch, s.views_workers, s.views_repeats, s.views_pixel_images,
                        s.views_cpu_images, data_root, log=log)


def summary(results: dict) -> list[str]:
    """One line per target: figure, model, ratio, target, met."""
    rows = []
    for r in results['training']:
        rows.append([f"1 train step SAN / shared convs, batch {r['batch']}", r['model'], f"{r['ratio']:.3f}",
                     '<= 1.05', report.verdict(r['ratio'], lambda v: v <= 1.05)])
        if 'kept_ratio' in r:
            rows.append([f"1 same, kernels kept (regenerate_kernels=False), batch {r['batch']}", r['model'],
                         f"{r['kept_ratio']:.3f}", '<= 1.05', report.verdict(r['kept_ratio'], lambda v: v <= 1.05)])
    for r in results['memory']:
        rows.append(['2 peak memory SAN / plain largest', r['model'], f"{r['ratio']:.2f}", '<= 1.3',
                     report.verdict(r['ratio'], lambda v: v <= 1.3)])
        if 'kept_ratio' in r:
            rows.append(['2 same, kernels kept (regenerate_kernels=False)', r['model'], f"{r['kept_ratio']:.2f}",
                         '<= 1.3', report.verdict(r['kept_ratio'], lambda v: v <= 1.3)])
    d = results['data']
    if 'skipped' not in d:
        for name, label in (('multi', 'views from the crop'), ('multi_from_largest', "views_from='largest'")):
            if name not in d['loaders']:  # results written before this pipeline was measured
                continue
            ratio = d['loaders'][name]['images_per_s'] / d['loaders']['standard']['images_per_s']
            rows.append([f'3 data MultiResolution ({label}) / standard', '-', f'{ratio:.2f}', '>= 0.75',
                         report.verdict(ratio, lambda v: v >= 0.75)])
    else:
        rows.append(['3 data MultiResolution / standard', '-', 'not measured', '>= 0.75', '-'])
    for r in results['latency']:
        for batch, b in r['batches'].items():
            rows.append([f'4 latency baked / original, batch {batch}', r['model'], f"{b['baked_ratio']:.3f}",
                         '0.97..1.03', report.verdict(b['baked_ratio'], lambda v: 0.97 <= v <= 1.03)])
            rows.append([f'4 latency SAN eval / original, batch {batch}', r['model'], f"{b['san_ratio']:.3f}",
                         '<= 1.05', report.verdict(b['san_ratio'], lambda v: v <= 1.05)])
    for r in results['amp']:
        rows.append(['6 bf16 autocast step / fp32 step', r['model'], f"{r['ratio']:.3f}", '<= 0.65',
                     report.verdict(r['ratio'], lambda v: v <= 0.65)])
    for r in results.get('compile', []):
        rows.append([f"8 torch.compile ({r['backend']}) step / eager step", r['model'], f"{r['ratio']:.3f}",
                     '(no target)', '-'])
    if results.get('views'):
        for name, row in results['views']['imagenet']['modes'].items():
            if name == 'standard':
                continue
            target = name == 'device'
            rows.append([f"9 ImageNet-size loader, {report.VIEW_MODES[name].split(':')[0]} / RandomResizedCrop",
                         '-', f"{row['loader']['ratio']:.2f}", f'>= {report.VIEWS_TARGET}' if target else '(no target)',
                         report.verdict(row['loader']['ratio'], lambda v: v >= report.VIEWS_TARGET) if target else '-'])
    return markdown_table(['figure', 'model', 'ratio', 'target', 'result'], rows)


def render(results: dict, machine: dict, command: str, notes: list[str], plot_name: str) -> str:
    s = results['settings']
    lines = ['# san_plugin performance on the CPU', '',
             f"Measured {results['started']} by `{portable(command)}`.", '',
             f"- Machine: {machine['cpu']}, {machine['cores']} cores, torch threads {s['threads']}, CUDA: "
             f"{machine['cuda']}; bf16 flags: {', '.join(machine['bf16_flags'])} (AMX: {machine['amx']}).",
             f"- Load average (1, 5, 15 min): start {tuple(round(x, 2) for x in results['load_start'])}, end "
             f"{tuple(round(x, 2) for x in results['load_end'])}. Other busy processes at the start: "
             f"{portable('; '.join(results['busy_start'])) or 'none'}.",
             f"- Versions: python {machine['python']}, torch {machine['torch']}, timm {machine['timm']}, mmengine "
             f"{machine['mmengine']}, mmpretrain {machine['mmpretrain']}.",
             f"- Settings: models {s['models']}, resolutions {s['resolutions']}, training batch {s['batch']}, "
             f"{s['repeats']} timed rounds after {s['warmup']} warm-up round(s); section seconds "
             f"{results['section_seconds']}.",
             f"- Clock: {CLOCK_NOTE[results.get('clock', 'wall')]}", '',
             '## Summary', '']
    lines += summary(results) + ['']
    if notes:
        lines += ['## Notes', ''] + notes + ['']
    method = ('Each variant runs in a fresh process (`benchmarks/perf_memory_worker.py`, '
              '`MALLOC_MMAP_THRESHOLD_=65536` so that freed tensor buffers return to the OS and the resident size '
              'follows the live tensors). "Before" = after building the model and the SGD optimizer and one '
              'warm-up step of the same variant (so the momentum buffers, oneDNN caches and lazily created '
              'buffers are part of it, gradients freed as after any step); the high-water mark is then reset '
              '(`/proc/self/clear_refs`) and one step is measured: figure = peak RSS during the step - RSS before. '
              'It holds activations, gradients, generated kernels and temporaries. plain = the unconverted network, '
              'one step at the largest resolution alone; summed = the SAN with every resolution\'s forward first '
              'and one backward of the summed loss (all graphs alive).')
    lines += report.training_section(results['training'])
    lines += report.memory_section(results['memory'], method)
    lines += report.data_section(results['data'])
    lines += report.latency_section(results['latency'])
    lines += report.scaling_section(results['scaling'], plot_name)
    lines += report.amp_section(results['amp'], ', '.join(machine['bf16_flags']))
    lines += report.flops_section(results['flops'], {r['model']: r for r in results['training']})
    lines += report.compile_section(results.get('compile', []))
    lines += report.views_section(results.get('views'))
    return '\n'.join(lines) + '\n'


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='tiny setting (one model, 2 resolutions, few repeats)')
    parser.add_argument('--models', nargs='+', help=f'timm model names (default {" ".join(DEFAULT_MODELS)})')
    parser.add_argument('--repeats', type=int, help='timed rounds per training figure')
    parser.add_argument('--batch', type=int, help='training batch size')
    parser.add_argument('--train-batches', type=int, nargs='+', help="figure 1's batch sizes (default: --batch)")
    parser.add_argument('--threads', type=int, help='torch threads (default 2)')
    parser.add_argument('--amp-models', nargs='+', help='models for the mixed-precision figure (default: --models)')
    parser.add_argument('--compile-models', nargs='*', help='models for the torch.compile figure (default resnet18; '
                        'none to skip)')
    parser.add_argument('--memory-models', nargs='+', help='models for the memory figure (default: --models)')
    parser.add_argument('--memory-batch', type=int, help='batch of the memory figure (default: --batch)')
    parser.add_argument('--memory-parallel', type=int, help='memory workers run at once (default 1)')
    parser.add_argument('--render-only', action='store_true',
                        help='re-render the Markdown from the JSON in --out (e.g. with new --notes), no measuring')
    parser.add_argument('--only', choices=['views', 'latency'],
                        help='measure one figure only and merge it into the JSON in --out, then re-render '
                             '(latency: the rows of --models replace theirs, the other models\' rows stay)')
    parser.add_argument('--views-images', type=int, help='figure 9: generated ImageNet-size JPEGs (default 256)')
    parser.add_argument('--views-repeats', type=int, help='figure 9: timed rounds (default 15)')
    parser.add_argument('--views-workers', type=int, help='figure 9: loader workers (default 2)')
    parser.add_argument('--out', default=os.path.join(REPO, 'benchmarks', 'results'), help='output directory')
    parser.add_argument('--data', default=DEFAULT_DATA, help='ImageNet-layout dataset for the data figure')
    parser.add_argument('--notes', help='a Markdown file whose lines go into the report\'s Notes section')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> str:
    with libraries_out_of_the_collectors_way():
        return _main(parse_args(argv), argv)


def _main(args: argparse.Namespace, argv: list[str] | None) -> str:
    settings = Settings.quick() if args.quick else Settings()
    if args.models:
        settings.models = args.models
    if args.repeats:
        settings.repeats = args.repeats
    if args.batch:
        settings.batch = args.batch
    settings.train_batches = args.train_batches or settings.train_batches
    if args.threads:
        settings.threads = args.threads
    settings.amp_models = args.amp_models or settings.amp_models
    settings.memory_models = args.memory_models or settings.memory_models
    if args.compile_models is not None:
        settings.compile_models = args.compile_models
    settings.memory_batch = args.memory_batch or settings.memory_batch
    settings.memory_parallel = args.memory_parallel or settings.memory_parallel
    settings.views_images = args.views_images or settings.views_images
    settings.views_repeats = args.views_repeats or settings.views_repeats
    if args.views_workers is not None:
        settings.views_workers = args.views_workers
    os.makedirs(args.out, exist_ok=True)
    suffix = 'cpu'  # every figure here runs on the CPU (no CUDA variant is implemented)
    json_path = os.path.join(args.out, f'perf_{suffix}.json')
    plot_name = f'perf_scaling_{suffix}.png'
    command_now = ' '.join(shlex.quote(a) for a in [os.path.relpath(sys.executable, REPO)] +
                           [os.path.relpath(sys.argv[0], REPO)] + (sys.argv[1:] if argv is None else argv))
    if args.render_only or args.only:
        if not os.path.exists(json_path):
            raise SystemExit(f'{json_path} does not exist: run the whole benchmark once first')
        with open(json_path) as f:
            saved = json.load(f, object_hook=int_keys)
        machine, command, results = saved['machine'], saved['command'], saved['results']
        if args.only == 'latency':
            torch.set_num_threads(settings.threads)
            measured = dict(started=time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()), command=command_now,
                            load_start=os.getloadavg(), busy_start=_busy_processes())
            fresh = {row['model']: row for row in run_latency(settings)}
            for row in fresh.values():
                row['measured'] = measured | dict(load_end=os.getloadavg(), busy_end=_busy_processes())
            results['latency'] = [fresh.pop(row['model'], row) for row in results['latency']] + list(fresh.values())
            with open(json_path, 'w') as f:
                json.dump(dict(machine=machine, command=command, results=results), f, indent=1, default=str)
        if args.only == 'views':
            torch.set_num_threads(settings.threads)
            measured = dict(started=time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()), command=command_now,
                            load_start=os.getloadavg(), busy_start=_busy_processes())
            results['views'] = run_views(settings, args.data)
            results['views']['measured'] = measured | dict(load_end=os.getloadavg(), busy_end=_busy_processes())
            with open(json_path, 'w') as f:
                json.dump(dict(machine=machine, command=command, results=results), f, indent=1, default=str)
    else:
        torch.set_num_threads(settings.threads)
        machine = machine_info()
        results = run(settings, args.data)
        command = command_now
        with open(json_path, 'w') as f:
            json.dump(dict(machine=machine, command=command, results=results), f, indent=1, default=str)
    report.plot_scaling(results['scaling'], os.path.join(args.out, plot_name))
    notes = open(args.notes).read().splitlines() if args.notes else []
    path = os.path.join(args.out, f'perf_{suffix}.md')
    with open(path, 'w') as f:
        f.write(render(results, machine, command, notes, plot_name))
    print(f'[perf] wrote {path}')
    return path


if __name__ == '__main__':
    main()
