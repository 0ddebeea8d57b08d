"""Bake a SAN checkpoint for one resolution (or a bundle of them) and export it.

    python tools/export.py CONFIG CHECKPOINT --resolution S --format pth|onnx|torchscript [--out FILE]
    python tools/export.py CONFIG CHECKPOINT --bundle 224 160 96 --format onnx --out bundle_dir [--mode ideal]
    python tools/export.py CONFIG CHECKPOINT --cascade THRESHOLDS.json [--format torchscript|onnx] [--out DIR]

The baked model is made of the original layer classes: `pth` loads into the unconverted
MMPretrain architecture (a config snippet is printed), `onnx`/`torchscript` are checked
against the PyTorch outputs (1e-4). A bundle holds one artefact per resolution and a
manifest.json a client picks from at run time. A cascade bundle (``--cascade``, thresholds of
tools/cascade.py) holds the model of each of the cascade's sizes, the thresholds and the test
preprocessing in cascade.json, and cascade_runtime.py, which runs it without san_plugin:
``python DIR/cascade_runtime.py IMAGE ...``.
"""
import argparse
import os

from mmengine.config import DictAction

from san_plugin.core import set_mode
from san_plugin.cascade import Cascade, export_cascade
from san_plugin.deploy import FORMATS, export_baked, export_bundle
from san_plugin.mm.cli.config import load_config
from san_plugin.mm.model_from_config import build_model


def plain_config_snippet(cfg, path: str) -> str:
    head = cfg.model.head
    return (f"model = dict(type='ImageClassifier', backbone={dict(cfg.model.backbone)!r},\n"
            f"             neck={dict(cfg.model.neck)!r},\n"
            f"             head=dict(type='LinearClsHead', num_classes={head.num_classes}, "
            f"in_channels={head.in_channels}))\nload_from = {path!r}")


def export_cascade_bundle(cfg, model, thresholds: str, fmt: str, out: str) -> None:
    """The cascade bundle of ``thresholds`` with the config's test normalisation and resize."""
    preprocessor = cfg.get('data_preprocessor') or cfg.model.get('data_preprocessor') or {}
    resize = dict(cfg.get('eval_resize') or {})
    if resize.get('backend', 'pillow') != 'pillow':
        raise SystemExit(f"--cascade: the bundle resizes with pillow; the config's eval_resize uses "
                         f"{resize['backend']}")
    try:
        spec = export_cascade(model, Cascade.load(thresholds), out, fmt, mean=preprocessor.get('mean', [0., 0., 0.]),
                              std=preprocessor.get('std', [1., 1., 1.]),
                              channel_order='rgb' if preprocessor.get('to_rgb', False) else 'bgr',
                              interpolation=resize.get('interpolation', 'bicubic'),
                              rounding=resize.get('rounding', 'round'))
    except (OSError, ValueError) as error:
        raise SystemExit(f'--cascade: {error}') from error
    print(f'cascade bundle written: {spec.parent} (run it: python {spec.parent / "cascade_runtime.py"} IMAGE ...)')


def main() -> None:
    parser = argparse.ArgumentParser(description='Bake and export a SAN checkpoint')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument('--resolution', type=int, help='the one input size to serve')
    target.add_argument('--bundle', type=int, nargs='+', help='one artefact per resolution + manifest.json')
    target.add_argument('--cascade', metavar='FILE', help='a cascade bundle for these thresholds (tools/cascade.py)')
    parser.add_argument('--format', choices=sorted(FORMATS), help='default: pth (torchscript with --cascade)')
    parser.add_argument('--mode', choices=['proxy', 'ideal'], default='proxy')
    parser.add_argument('--out', help='output file (or folder for --bundle)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    cfg = load_config(args.config, args.cfg_options)
    if cfg.model.get('san') is None:
        raise SystemExit(f'{args.config} builds a plain model: there is nothing to bake')
    model = build_model(cfg, args.checkpoint)
    set_mode(model, args.mode)
    stem = os.path.splitext(args.checkpoint)[0]
    if args.cascade:
        export_cascade_bundle(cfg, model, args.cascade, args.format or 'torchscript', args.out or f'{stem}_cascade')
        return
    args.format = args.format or 'pth'
    if args.bundle:
        manifest = export_bundle(model, args.bundle, args.out or f'{stem}_bundle', args.format)
        print(f'bundle written: {manifest}')
        return
    out = args.out or f'{stem}_{args.resolution}px{FORMATS[args.format].extension}'
    path = export_baked(model, args.resolution, out, args.format)
    print(f'exported {path} (checked against the SAN)')
    if args.format == 'pth':
        print('use it with the unconverted architecture:\n' + plain_config_snippet(cfg, str(path)))


if __name__ == '__main__':
    main()
