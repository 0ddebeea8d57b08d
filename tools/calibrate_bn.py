"""Add calibrated BN branches for ideal inference at test resolutions, and save a new checkpoint.

    python tools/calibrate_bn.py CONFIG CHECKPOINT --resolutions 208 176 144 112 [--num-batches 50]
        [--data-free] [--on-training skip|recalibrate] [--out CALIBRATED.pth] [--cfg-options ...] [--launcher pytorch]

For each test resolution T the statistics of a new branch (started from S(T)'s) are
recomputed with exact averages over N training batches cropped at T (RandomResizedCrop
+ flip, as in training), all-reduced across processes under the launcher. With
--data-free the branch is interpolated between the two neighbouring training branches
instead (the paper's data-free ideal inference). Then test with
`tools/test.py CONFIG CALIBRATED.pth --resolution T --mode ideal`.
"""
import argparse
import copy
import os

import torch
from mmengine.dist import get_rank
from mmengine.runner import Runner

from san_plugin.core import calibrate_bn, get_controller, interpolate_bn
from san_plugin.mm.engine.atomic_save import atomic_save
from san_plugin.mm.cli.config import load_config
from san_plugin.mm.cli.launch import add_launch_args, init_launcher, parse_launch_args
from san_plugin.mm.eval_pipeline import is_image_loader
from san_plugin.mm.model_from_config import build_model


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Calibrate SAN BN branches for ideal inference')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--resolutions', type=int, nargs='+', required=True, help='test resolutions to calibrate')
    parser.add_argument('--num-batches', type=int, default=50, help='training batches per resolution (per process)')
    parser.add_argument('--data-free', action='store_true', help='interpolate neighbouring branches instead')
    parser.add_argument('--on-training', choices=('skip', 'recalibrate'), default='skip',
                        help='a training resolution among --resolutions: skip it (its trained branch is its own), '
                             'or recompute its branch\'s statistics in place (e.g. after a sampled training, '
                             'where the middle resolutions ran less often)')
    parser.add_argument('--out', help='output checkpoint (default: CHECKPOINT with _calibrated)')
    add_launch_args(parser, launchers=('none', 'pytorch'))
    return parse_launch_args(parser)


def calibration_batches(cfg, model):
    """``batches_at(T)``: normalised training batches made by the data pipeline at T."""
    def batches_at(resolution: int):
        loader_cfg = copy.deepcopy(cfg.train_dataloader)
        load = next((t for t in loader_cfg.dataset.pipeline if is_image_loader(t)), dict(type='SafeLoadImageFromFile'))
        loader_cfg.dataset.pipeline = [
            load,
            dict(type='RandomResizedCrop', scale=resolution, backend='pillow', interpolation='bicubic'),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='PackInputs'),
        ]
        loader_cfg.persistent_workers = False
        for batch in Runner.build_dataloader(loader_cfg):
            with torch.no_grad():
                yield model.data_preprocessor(batch, False)['inputs']
    return batches_at


def main() -> None:
    args = parse_args()
    device = init_launcher(args.launcher)
    cfg = load_config(args.config, args.cfg_options)
    model = build_model(cfg, args.checkpoint, device)
    if args.data_free:
        written = interpolate_bn(model.backbone, args.resolutions)
        summary = {t: f'interpolated {weights}' for t, weights in written.items()}
    else:
        used = calibrate_bn(model.backbone, calibration_batches(cfg, model), args.resolutions,
                            num_batches=args.num_batches, on_training=args.on_training)
        summary = {t: f'{n} images' for t, n in used.items()}
    out = args.out or os.path.splitext(args.checkpoint)[0] + '_calibrated.pth'
    if get_rank() == 0:
        atomic_save({'state_dict': model.state_dict(), 'meta': {'calibrated_from': args.checkpoint,
                                                                 'calibration': summary}}, out)
        print(f'calibrated {summary}; resolutions with a branch: {get_controller(model).calibrated}')
        print(f'saved {out}; test with: python tools/test.py {args.config} {out} --resolution T --mode ideal')


if __name__ == '__main__':
    main()
