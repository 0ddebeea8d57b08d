"""Fit a per-image resolution cascade to a SAN checkpoint, evaluate it, save its thresholds.

    python tools/cascade.py CONFIG CHECKPOINT (--budget GFLOPS | --target-top1 X | --match-size S) [--sizes 64 48 32]
        [--fit-data-prefix DIR] [--fit-ann-file FILE] [--score max_prob|margin] [--combine last|mean]
        [--grid 16] [--out FILE] [--cfg-options ...]

Every image of the config's test set (and of the fit set) is decoded once and cropped at every
size as the single-size test does; the SAN's softmax at each size gives the single-size top-1 and
lets the thresholds be scored exactly. ``--budget`` picks the most accurate cascade within that
mean GFLOPs per image, ``--target-top1`` the cheapest reaching that top-1 (%), ``--match-size S``
the cheapest as accurate as the SAN at S px on the fit data; each image is charged the GFLOPs of
every size it passes through.

Where the thresholds are fitted:

* ``--fit-data-prefix``/``--fit-ann-file``: on that held-out part of the data (the test dataset's
  type and root, e.g. a ``train_holdout`` folder the model did not train on); the test set only
  scores the result.
* otherwise, two-fold cross-fitting over halves of the test set: the reported numbers judge each
  half by thresholds fitted on the other; the thresholds saved are fitted on the whole test set
  (so the test set's numbers with the saved file are in-sample: quote the cross-fitted ones).

Writes ``<checkpoint stem>_cascade.json`` beside the checkpoint (or ``--out``): the thresholds,
the resolutions, the GFLOPs per size, a fingerprint of the weights, and the evaluation. Use it
with ``tools/test.py CONFIG CHECKPOINT --cascade FILE`` and ``tools/export.py ... --cascade FILE``.
"""
import argparse
import copy
import dataclasses
import os
from pathlib import Path

import torch
from mmengine.config import DictAction

from san_plugin.cascade import cross_fit, fit_cascade, model_fingerprint
from san_plugin.core import find_controller
from san_plugin.evaluation import NoOperatingPointError, deployed_gflops
from san_plugin.evaluation.topk import topk_correct
from san_plugin.mm.cascade import cascade_probabilities
from san_plugin.mm.cli.config import load_config
from san_plugin.mm.model_from_config import build_model
from san_plugin.mm.transforms import TEST_CROP_RATIO


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Fit, evaluate and save the thresholds of a SAN cascade')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument('--budget', type=float, help='mean GFLOPs per image to stay within')
    target.add_argument('--target-top1', type=float, help='top-1 (%%) to reach at the least GFLOPs')
    target.add_argument('--match-size', type=int, help='be as accurate as the SAN at this size, at the least GFLOPs')
    parser.add_argument('--sizes', type=int, nargs='+', help='test sizes to choose from (default: the SAN\'s '
                                                              'training resolutions)')
    parser.add_argument('--fit-data-prefix', help='held-out data to fit on: the test dataset with this data_prefix')
    parser.add_argument('--fit-ann-file', help='held-out data to fit on: the test dataset with this ann_file')
    parser.add_argument('--score', choices=['max_prob', 'margin'], default='max_prob')
    parser.add_argument('--combine', choices=['last', 'mean'], default='last',
                        help="score an image by its exit size's softmax, or the mean over the sizes it passed")
    parser.add_argument('--grid', type=int, default=16, help='thresholds tried per size')
    parser.add_argument('--crop-ratio', type=float, default=TEST_CROP_RATIO)
    parser.add_argument('--seed', type=int, default=0, help='of the split into halves')
    parser.add_argument('--out', help='thresholds file (default: <checkpoint stem>_cascade.json beside it)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    if args.sizes is not None and any(s <= 0 for s in args.sizes):
        parser.error(f'--sizes must be positive pixel sizes, got {args.sizes}')
    if args.match_size is not None and args.sizes is not None and args.match_size not in args.sizes:
        parser.error(f'--match-size {args.match_size} is not one of --sizes {args.sizes}')
    return args


def fit_dataloader(cfg, args) -> dict | None:
    """The test dataloader pointed at the held-out fit data, or None (cross-fitting)."""
    if args.fit_data_prefix is None and args.fit_ann_file is None:
        return None
    loader = copy.deepcopy(cfg.test_dataloader)
    if args.fit_data_prefix is not None:
        loader.dataset.data_prefix = args.fit_data_prefix
    if args.fit_ann_file is not None:
        loader.dataset.ann_file = args.fit_ann_file
    return loader


def fit_target(target: dict, probs, labels) -> dict:
    """``budget``/``target_top1`` of :func:`fit_cascade`; ``match_size``: that size's top-1 on these images."""
    if 'match_size' in target:
        return {'target_top1': top1(probs[target['match_size']], labels)}
    return target


def top1(probs: torch.Tensor, labels: torch.Tensor) -> float:
    return 100.0 * topk_correct(probs, labels, 1) / max(labels.numel(), 1)


def main(argv=None) -> None:
    args = parse_args(argv)
    if not os.path.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint not found: {args.checkpoint}')
    cfg = load_config(args.config, args.cfg_options)
    if cfg.model.get('san') is None:
        raise SystemExit(f'{args.config} builds a plain model: a cascade needs a SAN (one set of weights for '
                         f'every size)')
    model = build_model(cfg, args.checkpoint)
    resolutions = find_controller(model).resolutions
    sizes = sorted(set(args.sizes or resolutions))
    if args.match_size is not None and args.match_size not in sizes:
        raise SystemExit(f'--match-size {args.match_size} is not one of the sizes {sizes}')
    gflops = deployed_gflops(model, sizes)
    target = ({'budget': args.budget} if args.budget is not None else {'target_top1': args.target_top1}
              if args.target_top1 is not None else {'match_size': args.match_size})
    rule = dict(sizes=sizes, score=args.score, combine=args.combine, grid=args.grid)
    probs, labels = cascade_probabilities(model, cfg, sizes, crop_ratio=args.crop_ratio)
    fields = dict(resolutions=resolutions, fingerprint=model_fingerprint(model),
                  checkpoint=str(Path(args.checkpoint).resolve()), crop_ratio=args.crop_ratio)
    held_out = fit_dataloader(cfg, args)
    try:
        if held_out is not None:
            fit_probs, fit_labels = cascade_probabilities(model, cfg, sizes, crop_ratio=args.crop_ratio,
                                                          dataloader=held_out)
            data = f'held out: {held_out.dataset.get("data_prefix")} {held_out.dataset.get("ann_file") or ""}'.strip()
            cascade = fit_cascade(fit_probs, fit_labels, gflops, **fit_target(target, fit_probs, fit_labels), **rule,
                                  fit_info={'data': data, 'target': target}, **fields)
            outcome = cascade.simulate(probs)
            evaluation = {'method': 'thresholds fitted on the held-out data, scored on the test set',
                          'top1': top1(outcome.probs, labels), 'mean_gflops': cascade.mean_gflops(outcome),
                          'counts': cascade.counts(outcome)}
        else:
            crossed = cross_fit(probs, labels, gflops, [target], parts=2, seed=args.seed, **rule)[0]
            if crossed.error is not None:
                raise NoOperatingPointError(crossed.error)
            cascade = fit_cascade(probs, labels, gflops, **fit_target(target, probs, labels), **rule, fit_info={
                'data': 'the whole test set (the evaluation below is cross-fitted over its halves)', 'target': target},
                **fields)
            evaluation = {'method': f'two-fold cross-fitting over halves of the test set (seed {args.seed})',
                          'top1': crossed.top1, 'mean_gflops': crossed.mean_gflops, 'counts': crossed.counts,
                          'parts': crossed.parts}
    except NoOperatingPointError as error:
        option = '--budget' if args.budget is not None else '--target-top1' if args.target_top1 is not None else \
            '--match-size'
        raise SystemExit(f'{option}: {error}')
    single = {s: {'top1': top1(probs[s], labels), 'gflops': gflops[s]} for s in sizes}
    evaluation.update(images=int(labels.numel()), single_size=single)
    cascade = dataclasses.replace(cascade, fit={**cascade.fit, 'evaluation': evaluation})
    out = Path(args.out or Path(args.checkpoint).with_name(Path(args.checkpoint).stem + '_cascade.json'))
    cascade.save(out)
    print(report(cascade, evaluation))
    print(f'thresholds written: {out}')


def rule_text(sizes, thresholds, score: str) -> str:
    rule = ', '.join(f'{s} px >= {t:.4f}' for s, t in zip(sizes, thresholds))
    return f'{score} thresholds {rule or "none (one size)"}'


def report(cascade, evaluation: dict) -> str:
    """The results table; the rules behind its cascade row; which thresholds were saved and how
    they scored out of sample; and a note where the row ran other sizes than the saved thresholds
    or an out-of-sample cost is over the budget."""
    budget = cascade.fit.get('budget_gflops')
    crossed = 'parts' in evaluation
    lines = ['| model | top-1 (%) | mean GFLOPs | images stopping at each size |', '|---|---|---|---|']
    for size, row in evaluation['single_size'].items():
        lines.append(f'| SAN at {size} px | {row["top1"]:.2f} | {row["gflops"]:.4f} | |')
    counts = ', '.join(f'{s} px: {c}' for s, c in evaluation['counts'].items())
    label = 'cascade, cross-fitted' if crossed else 'cascade, saved thresholds'
    lines.append(f'| {label} | {evaluation["top1"]:.2f} | {evaluation["mean_gflops"]:.4f} | {counts} |')
    saved = (f'sizes {list(cascade.sizes)}, {rule_text(cascade.sizes, cascade.thresholds, cascade.score)}, '
             f'combine={cascade.combine}')
    in_sample = f'top-1 {cascade.fit["fit_top1"]:.2f} at {cascade.fit["fit_mean_gflops"]:.4f} GFLOPs'
    notes = []
    if crossed:
        lines.append(f'\nThe cascade row ({evaluation["method"]}; {evaluation["images"]} images) scores each half '
                     f'with the thresholds fitted on the other half:')
        for index, part in enumerate(evaluation['parts'], 1):
            lines.append(f'- half {index} ({part["images"]} images): sizes {part["sizes"]}, '
                         f'{rule_text(part["sizes"], part["thresholds"], cascade.score)}; out of sample top-1 '
                         f'{part["top1"]:.2f}, mean GFLOPs {part["mean_gflops"]:.4f}')
            if budget is not None and part['mean_gflops'] > budget * (1 + 1e-9):
                notes.append(f'out of sample, half {index} costs {part["mean_gflops"]:.4f} GFLOPs per image, over the '
                             f'budget {budget:.4f} (on the half its thresholds were fitted on: '
                             f'{part["fit_mean_gflops"]:.4f})')
        lines.append(f'Saved thresholds: {saved}. They are fitted on every test image, so nothing here scores them '
                     f'out of sample (in sample: {in_sample}); the cascade row is the out-of-sample estimate for '
                     f'thresholds fitted this way.')
        row_sizes = sorted({int(s) for part in evaluation['parts'] for s in part['sizes']})
        if row_sizes != list(cascade.sizes):
            notes.append(f'the saved thresholds run sizes {list(cascade.sizes)}; the cascade row\'s thresholds, fitted '
                         f'on each half, ran sizes {row_sizes}')
    else:
        lines.append(f'\nSaved thresholds: {saved}; fitted on {cascade.fit["data"]} ({cascade.fit["images"]} images, '
                     f'{in_sample} there); the cascade row scores them out of sample ({evaluation["method"]}; '
                     f'{evaluation["images"]} images).')
        if budget is not None and evaluation['mean_gflops'] > budget * (1 + 1e-9):
            notes.append(f'out of sample, the saved thresholds cost {evaluation["mean_gflops"]:.4f} GFLOPs per image, '
                         f'over the budget {budget:.4f} (on their fit data: {cascade.fit["fit_mean_gflops"]:.4f})')
    lines += [f'Note: {note}.' for note in notes]
    return '\n'.join(lines)


if __name__ == '__main__':
    main()
