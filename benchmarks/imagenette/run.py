"""Issue 7: the paper's Table 1 pattern on Imagenette, ResNet-18, on the CPU.

One command trains every model one after the other, evaluates each on the validation set at
every test resolution, then writes ``benchmarks/results/imagenette_resnet18.md`` (+ .json, .png):

    nohup .venv/bin/python benchmarks/imagenette/run.py --data-root ../shared/data/imagenette \\
        > work_dirs/imagenette/run.log 2>&1 &

Models, in this order (partial results stay useful): the SAN, the baselines trained at
64, 48, 32, 56, 40 px, then the two ablations (no scale distillation; shared convolutions with
private BN). A model whose work dir already holds its final checkpoint and ``timing.json`` is
not trained again (``--force`` retrains), so a stopped run continues where it stopped.

The recipe lives in ``configs/imagenette/``; this script only rewrites what its options name:
the data root, the epochs (warm-up + cosine rebuilt for them, validation and the checkpoint at
the end only), the batch size (the config's lr scaled linearly with it), the loader workers and,
with ``--width`` below 1, the backbone width (the budget option for a slow machine), and with
``--arch mobilenetv2`` the backbone of every model (mmpretrain's MobileNetV2 in the ResNet-18's place).
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
from pathlib import Path

from benchmarks.imagenette.common import TEST_RESOLUTIONS, TRAIN_RESOLUTIONS

REPO = Path(__file__).resolve().parents[2]

CONFIGS = {
    'san': 'configs/imagenette/san_resnet18_imagenette.py',
    'baseline_64': 'configs/imagenette/baseline_resnet18_imagenette_64.py',
    'baseline_48': 'configs/imagenette/baseline_resnet18_imagenette_48.py',
    'baseline_32': 'configs/imagenette/baseline_resnet18_imagenette_32.py',
    'baseline_56': 'configs/imagenette/baseline_resnet18_imagenette_56.py',
    'baseline_40': 'configs/imagenette/baseline_resnet18_imagenette_40.py',
    'san_nodistill': 'configs/imagenette/san_resnet18_imagenette_nodistill.py',
    'san_sharedconv': 'configs/imagenette/san_resnet18_imagenette_sharedconv.py',
    # post-hoc variant: the SAN loss / 5 (see the config); last, so it never delays the paper's models
    'san_meanloss': 'configs/imagenette/san_resnet18_imagenette_meanloss.py',
    # issue 18 candidates (see each config)
    'san_sharedlr': 'configs/imagenette/san_resnet18_imagenette_sharedlr.py',
    'san_wlr': 'configs/imagenette/san_resnet18_imagenette_wlr.py',
    'san_sdnorm': 'configs/imagenette/san_resnet18_imagenette_sdnorm.py',
    'san_stdenc': 'configs/imagenette/san_resnet18_imagenette_stdenc.py',
    # issue 24: the normalised loss (CE and distillation averaged instead of summed)
    'san_mean': 'configs/imagenette/san_resnet18_imagenette_mean.py',
    # a sample of the resolutions per step (the sandwich rule: 64, 32 and 1 or 2 of 56/48/40)
    'san_sandwich1': 'configs/imagenette/san_resnet18_imagenette_sandwich1.py',
    'san_sandwich2': 'configs/imagenette/san_resnet18_imagenette_sandwich2.py',
    # issue 15: the SAN fine-tuned from this run's baseline_64 (its own, shorter schedule)
    'san_finetune': 'configs/imagenette/san_resnet18_imagenette_finetune.py',
}
# --arch mobilenetv2: the MobileNetV2 recipe's own configs; a model without one gets the ResNet-18
# config with mmpretrain's MobileNetV2 swapped in (set_backbone).
ARCH_CONFIGS = {
    'mobilenetv2': {
        'san': 'configs/imagenette/san_mobilenetv2_imagenette.py',
        'san_mean': 'configs/imagenette/san_mobilenetv2_imagenette_mean.py',
        'san_clip': 'configs/imagenette/san_mobilenetv2_imagenette_clip.py',
        'san_warmup5': 'configs/imagenette/san_mobilenetv2_imagenette_warmup5.py',
        **{f'baseline_{s}': f'configs/imagenette/baseline_mobilenetv2_imagenette_{s}.py' for s in TRAIN_RESOLUTIONS},
    },
}
FINETUNED = {'san_finetune': 'baseline_64'}  # model -> the run whose final checkpoint it starts from
ARCHS = {
    'resnet18': "mmpretrain's ResNet-18 (depth 18, ImageNet stem: 7x7/2 conv + max-pool), the configs' backbone",
    # The paper's MobileNetV2 recipe differs from the ResNet one in its weight decay (4e-5 against 1e-4) and lr;
    # --lr sets the rate here as for the ResNet runs.
    'mobilenetv2': "mmpretrain's MobileNetV2 (inverted residuals, 3x3/2 stem), weight decay 4e-5 (the paper's)",
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data-root', default='data/imagenette', help='Imagenette root (train/, val/)')
    p.add_argument('--work-dir', default='work_dirs/imagenette', help='checkpoints, logs, per-model results')
    p.add_argument('--out', default=None, help='results prefix (.md/.json/.png; default benchmarks/results/imagenette_ARCH)')
    p.add_argument('--arch', choices=sorted(ARCHS), default='resnet18',
                   help="the backbone of every model (the configs' ResNet-18, or swapped for mmpretrain's MobileNetV2)")
    p.add_argument('--models', default=','.join(CONFIGS), help='comma-separated subset of: ' + ','.join(CONFIGS)
                   + '; with --arch mobilenetv2 also: ' + ','.join(sorted(set(ARCH_CONFIGS['mobilenetv2']) - set(CONFIGS))))
    p.add_argument('--epochs', type=int, default=None, help="default: the configs' max_epochs")
    p.add_argument('--warmup-epochs', type=float, default=None,
                   help="linear warm-up length (fractions allowed; default: the config's warmup_epochs, else 1)")
    p.add_argument('--batch-size', type=int, default=None, help="default: the configs' (64)")
    p.add_argument('--finetune-epochs', type=int, default=None,
                   help="epochs of the fine-tuned SAN (default: the config's, 5); --epochs sets the others")
    p.add_argument('--finetune-warmup-epochs', type=float, default=0.0, help='its linear warm-up (default none)')
    p.add_argument('--finetune-from', default=None,
                   help='plain checkpoint the fine-tuned SAN starts from (default: this run\'s baseline_64)')
    p.add_argument('--lr', type=float, default=None,
                   help="learning rate per batch of 64 (default: the configs'); scaled linearly with --batch-size")
    p.add_argument('--num-workers', type=int, default=2)
    p.add_argument('--width', type=float, default=None,
                   help="backbone width multiplier (ResNet-18: stem/base channels 64 x width; MobileNetV2: widen_factor); "
                        "default: the config's (ResNet-18: 1, MobileNetV2: 0.5)")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--views', choices=('config', 'crop'), default='config',
                   help="how a SAN's training views are made: as its config says (the shipped Imagenette configs: "
                        "the largest in the workers, the smaller ones on the device), or every view resized from the "
                        "crop in the workers (the pipeline of the ResNet-18 learning-rate sweep and its seeds)")
    p.add_argument('--test-resolutions', type=int, nargs='+', default=list(TEST_RESOLUTIONS))
    p.add_argument('--eval-batch-size', type=int, default=100)
    p.add_argument('--ablation-rows', choices=('proxy', 'full'), default='proxy',
                   help="rows evaluated for the ablations: the proxy row only, or every BN branch")
    p.add_argument('--tta', nargs='+', type=_combination, default=None, metavar='S1,S2',
                   help='multi-resolution testing combinations (default: evaluate.DEFAULT_TTA, each training size '
                        'with the next smaller one, 80+64 and 72+64)')
    p.add_argument('--steps', default='train,eval,tta,report',
                   help='any of train,eval,tta,report (tta: add the combinations an eval.json lacks)')
    p.add_argument('--force', action='store_true', help='retrain and re-evaluate models that are done')
    p.add_argument('--threads', type=int, default=None, help='torch threads for training and evaluation')
    p.add_argument('--in-process', action='store_true',
                   help='train inside this process (what tools/train.py does) instead of a subprocess per model; '
                        'used by the smoke test to save the interpreter start-ups')
    return p.parse_args(argv)


def _combination(text: str) -> tuple[int, ...]:
    from benchmarks.imagenette.evaluate import parse_combination
    return parse_combination(text)


def tta_combinations(args: argparse.Namespace) -> list[tuple[int, ...]]:
    from benchmarks.imagenette.evaluate import DEFAULT_TTA
    return DEFAULT_TTA if args.tta is None else args.tta


def configs_for(arch: str) -> dict[str, str]:
    """``{model name: config path}`` of an architecture."""
    return {**CONFIGS, **ARCH_CONFIGS.get(arch, {})}


def model_config(name: str, args: argparse.Namespace):
    """The model's config with this run's options applied."""
    from mmengine.config import Config
    cfg = Config.fromfile(str(REPO / configs_for(args.arch)[name]))
    epochs = args.epochs or cfg.train_cfg.max_epochs
    warmup = args.warmup_epochs if args.warmup_epochs is not None else cfg.get('warmup_epochs', 1.0)
    if name in FINETUNED:
        epochs, warmup = args.finetune_epochs or cfg.train_cfg.max_epochs, args.finetune_warmup_epochs
        parent = FINETUNED[name]
        source = args.finetune_from or str(Path(args.work_dir) / parent / f'epoch_{model_config(parent, args)[1]}.pth')
        cfg.model.backbone.init_cfg.checkpoint = cfg.model.head.init_cfg.checkpoint = source
    config_batch = cfg.train_dataloader.batch_size
    batch = args.batch_size or config_batch
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.dataset.data_root = args.data_root
        loader.num_workers = args.num_workers
        loader.persistent_workers = args.num_workers > 0
    cfg.train_dataloader.batch_size = batch
    cfg.val_dataloader.batch_size = cfg.test_dataloader.batch_size = args.eval_batch_size
    base_lr = cfg.optim_wrapper.optimizer.lr * 64 / config_batch if args.lr is None else args.lr
    cfg.optim_wrapper.optimizer.lr = base_lr * batch / 64
    cfg.auto_scale_lr = dict(base_batch_size=batch)
    warmup = min(warmup, epochs)
    schedule = [dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=warmup,
                     convert_to_iter_based=True)] if warmup else []
    if epochs > warmup:
        schedule.append(dict(type='CosineAnnealingLR', T_max=epochs - warmup, eta_min=0, by_epoch=True,
                             begin=warmup, end=epochs, convert_to_iter_based=True))
    cfg.param_scheduler = schedule
    cfg.train_cfg = dict(by_epoch=True, max_epochs=epochs, val_interval=epochs)
    # Every epoch, keeping one: a run killed mid-way resumes from its last epoch (see train()).
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1, max_keep_ckpts=1, save_last=True,
                                        save_best=None)
    cfg.randomness = dict(seed=args.seed, deterministic=False)
    if args.views == 'crop' and is_san(cfg):
        views_from_crop(cfg)
    if name in ARCH_CONFIGS.get(args.arch, {}):
        set_width(cfg, args.arch, args.width)
    else:
        set_backbone(cfg, args.arch, args.width)
    return cfg, epochs


def backbone_width(cfg) -> float:
    """The width multiplier the config's backbone was built with (ResNet: base channels / 64)."""
    backbone = cfg.model.backbone
    if backbone.type == 'MobileNetV2':
        return float(backbone.get('widen_factor', 1.0))
    return backbone.get('base_channels', 64) / 64


def set_width(cfg, arch: str, width: float | None) -> None:
    """``--width`` on an architecture's own config (None: the config's)."""
    if width is None:
        return
    if arch != 'mobilenetv2':
        raise ValueError(f'no width rule for {arch!r} configs')
    cfg.model.backbone.widen_factor = width
    cfg.model.head.in_channels = int(1280 * width) if width > 1.0 else 1280  # mmpretrain's last 1x1 conv


def set_backbone(cfg, arch: str, width: float | None) -> None:
    """The config's ResNet-18 at ``width``, or mmpretrain's MobileNetV2 at ``widen_factor=width`` in
    its place (the SAN flag, head, loss and data untouched; a ``Pretrained`` init stays with it)."""
    backbone = cfg.model.backbone
    width = 1.0 if width is None else width
    if arch == 'resnet18':
        if width != 1.0:
            channels = int(round(64 * width))
            backbone.stem_channels = backbone.base_channels = channels
            cfg.model.head.in_channels = channels * 8
        return
    if arch != 'mobilenetv2':
        raise ValueError(f'unknown arch {arch!r}; known: {sorted(ARCHS)}')
    swapped = dict(type='MobileNetV2', widen_factor=width)
    if backbone.get('init_cfg') is not None:
        swapped['init_cfg'] = backbone.init_cfg
    cfg.model.backbone = swapped
    cfg.model.head.in_channels = int(1280 * width) if width > 1.0 else 1280  # mmpretrain's last 1x1 conv
    cfg.optim_wrapper.optimizer.weight_decay = 4e-5


def views_from_crop(cfg) -> None:
    """Every training view resized from the crop in the loader workers (``MultiResolution`` without
    ``largest_only``, no resizing in the preprocessor)."""
    for step in cfg.train_dataloader.dataset.pipeline:
        if step.type == 'MultiResolution':
            step.largest_only = False
    cfg.data_preprocessor.resize_on_device = False


def is_san(cfg) -> bool:
    return cfg.model.type == 'SANClassifier' and cfg.model.get('san') is not None


def train(name: str, args: argparse.Namespace) -> None:
    work = Path(args.work_dir) / name
    cfg, epochs = model_config(name, args)
    checkpoint = work / f'epoch_{epochs}.pth'
    if checkpoint.exists() and (work / 'timing.json').exists() and not args.force:
        print(f'[{name}] done already ({checkpoint}), skipping', flush=True)
        return
    work.mkdir(parents=True, exist_ok=True)
    cfg_path = work / f'{name}_run_config.py'
    cfg.dump(str(cfg_path))
    # No validation during training: evaluate() measures every resolution afterwards.
    resumed_from = latest_epoch(work)
    command = [sys.executable, str(REPO / 'tools/train.py'), str(cfg_path), '--work-dir', str(work), '--no-validate',
               '--auto-resume']
    env = dict(os.environ)
    if args.threads:  # one thread avoids OpenMP spin-waiting on an oversubscribed machine
        env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = str(args.threads)
    resuming = f' (resuming after epoch {resumed_from})' if resumed_from else ''
    print(f'[{name}] training {epochs} epochs{resuming}: {shlex.join(command)}', flush=True)
    start = time.time()
    if args.in_process:
        train_in_process(cfg_path, work)
    else:
        with open(work / 'train_stdout.log', 'a' if resumed_from else 'w') as log:
            result = subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
        if result.returncode != 0:
            raise SystemExit(f'[{name}] training failed (exit {result.returncode}); see {work / "train_stdout.log"}')
    wall = time.time() - start
    (work / 'timing.json').write_text(json.dumps(dict(
        model=name, config=configs_for(args.arch)[name], epochs=epochs, batch_size=cfg.train_dataloader.batch_size,
        lr=cfg.optim_wrapper.optimizer.lr, arch=args.arch, width=backbone_width(cfg), seed=args.seed, train_wall_s=round(wall, 1),
        started=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(start)), checkpoint=str(checkpoint),
        resumed_after_epoch=resumed_from,  # train_wall_s then covers only the epochs after it
        command=shlex.join(command)), indent=2))
    print(f'[{name}] trained in {wall / 60:.1f} min', flush=True)


def latest_epoch(work: Path) -> int:
    """The epoch of the checkpoint an interrupted run in ``work`` left (0: none)."""
    pointer = work / 'last_checkpoint'
    if not pointer.exists():
        return 0
    match = re.search(r'epoch_(\d+)\.pth$', pointer.read_text().strip())
    return int(match.group(1)) if match else 0


def train_in_process(cfg_path: Path, work: Path) -> None:
    """``tools/train.py CONFIG --work-dir WORK --no-validate --auto-resume`` without a new interpreter."""
    from san_plugin.mm.cli.auto_resume import apply_auto_resume
    from san_plugin.mm.cli.config import load_config
    from san_plugin.mm.runner import build_runner
    cfg = load_config(str(cfg_path), None, str(work))
    apply_auto_resume(cfg)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    build_runner(cfg).train()  # SANRunner: derives the training sizes from the config's one statement


def evaluate(name: str, args: argparse.Namespace) -> None:
    from benchmarks.imagenette.evaluate import evaluate_checkpoint
    work = Path(args.work_dir) / name
    out = work / 'eval.json'
    if out.exists() and not args.force:
        print(f'[{name}] evaluated already ({out}), skipping', flush=True)
        return
    timing = work / 'timing.json'
    if not timing.exists():
        print(f'[{name}] not trained, not evaluated', flush=True)
        return
    cfg, _ = model_config(name, args)
    checkpoint = json.loads(timing.read_text())['checkpoint']
    rows = 'full' if name == 'san' or args.ablation_rows == 'full' else 'proxy'
    start = time.time()
    result = evaluate_checkpoint(cfg, checkpoint, args.test_resolutions, rows=rows, tta=tta_combinations(args),
                                 batch_size=args.eval_batch_size, num_workers=args.num_workers)
    result.update(model=name, eval_wall_s=round(time.time() - start, 1))
    out.write_text(json.dumps(result, indent=2))
    print(f'[{name}] evaluated in {result["eval_wall_s"] / 60:.1f} min', flush=True)


def add_tta(name: str, args: argparse.Namespace) -> None:
    """The multi-resolution combinations an evaluated model's eval.json lacks (all with --force)."""
    from benchmarks.imagenette.evaluate import add_tta as add
    work = Path(args.work_dir) / name
    if not (work / 'eval.json').exists():
        print(f'[{name}] not evaluated, no multi-resolution testing', flush=True)
        return
    cfg, _ = model_config(name, args)
    checkpoint = json.loads((work / 'timing.json').read_text())['checkpoint']
    redo = args.force and 'eval' not in args.steps.split(',')  # a forced eval step has just made them
    add(work / 'eval.json', cfg, checkpoint, tta_combinations(args), force=redo,
        batch_size=args.eval_batch_size, num_workers=args.num_workers)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.models.split(',') if n.strip()]
    known = configs_for(args.arch)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise SystemExit(f'unknown model(s) {unknown} for --arch {args.arch}; known: {list(known)}')
    steps = {s.strip() for s in args.steps.split(',')}
    Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    meta = Path(args.work_dir) / 'run_meta.json'
    history = json.loads(meta.read_text()) if meta.exists() else {'invocations': []}
    history['invocations'].append(dict(
        command=shlex.join([sys.executable, *sys.argv]) if argv is None else shlex.join(['run.py', *argv]),
        started=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), machine=platform.platform(),
        processor=platform.processor() or platform.machine(), cpus=os.cpu_count()))
    meta.write_text(json.dumps(history, indent=2))
    # Each model is evaluated (and the report rewritten) as soon as it is trained, so a run
    # stopped by the clock leaves every finished model in the results.
    for name in names:
        if 'train' in steps:
            train(name, args)
        if 'eval' in steps:
            evaluate(name, args)
        if 'tta' in steps:
            add_tta(name, args)
        if 'report' in steps:
            report(args)


def report(args: argparse.Namespace) -> None:
    try:
        from benchmarks.imagenette.report import write_report
    except ImportError as error:  # report.py missing: the numbers stay in the work dir
        print(f'no report: {error}', flush=True)
        return
    paths = write_report(args.work_dir, args.out or f'benchmarks/results/imagenette_{args.arch}',
                         test_resolutions=args.test_resolutions)
    print('wrote ' + ', '.join(str(p) for p in paths), flush=True)


if __name__ == '__main__':
    main()
