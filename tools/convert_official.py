"""Convert a checkpoint released with the paper (d-li14/SAN) into a checkpoint of this plugin.

    python tools/convert_official.py CHECKPOINT OUT --arch resnet18|resnet50|mobilenetv2 [--baseline] [--config CONFIG]

CHECKPOINT is the official ``checkpoint.pth.tar`` (read with ``weights_only=True`` and a narrow
allowlist; a file that would run code is refused). The SAN is loaded with
``san_plugin.from_official`` (``--baseline``: an individually trained torchvision ResNet with
``san_plugin.zoo.baseline_from_official``), put into the model of CONFIG (default
``configs/official/{san,baseline}_<arch>_official.py``), checked to give the same logits there at
every training resolution, and saved as ``{'state_dict', 'meta'}`` with the SAN metadata in the
state dict. ``tools/test.py``, ``tools/eval_resolutions.py``, ``tools/calibrate_bn.py`` and
``tools/export.py`` then load OUT with CONFIG. Nothing is written when any check fails.
"""
import argparse
import os
from pathlib import Path

import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from san_plugin.core import find_controller
from san_plugin.core.spec import SAVED_FIELDS
from san_plugin.mm.engine.atomic_save import atomic_save
from san_plugin.mm.cli.config import load_config
from san_plugin.mm.engine.safe_load import CorruptCheckpointError, UnsafeCheckpointError, safe_load
from san_plugin.mm.model_from_config import model_config
from san_plugin.zoo import ARCHS, BASELINE_ARCHS, OFFICIAL_RESOLUTIONS, OfficialCheckpointError
from san_plugin.zoo import baseline_from_official, from_official

CONFIGS = Path(__file__).resolve().parents[1] / 'configs' / 'official'
BACKBONE = 'backbone.timm_model.'
TOLERANCE = 1e-4  # largest logit difference, relative to the largest logit


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Convert the paper's released checkpoints (d-li14/SAN)")
    parser.add_argument('checkpoint', help="the official checkpoint.pth.tar")
    parser.add_argument('out', help='the converted checkpoint to write')
    parser.add_argument('--arch', required=True, choices=sorted(ARCHS))
    parser.add_argument('--baseline', action='store_true', help='an individually trained baseline (Table 1, left)')
    parser.add_argument('--config', help='the config OUT is made for (default: configs/official/...)')
    return parser.parse_args()


def mmpretrain_state(timm_state: dict, target: dict, classifier: str) -> dict:
    """``target``'s keys (a TIMMBackbone classifier) filled from a timm model's state dict: the
    backbone's from ``timm_model``, the head's FC from the timm classifier. The SAN metadata is
    the target's own (its ``exclude`` names ``timm_model.`` layers)."""
    mapped, used = {}, set()
    for key in target:
        if key.startswith(BACKBONE):
            source = key[len(BACKBONE):]
        elif key.startswith('head.fc.'):
            source = f'{classifier}.{key[len("head.fc."):]}'
        elif key.endswith('san._extra_state'):
            mapped[key] = target[key]
            continue
        else:
            raise SystemExit(f'the config\'s model has {key!r}, which the converted model cannot fill')
        if source not in timm_state:
            raise SystemExit(f'the config\'s model has {key!r} but the converted model has no {source!r}: '
                             f'the config is not for this architecture')
        mapped[key] = timm_state[source]
        used.add(source)
    left = [k for k in timm_state if k not in used and not k.endswith('san._extra_state')]
    if left:
        raise SystemExit(f'the config\'s model has no place for {left[0]!r} of the converted model')
    return mapped


def check_metadata(net: torch.nn.Module, model: torch.nn.Module) -> None:
    ours, theirs = find_controller(net), find_controller(model.backbone)
    if (ours is None) != (theirs is None):
        raise SystemExit('the config builds a ' + ('plain model' if theirs is None else 'SAN') + ' but the checkpoint '
                         'is ' + ('a SAN' if theirs is None else 'a baseline') + ': use the matching config/--baseline')
    if ours is None:
        return
    for field in SAVED_FIELDS:
        if field == 'exclude':  # layer names: the timm host's and the config's backbone's differ
            continue
        if ours.metadata()[field] != theirs.metadata()[field]:
            raise SystemExit(f'the config\'s SAN has {field} {theirs.metadata()[field]!r}, the released model '
                             f'{ours.metadata()[field]!r}')


def verify(net: torch.nn.Module, model: torch.nn.Module, sizes) -> float:
    """The largest relative logit difference between the two models over ``sizes``."""
    worst = 0.0
    with torch.no_grad():
        for size in sizes:
            x = torch.rand(2, 3, size, size)
            expected, got = net(x), model(x, mode='tensor')
            worst = max(worst, float((got - expected).abs().max() / expected.abs().max()))
    return worst


def main() -> None:
    args = parse_args()
    if args.baseline and args.arch not in BASELINE_ARCHS:
        raise SystemExit(f'the paper released baselines for {BASELINE_ARCHS} only, not {args.arch!r}')
    kind = 'baseline' if args.baseline else 'san'
    config = args.config or str(CONFIGS / f'{kind}_{args.arch}_official.py')
    try:
        checkpoint = safe_load(args.checkpoint, map_location='cpu')
        net = (baseline_from_official if args.baseline else from_official)(checkpoint, args.arch)
    except FileNotFoundError:
        raise SystemExit(f'checkpoint not found: {args.checkpoint}') from None
    except (OfficialCheckpointError, UnsafeCheckpointError, CorruptCheckpointError) as error:
        raise SystemExit(f'cannot convert {args.checkpoint}: {error}') from None
    cfg = load_config(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(model_config(cfg))
    model.eval()
    check_metadata(net, model)
    model.load_state_dict(mmpretrain_state(net.state_dict(), model.state_dict(), net.pretrained_cfg['classifier']),
                          strict=True)
    sizes = (224, 160) if args.baseline else OFFICIAL_RESOLUTIONS
    worst = verify(net, model, sizes)
    if not worst <= TOLERANCE:
        raise SystemExit(f'the converted model\'s logits differ from the released model\'s by {worst:.2e} (relative) '
                         f'in {config}: not written')
    source = {k: checkpoint[k] for k in ('arch', 'epoch', 'best_prec1')
              if isinstance(checkpoint, dict) and isinstance(checkpoint.get(k), (str, int, float))}
    atomic_save({'state_dict': model.state_dict(),
                 'meta': {'converted_from': os.path.abspath(args.checkpoint), 'official': source, 'arch': args.arch,
                          'kind': kind, 'config': config, 'max_relative_logit_difference': worst}}, args.out)
    print(f'converted {args.checkpoint} ({kind} {args.arch}) to {args.out}; the config\'s model gives the logits of '
          f'the loaded release within {worst:.1e} (relative) at {", ".join(map(str, sizes))} px')
    print(f'evaluate: python tools/test.py {config} {args.out} [--resolution S]')


if __name__ == '__main__':
    main()
