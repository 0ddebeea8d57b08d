"""How much larger is a SAN's loss than a single-resolution model's, at initialisation?

    python tools/loss_scale.py CONFIG [CONFIG ...] [--batches 2] [--seed 0] [--out PREFIX] [--cfg-options ...]

For each SAN config: builds the model as training starts (seeded, ``init_weights()``), takes
``--batches`` batches of its training data and measures, for the paper's summed loss and for the
normalised one (``loss_form='sum'`` and ``'mean'``, whatever the config says):

* the gradient norm on the shared parameters, per kind (dense, depthwise and 1x1 kernels: the
  meta learners' ``B``; the FC), divided by that of the same network baked at its largest training
  resolution and trained with that resolution's CE alone: the single-resolution model;
* the largest eigenvalue of the loss's Hessian in the FC weights (power iteration on
  Hessian-vector products, features fixed), the SAN's and the single model's.

A ratio of r in either figure asks for a learning rate about r times smaller
(``san_plugin/mm/loss_scale.py``). Prints a markdown table; ``--out`` also writes PREFIX.md and
PREFIX.json. ``--cfg-options`` apply to every config.
"""
from __future__ import annotations

import argparse

from san_plugin.mm.cli.config import load_config
from san_plugin.mm.cli.launch import add_launch_args, parse_launch_args
from san_plugin.mm.loss_scale import measure_config, write_results


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('configs', nargs='+', metavar='CONFIG', help='SAN configs')
    parser.add_argument('--batches', type=int, default=2, help='training batches averaged over')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='also write PREFIX.md and PREFIX.json')
    add_launch_args(parser, launchers=('none',))
    return parse_launch_args(parser, argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        results = [measure_config(load_config(path, args.cfg_options), path, args.batches, args.seed)
                   for path in args.configs]
    except ValueError as error:
        raise SystemExit(str(error)) from None
    write_results(results, args.out)


if __name__ == '__main__':
    main()
