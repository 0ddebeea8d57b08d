"""The training cost of a sampled SAN step: step GFLOPs and step time, 'all' against 'sandwich'.

    python benchmarks/imagenette/sampling_cost.py --out benchmarks/results/imagenette_sampling_cost

builds the Imagenette ResNet-18 SAN of ``configs/imagenette/`` (half width, 64..32 px) three times,
with ``sampling`` ``'all'`` and ``'sandwich'`` with 1 and 2 random resolutions, and measures, in one
run:

- step GFLOPs (forward + backward, ``torch.utils.flop_counter``): each resolution's count once, then
  the expected step as the sum over the resolutions of (probability of being drawn) x (its count);
  a full 'all' step is counted too, as a check that the counts add up;
- step time on the CPU: the three models' ``train_step`` round-robin on the same batch (views made
  beforehand, so the data pipeline is not timed), CPU time of this process (one thread: the compute,
  whatever else runs on the machine) and wall time, medians over the rounds; each sandwich step
  draws by its own iteration counter, so the medians cover the draws;
- time per epoch = the median step x the steps of one Imagenette epoch.

The ratios are what to read; absolute times depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from benchmarks.imagenette.common import TRAIN_RESOLUTIONS, fmt

VARIANTS = {'all': None, 'sandwich1': dict(type='sandwich', num_random=1),
            'sandwich2': dict(type='sandwich', num_random=2)}
IMAGENETTE_TRAIN_IMAGES = 9469


def build(sampling: dict | None, width: float, classes: int = 10):
    """The Imagenette ResNet-18 SAN (the shipped config) with ``sampling``, in train mode."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    import san_plugin.mm  # noqa: F401

    init_default_scope('mmpretrain')
    repo = Path(__file__).resolve().parents[2]
    cfg = Config.fromfile(str(repo / 'configs/imagenette/san_resnet18_imagenette.py'))
    model = cfg.model
    channels = int(round(64 * width))
    model.backbone.stem_channels = model.backbone.base_channels = channels
    model.head.in_channels = channels * 8
    model.head.num_classes = classes
    model.data_preprocessor = dict(cfg.data_preprocessor, resize_on_device=False, num_classes=classes)
    if sampling is not None:
        model.san.sampling = sampling
    from san_plugin.mm.engine.quiet_init import init_logs_hidden
    torch.manual_seed(0)
    with init_logs_hidden():
        built = MODELS.build(model.to_dict())
        built.init_weights()
    return built.train()


def batch(batch_size: int, classes: int = 10, seed: int = 0) -> dict:
    """Every training view of one batch, uint8, largest first (what the workers give the step)."""
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(seed)
    views = [torch.randint(0, 256, (batch_size, 3, s, s), generator=gen, dtype=torch.uint8) for s in TRAIN_RESOLUTIONS]
    return {'inputs': views, 'data_samples': [DataSample().set_gt_label(i % classes) for i in range(batch_size)]}


def resolution_flops(model, batch_size: int) -> dict[int, int]:
    """Forward + backward FLOPs of one resolution's batch, per training resolution."""
    from torch.utils.flop_counter import FlopCounterMode
    from san_plugin.core import input_resolution
    counts = {}
    for size in TRAIN_RESOLUTIONS:
        x = torch.randn(batch_size, 3, size, size)
        with FlopCounterMode(display=False) as counter:
            model(x, mode='tensor').sum().backward()
        assert input_resolution(x) == size
        counts[size] = int(counter.get_total_flops())
    model.zero_grad(set_to_none=True)
    return counts


def all_step_flops(model, data: dict) -> int:
    from mmengine.optim import OptimWrapper
    from torch.utils.flop_counter import FlopCounterMode
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.0))
    with FlopCounterMode(display=False) as counter:
        model.train_step(data, wrapper)
    return int(counter.get_total_flops())


def draw_probabilities(sampling: dict | None) -> dict[int, float]:
    """The probability that a step runs each training resolution."""
    if sampling is None:
        return {s: 1.0 for s in TRAIN_RESOLUTIONS}
    middle = TRAIN_RESOLUTIONS[1:-1]
    p = sampling['num_random'] / len(middle)
    return {s: 1.0 if s in (TRAIN_RESOLUTIONS[0], TRAIN_RESOLUTIONS[-1]) else p for s in TRAIN_RESOLUTIONS}


def measure(batch_size: int, rounds: int, width: float, threads: int) -> dict:
    from benchmarks.perf_common import interleaved_both, libraries_out_of_the_collectors_way, median
    from mmengine.optim import OptimWrapper
    torch.set_num_threads(threads)
    with libraries_out_of_the_collectors_way():
        models = {name: build(sampling, width) for name, sampling in VARIANTS.items()}
        per_size = resolution_flops(models['all'], batch_size)
        checked = all_step_flops(models['all'], batch(batch_size))
        data = batch(batch_size)
        wrappers = {name: OptimWrapper(torch.optim.SGD(m.parameters(), lr=0.0)) for name, m in models.items()}

        def step(name):
            return lambda: models[name].train_step({'inputs': list(data['inputs']),
                                                    'data_samples': data['data_samples']}, wrappers[name])

        times = interleaved_both({name: step(name) for name in models}, repeats=rounds, warmup=2)
    steps_per_epoch = -(-IMAGENETTE_TRAIN_IMAGES // batch_size)
    rows = {}
    for name, sampling in VARIANTS.items():
        probability = draw_probabilities(sampling)
        flops = sum(probability[s] * per_size[s] for s in TRAIN_RESOLUTIONS)
        cpu, wall = median(times[name]['cpu']), median(times[name]['wall'])
        rows[name] = dict(sampling=sampling or dict(type='all'), step_gflops=flops / 1e9,
                          step_cpu_s=cpu, step_wall_s=wall, epoch_cpu_min=cpu * steps_per_epoch / 60,
                          epoch_wall_min=wall * steps_per_epoch / 60)
    for row in rows.values():
        for key in ('step_gflops', 'step_cpu_s', 'step_wall_s'):
            row[key.replace('step_', 'ratio_')] = row[key] / rows['all'][key]
    return dict(batch_size=batch_size, rounds=rounds, width=width, threads=threads, resolutions=list(TRAIN_RESOLUTIONS),
                steps_per_epoch=steps_per_epoch, resolution_gflops={s: v / 1e9 for s, v in per_size.items()},
                all_step_gflops_counted=checked / 1e9, rows=rows,
                machine=dict(platform=platform.platform(), processor=platform.processor() or platform.machine(),
                             torch=torch.__version__))


def markdown(result: dict, command: str) -> str:
    lines = ['# Training cost of a sampled SAN step (Imagenette ResNet-18 SAN, CPU)', '',
             f"Half-width ResNet-18 SAN ({result['width']}), training sizes "
             f"{'/'.join(map(str, result['resolutions']))} px, batch {result['batch_size']}, {result['threads']} thread(s), "
             f"{result['rounds']} interleaved rounds; {result['steps_per_epoch']} steps per Imagenette epoch. "
             f"Step GFLOPs are forward + backward, expected over the draw.", '',
             '| sampling | step GFLOPs | vs all | step CPU time (s) | vs all | step wall (s) | vs all | epoch CPU (min) |',
             '|---|---|---|---|---|---|---|---|']
    for name, row in result['rows'].items():
        lines.append(f"| {name} | {fmt(row['step_gflops'], 2)} | {fmt(row['ratio_gflops'], 3)} | {fmt(row['step_cpu_s'], 3)} | "
                     f"{fmt(row['ratio_cpu_s'], 3)} | {fmt(row['step_wall_s'], 3)} | {fmt(row['ratio_wall_s'], 3)} | "
                     f"{fmt(row['epoch_cpu_min'], 1)} |")
    per_size = ', '.join(f"{s} px {fmt(v, 2)}" for s, v in result['resolution_gflops'].items())
    lines += ['', f'Forward + backward GFLOPs of one batch per resolution: {per_size}; their sum '
              f"{fmt(sum(result['resolution_gflops'].values()), 2)} against {fmt(result['all_step_gflops_counted'], 2)} "
              'counted over one whole \'all\' step (the head and losses add the rest).', '',
              f"Machine: {result['machine']['processor']}, torch {result['machine']['torch']}.", '',
              '```', command, '```', '']
    return '\n'.join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default='benchmarks/results/imagenette_sampling_cost', help='results prefix (.md, .json)')
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--rounds', type=int, default=12)
    p.add_argument('--width', type=float, default=0.5)
    p.add_argument('--threads', type=int, default=1)
    args = p.parse_args(argv)
    result = measure(args.batch_size, args.rounds, args.width, args.threads)
    command = 'python benchmarks/imagenette/sampling_cost.py ' + ' '.join(argv if argv is not None else __import__('sys').argv[1:])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(result, indent=1) + '\n')
    out.with_suffix('.md').write_text(markdown(result, command.strip()))
    print(out.with_suffix('.md').read_text())


if __name__ == '__main__':
    main()
