"""CUDA performance figures of san_plugin: training throughput, memory, eval latency, loader, torch.compile.

    python benchmarks/gpu/perf_cuda.py [--out benchmarks/results] [--sections train,memory,latency,loader]
    python benchmarks/gpu/perf_cuda.py --sections compile --merge      # add figure(s) to an existing JSON
    python benchmarks/gpu/perf_cuda.py --device cpu --tiny --out /tmp/dry   # the dry run (no GPU)

On a GPU it writes ``perf_cuda.md`` and ``perf_cuda.json`` into ``--out`` (default
``benchmarks/results``); the markdown names the GPU, the versions and every command that
contributed. On the CPU (``--device cpu``) it exercises the same code at a tiny size and
writes ``perf_cuda_dryrun_cpu.md``/``.json`` to a scratch folder: a CPU run never writes
into ``benchmarks/results``. Each section runs even if an earlier one failed; the exit
status is 1 if any failed (its traceback is in the report).

Sections: ``flops`` (FLOPs of the resolutions over the largest's), ``train`` (step time and
images/s of the SAN, the SAN with kernels kept, shared convs + private BN and the plain network
at the largest resolution; AMP, channels_last), ``memory`` (peak per step), ``latency`` (eval,
original / SAN / baked, batch 1 and 64), ``loader`` (the ImageNet training loader against the
step), ``compile`` (``torch.compile`` step / eager step).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field

import torch

from benchmarks.gpu import cuda_sections as sections
from benchmarks.gpu.cuda_models import amp_name
from benchmarks.gpu.cuda_timing import CLOCK_NOTE
from benchmarks.gpu.loader_rate import loader_rate
from benchmarks.gpu.perf_cuda_report import render
from benchmarks.perf_common import libraries_out_of_the_collectors_way

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(REPO, 'benchmarks', 'results')
ALL_SECTIONS = ('flops', 'train', 'memory', 'latency', 'loader', 'compile')
DEFAULT_SECTIONS = ('flops', 'train', 'memory', 'latency', 'loader')


@dataclass
class Settings:
    """What one run measures (the GPU defaults; :meth:`tiny` for the CPU dry run)."""

    model: str = 'resnet50'
    resolutions: list[int] = field(default_factory=lambda: [224, 192, 160, 128, 96])
    train_batches: list[int] = field(default_factory=lambda: [128])
    amp: bool = True
    channels_last: bool = True
    repeats: int = 10
    warmup: int = 3
    inner: int = 2
    latency_batches: list[int] = field(default_factory=lambda: [1, 64])
    latency_precisions: list[str] = field(default_factory=lambda: ['amp', 'fp32'])
    latency_repeats: int = 10
    latency_calls: dict[int, int] = field(default_factory=lambda: {1: 50, 64: 10})
    loader_workers: int = 16
    loader_files: int = 1024
    loader_windows: int = 6
    loader_resolutions: list[int] | None = None  # None: the config's
    compile_model: str = 'resnet50'
    compile_backend: str = 'inductor'
    compile_repeats: int = 5

    @classmethod
    def tiny(cls) -> 'Settings':
        return cls(model='resnet18', resolutions=[64, 48], train_batches=[4], repeats=2, warmup=1, inner=1,
                   latency_batches=[1, 4], latency_repeats=2, latency_calls={1: 2, 4: 1}, loader_workers=2,
                   loader_files=16, loader_windows=2, loader_resolutions=[64, 48], compile_model='resnet18',
                   compile_backend='aot_eager', compile_repeats=2)


def machine(device: str) -> dict:
    """The GPU, driver, library versions and settings the figures depend on."""
    import mmengine
    import mmpretrain
    import timm
    import torchvision
    meta = dict(device=device, python=platform.python_version(), cpu_count=os.cpu_count(), torch=torch.__version__,
                torchvision=torchvision.__version__, timm=timm.__version__, mmengine=mmengine.__version__,
                mmpretrain=mmpretrain.__version__, cuda=torch.version.cuda,
                cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
                cudnn_benchmark=torch.backends.cudnn.benchmark, tf32=torch.backends.cuda.matmul.allow_tf32,
                clock=CLOCK_NOTE[device], gpu='none (CPU dry run)', driver=None, gpu_memory_gib=None)
    if device == 'cuda':
        props = torch.cuda.get_device_properties(0)
        meta.update(gpu=torch.cuda.get_device_name(0), gpu_memory_gib=props.total_memory / 2**30,
                    capability='.'.join(map(str, torch.cuda.get_device_capability(0))))
        try:
            meta['driver'] = subprocess.run(['nvidia-smi', '--query-gpu=driver_version', '--format=csv,noheader'],
                                            capture_output=True, text=True, timeout=30).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            pass
    return meta


def output_paths(out: str, device: str) -> tuple[str, str]:
    """``perf_cuda.{md,json}`` on a GPU, ``perf_cuda_dryrun_cpu.{md,json}`` elsewhere (never into results/)."""
    if device != 'cuda':
        if os.path.realpath(out) == os.path.realpath(RESULTS):
            raise SystemExit(f'a CPU run must not write into {RESULTS}: give --out a scratch folder')
        stem = 'perf_cuda_dryrun_cpu'
    else:
        stem = 'perf_cuda'
    return os.path.join(out, stem + '.md'), os.path.join(out, stem + '.json')


def run_sections(names: list[str], s: Settings, device: str, results: dict, save=lambda: None, log=print) -> None:
    """Measures the named sections into ``results`` (errors recorded per section, never raised).

    ``save`` is called after every section, so a run stopped at a time limit keeps what it measured.
    """
    errors = results.setdefault('errors', {})
    benches: dict[int, sections.TrainBench] = {}

    def attempt(name: str, fn) -> None:
        start = time.perf_counter()
        log(f'[perf_cuda] {name} ...', flush=True)
        try:
            fn()
            errors.pop(name, None)
            log(f'[perf_cuda] {name} done in {time.perf_counter() - start:.1f} s', flush=True)
        except Exception:  # noqa: BLE001  (one failed figure must not hide the others)
            errors[name] = traceback.format_exc()
            log(f'[perf_cuda] {name} FAILED after {time.perf_counter() - start:.1f} s:\n{errors[name]}', flush=True)
        finally:
            if device == 'cuda':
                torch.cuda.empty_cache()
            save()

    def bench(batch: int) -> sections.TrainBench:
        if batch not in benches:
            benches[batch] = sections.TrainBench(s.model, s.resolutions, batch, device, s.amp, s.channels_last)
        return benches[batch]

    if 'flops' in names:
        attempt('flops', lambda: results.__setitem__('flops', sections.flops(s.model, s.resolutions)))
    if 'train' in names:
        def train() -> None:
            ratio = (results.get('flops') or {}).get('ratio') or sections.flops(s.model, s.resolutions)['ratio']
            results['train'] = [sections.training(bench(b), ratio, s.repeats, s.warmup, s.inner)
                                for b in s.train_batches]
        attempt('train', train)
    if 'memory' in names:
        attempt('memory', lambda: results.__setitem__('memory', sections.memory(bench(s.train_batches[0]))))
    benches.clear()
    if 'latency' in names:
        attempt('latency', lambda: results.__setitem__('latency', sections.latency(
            s.model, s.resolutions, max(s.resolutions), s.latency_batches, device, s.channels_last,
            s.latency_precisions, s.latency_repeats, s.latency_calls)))
    if 'loader' in names:
        def loader() -> None:
            batch = s.train_batches[0]
            figure = loader_rate(device, s.loader_workers, s.loader_files, batch, s.loader_windows,
                                 s.loader_resolutions)
            step = next((t for t in results.get('train', []) if t['batch'] == batch), None)
            figure['step_images_per_s'] = step['images_per_s']['san'] if step else None
            figure['vs_step'] = figure['images_per_s'] / figure['step_images_per_s'] if step else None
            results['loader'] = figure
        attempt('loader', loader)
    if 'compile' in names:
        def compiled() -> None:
            figure = results['compile'] = sections.compiled_step(
                s.compile_model, s.resolutions, s.train_batches[0], device, s.amp, s.channels_last,
                s.compile_backend, s.compile_repeats)
            if figure['parameters_not_updated_count']:
                raise RuntimeError(f'the compiled step left {figure["parameters_not_updated_count"]} parameters '
                                   f'unchanged that the eager step updated, e.g. {figure["parameters_not_updated"][:3]}')
        attempt('compile', compiled)


def write_atomically(path: str, text: str) -> None:
    """Writes ``text`` to a temporary file beside ``path``, then renames it over ``path``."""
    tmp = path + '.tmp'
    with open(tmp, 'w') as handle:
        handle.write(text)
    os.replace(tmp, path)


def quiet_mmengine() -> None:
    """mmengine logs every parameter's initialisation at INFO: keep its warnings only."""
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel('WARNING')


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', choices=['cuda', 'cpu'], default='cuda')
    parser.add_argument('--tiny', action='store_true', help='tiny sizes (the CPU dry run)')
    parser.add_argument('--out', help='output folder (default: benchmarks/results on a GPU; required on the CPU)')
    parser.add_argument('--sections', default=','.join(DEFAULT_SECTIONS),
                        help=f'comma-separated, of {",".join(ALL_SECTIONS)}')
    parser.add_argument('--merge', action='store_true', help='update the existing JSON in --out with these sections')
    parser.add_argument('--model', help='timm model of the training/latency figures')
    parser.add_argument('--train-batches', type=int, nargs='+')
    parser.add_argument('--repeats', type=int)
    parser.add_argument('--loader-workers', type=int)
    parser.add_argument('--loader-files', type=int)
    parser.add_argument('--compile-model')
    parser.add_argument('--compile-backend')
    parser.add_argument('--no-channels-last', action='store_true')
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    s = Settings.tiny() if args.tiny else Settings()
    for name in ('model', 'train_batches', 'repeats', 'loader_workers', 'loader_files', 'compile_model',
                 'compile_backend'):
        if getattr(args, name) is not None:
            setattr(s, name, getattr(args, name))
    if args.no_channels_last:
        s.channels_last = False
    return s


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda but torch sees no GPU; for the dry run use --device cpu --tiny --out DIR')
    if args.device == 'cpu' and not args.out:
        raise SystemExit('--device cpu needs --out (a scratch folder: CPU figures are not CUDA figures)')
    names = [n.strip() for n in args.sections.split(',') if n.strip()]
    unknown = sorted(set(names) - set(ALL_SECTIONS))
    if unknown:
        raise SystemExit(f'unknown section(s) {unknown}; known: {ALL_SECTIONS}')
    out = args.out or RESULTS
    os.makedirs(out, exist_ok=True)
    md_path, json_path = output_paths(out, args.device)
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    quiet_mmengine()
    s = settings_from(args)
    command = 'python ' + ' '.join(shlex.quote(a) for a in [os.path.relpath(__file__, REPO)] + sys.argv[1:]) \
        if argv is None else 'python benchmarks/gpu/perf_cuda.py ' + ' '.join(shlex.quote(a) for a in argv)
    started = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())
    results: dict = {}
    if args.merge and os.path.exists(json_path):
        with open(json_path) as handle:
            results = json.load(handle)
    meta = machine(args.device)
    meta['commands'] = results.get('meta', {}).get('commands', []) + [[command, started]]
    results['meta'] = meta
    results.setdefault('settings', {**asdict(s), 'amp': amp_name(args.device, s.amp)})
    results['settings'].update(compile_model=s.compile_model, compile_backend=s.compile_backend)
    def save() -> None:
        write_atomically(json_path, json.dumps(results, indent=1, default=str))
        write_atomically(md_path, render(results))

    # the libraries kept out of the cyclic collector's walk: its gc.collect() before every sample walked
    # ~400k objects, half of the CPU dry run's time. Timings are unchanged.
    with libraries_out_of_the_collectors_way():
        run_sections(names, s, args.device, results, save)
    save()
    print(f'[perf_cuda] wrote {md_path} and {json_path}', flush=True)
    failed = [n for n in names if n in results.get('errors', {})]
    if failed:
        print(f'[perf_cuda] failed sections: {failed}', flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
