"""Train a model from a config, as MMPretrain's tools/train.py does (same arguments).

    python tools/train.py configs/san_resnet50_imagenet.py [--work-dir DIR] [--resume [PATH] | --auto-resume]
        [--amp] [--auto-scale-lr] [--no-validate] [--cfg-options k=v ...] [--launcher pytorch|slurm]

Distributed runs get a watchdog (``dist_watchdog`` in the config, see DistWatchdogHook): a rank
that dies or stalls stops the others within its timeout, naming the lost rank.
"""
import argparse

from mmengine.runner.checkpoint import find_latest_checkpoint

from san_plugin.mm.classifier import NonFiniteLossError
from san_plugin.mm.engine.amp import use_amp
from san_plugin.mm.cli.auto_resume import apply_auto_resume
from san_plugin.mm.cli.config import load_config
from san_plugin.mm.cli.launch import add_launch_args, parse_launch_args, setup_distributed
from san_plugin.mm.runner import build_runner
from san_plugin.mm.engine.watchdog_hook import explain_lost_ranks, use_dist_watchdog


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a (SAN) classifier from a config')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from PATH, or from the latest checkpoint in the work dir if no PATH')
    parser.add_argument('--auto-resume', action='store_true',
                        help='resume from the work dir\'s newest checkpoint if it holds one, else start fresh '
                             '(what a torchrun restart needs; config key: auto_resume = True)')
    parser.add_argument('--amp', action='store_true', help='mixed precision (fp16 on GPUs, bf16 on the CPU)')
    parser.add_argument('--no-validate', action='store_true', help='skip validation during training')
    parser.add_argument('--auto-scale-lr', action='store_true', help='scale the lr with the total batch size')
    parser.add_argument('--no-pin-memory', action='store_true')
    parser.add_argument('--no-persistent-workers', action='store_true')
    add_launch_args(parser)
    return parse_launch_args(parser)


def main() -> None:
    args = parse_args()
    resumed = {'resume': '--resume', 'load_from': '--resume'} if args.resume is not None else {}
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher, set_by=resumed)
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.amp:
        use_amp(cfg)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    elif args.auto_resume or cfg.get('auto_resume', False):
        apply_auto_resume(cfg)
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(field) is not None:
            if args.no_pin_memory:
                cfg[field].pin_memory = False
            if args.no_persistent_workers or not cfg[field].get('num_workers'):
                cfg[field].persistent_workers = False
    setup_distributed(cfg)
    use_dist_watchdog(cfg)
    runner = build_runner(cfg)
    try:
        runner.train()
    except NonFiniteLossError as error:  # the step was not applied; no checkpoint is written after it
        latest = find_latest_checkpoint(runner.work_dir) or 'none'
        raise SystemExit(f'training stopped at iteration {runner.iter + 1} (epoch {runner.epoch + 1}): {error}. '
                         f'Newest checkpoint, from before the failure: {latest}') from error
    except Exception as error:  # a collective failed: name the rank that was lost, if one was
        message = explain_lost_ranks(runner, error)
        if message is None:
            raise
        raise SystemExit(message) from error


if __name__ == '__main__':
    main()
