"""Do the meta learners of a SAN checkpoint work? Per generated convolution, how much its kernel
changes across the training resolutions (see san_plugin/diagnostics/meta_report.py).

    python tools/meta_report.py CONFIG CHECKPOINT [--out PREFIX] [--cfg-options ...]

Prints a markdown table (one row per layer: |eps(S_max) W| / |B| and |k(S_max) - k(S_min)| / |k(S_max)|)
with the median over layers; ``--out`` also writes PREFIX.md and PREFIX.json.
"""
import argparse
import json
import os
from pathlib import Path

from san_plugin.core import find_controller
from san_plugin.diagnostics.meta_report import as_dict, as_markdown, meta_learner_stats
from san_plugin.mm.cli.config import load_config
from san_plugin.mm.cli.launch import add_launch_args, parse_launch_args
from san_plugin.mm.model_from_config import build_model


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='How much the generated kernels of a SAN depend on the resolution')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', help='also write PREFIX.md and PREFIX.json')
    add_launch_args(parser, launchers=('none',))
    return parse_launch_args(parser)


def main() -> None:
    args = parse_args()
    if not os.path.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint not found: {args.checkpoint}')
    cfg = load_config(args.config, args.cfg_options)
    model = build_model(cfg, args.checkpoint)
    if find_controller(model) is None:
        raise SystemExit(f'{args.checkpoint} is not a SAN checkpoint ({args.config} builds a plain model)')
    stats = meta_learner_stats(model)
    markdown = as_markdown(stats, title=f'Meta learners of {args.checkpoint}')
    print(markdown)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix('.md').write_text(markdown)
        out.with_suffix('.json').write_text(json.dumps(as_dict(stats), indent=2))
        print('written:', out.with_suffix('.md'), out.with_suffix('.json'))


if __name__ == '__main__':
    main()
