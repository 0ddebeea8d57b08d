"""The SAN's loss scale against a single-resolution model's, for both Imagenette architectures.

    python benchmarks/imagenette/loss_scale.py --data-root ../shared/data/imagenette \\
        [--out benchmarks/results/imagenette_loss_scale]
    python benchmarks/imagenette/loss_scale.py --from benchmarks/results/imagenette_loss_scale.json

Builds the SAN of ``run.py``'s protocol (width 0.5) for ResNet-18 and MobileNetV2 as training
starts and measures, with ``san_plugin.mm.loss_scale`` (what ``tools/loss_scale.py`` runs), the
gradient-norm ratio SAN / single-resolution model per kind of shared parameter and the top
Hessian eigenvalue of the loss in the FC weights, for the summed (paper) and the mean loss form.
``--from REPORT.json`` writes the markdown again from the json (nothing measured).
"""
from __future__ import annotations

import argparse

from benchmarks.imagenette.run import model_config, parse_args as run_args
from benchmarks.results_json import read_results


def header(batches: int, seed: int) -> str:
    """The report's title and how it was measured."""
    return ('# Loss scale at initialisation: the SAN against its single-resolution model\n\n'
            f'Written by `python benchmarks/imagenette/loss_scale.py --data-root DATA --batches {batches} '
            f'--seed {seed}` (means over {batches} training batches of 64 Imagenette images; '
            'san_plugin/mm/loss_scale.py says what is measured). A ratio of r asks for a learning rate about '
            'r times smaller.\n\n')


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data-root', default='data/imagenette')
    p.add_argument('--width', type=float, default=0.5)
    p.add_argument('--archs', nargs='+', default=['resnet18', 'mobilenetv2'])
    p.add_argument('--batches', type=int, default=4)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default='benchmarks/results/imagenette_loss_scale')
    p.add_argument('--from', dest='from_json', metavar='REPORT.json',
                   help="write the markdown again from this report's json (nothing measured)")
    args = p.parse_args(argv)
    from san_plugin.mm.loss_scale import measure_config, write_results
    if args.from_json is not None:
        results = read_results(args.from_json, 'loss_scale.py')
        if not isinstance(results, list) or not results or 'grad_ratio' not in results[0]:
            raise SystemExit(f'{args.from_json}: not a results json written by loss_scale.py (no rows)')
        write_results(results, args.out, header(results[0]['batches'], results[0]['seed']))
        return
    results = []
    for arch in args.archs:
        protocol = run_args(['--data-root', args.data_root, '--arch', arch, '--width', str(args.width),
                             '--num-workers', '0', '--seed', str(args.seed)])
        cfg, _ = model_config('san', protocol)
        results.append(measure_config(cfg, f'{arch} x{args.width:g} SAN', args.batches, args.seed))
    write_results(results, args.out, header(args.batches, args.seed))


if __name__ == '__main__':
    main()
