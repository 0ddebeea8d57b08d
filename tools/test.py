"""Evaluate a checkpoint, as MMPretrain's tools/test.py does, at any resolution.

    python tools/test.py CONFIG CHECKPOINT [--resolution S | --tta S1 S2 ... | --cascade FILE] [--mode proxy|ideal]
        [--out FILE.pkl] [--work-dir DIR] [--cfg-options k=v ...] [--launcher pytorch]

The test pipeline resizes the short side to S / 0.875 and center-crops S. A SAN runs
at its input's resolution: proxy inference (nearest training resolution) by default,
ideal inference with ``--mode ideal`` for calibrated resolutions (tools/calibrate_bn.py).
``--tta 64 48`` tests every image at each of those resolutions and averages the softmax
scores (``san_plugin.mm.tta.MultiResolutionTTA``, one decode per image): an ensemble from one checkpoint.
``--cascade FILE`` (thresholds from tools/cascade.py) tests each image at the smallest size it
needs: one decode, the standard test crop at each of the file's sizes, the undecided images of
each size run as one batch; reports top-1 and ``cascade/mean_gflops`` (each image charged every
size it passed) and ``cascade/images_<S>``. A file fitted for another checkpoint or other training
resolutions is refused.
"""
import argparse
import os


from san_plugin.cascade import Cascade, CascadeMismatchError
from san_plugin.mm.cascade import set_cascade_test
from san_plugin.mm.cli.config import load_config
from san_plugin.mm.cli.launch import add_launch_args, parse_launch_args, setup_distributed
from san_plugin.mm.runner import build_runner
from san_plugin.mm.eval_pipeline import set_model_resolution
from san_plugin.mm.tta import set_multi_resolution_tta
from san_plugin.mm.transforms import TEST_CROP_RATIO


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a (SAN) classifier checkpoint')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--resolution', type=int, help='test resolution S (default: the config\'s test pipeline)')
    parser.add_argument('--tta', type=int, nargs='+', metavar='S',
                        help='multi-resolution testing: average the softmax over these test resolutions')
    parser.add_argument('--cascade', metavar='FILE', help='per-image resolution: a thresholds file of tools/cascade.py')
    parser.add_argument('--crop-ratio', type=float, default=TEST_CROP_RATIO, help='center-crop ratio S / short side')
    parser.add_argument('--mode', choices=['proxy', 'ideal'], help='SAN inference mode (default: the config\'s)')
    parser.add_argument('--out', help='dump the predictions to this pickle file')
    parser.add_argument('--work-dir', help='where the logs go')
    add_launch_args(parser)
    return parse_launch_args(parser)


def main() -> None:
    args = parse_args()
    if not os.path.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint not found: {args.checkpoint}')
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher,
                      set_by={'load_from': 'the CHECKPOINT argument'})
    cfg.load_from = args.checkpoint
    if args.resolution is not None:
        if args.resolution <= 0:
            raise SystemExit(f'--resolution must be a positive number of pixels, got {args.resolution}')
        set_model_resolution(cfg, args.resolution, args.crop_ratio)
    if args.mode is not None:
        if cfg.model.get('san') is None:
            raise SystemExit(f'--mode applies to SAN models; {args.config} builds a plain model')
        cfg.model.san.mode = args.mode
    if args.tta is not None:
        if args.resolution is not None:
            raise SystemExit('--tta and --resolution exclude each other (--tta lists every test resolution)')
        try:
            set_multi_resolution_tta(cfg, args.tta, args.crop_ratio)
        except ValueError as error:
            raise SystemExit(f'--tta: {error}') from error
    if args.cascade is not None:
        if args.resolution is not None or args.tta is not None:
            raise SystemExit('--cascade excludes --resolution and --tta (the thresholds file lists the sizes)')
        try:
            set_cascade_test(cfg, args.cascade, Cascade.load(args.cascade))
        except (OSError, ValueError) as error:
            raise SystemExit(f'--cascade: {error}') from error
    if args.out is not None:
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
        cfg.test_evaluator = list(evaluators) + [dict(type='DumpResults', out_file_path=args.out)]
    setup_distributed(cfg)
    try:
        build_runner(cfg).test()
    except CascadeMismatchError as error:  # the weights are checked once they are loaded
        raise SystemExit(f'--cascade: {error}') from error


if __name__ == '__main__':
    main()
