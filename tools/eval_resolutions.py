"""Evaluate checkpoints at every test resolution: the paper's Table 1 and Fig. 1 for any model.

    python tools/eval_resolutions.py CONFIG CHECKPOINT --resolutions 256 224 208 ... 64 [--mode proxy|ideal]
        [--baseline CONFIG CHECKPOINT ...] [--tta 224,192 [--tta 256,224 ...]] [--out PREFIX]
        [--budget-ms X | --budget-gflops X] [--no-costs] [--latency-batch N] [--cfg-options ...]
        [--launcher pytorch]

For a SAN it fills the matrix rows = BN branch / encoding of each training resolution,
columns = test resolutions, the proxy cell of each column marked; every --baseline adds
one row. Every ``--tta`` combination tests each model with its softmax averaged over those
sizes (one decode per image; the SAN as it runs: proxy, or ideal with ``--mode ideal``): its
top-1/top-5 and summed GFLOPs (and latency) go into the report's "Multi-resolution testing"
table, beside the best single-resolution cell at no more GFLOPs; its sizes join the test
resolutions. Writes PREFIX.md/.csv/.json, PREFIX_accuracy.png and PREFIX_tradeoff.png (and
PREFIX_tta.csv with --tta).
"""
import argparse
import os

from mmengine.dist import get_rank

from san_plugin.evaluation import NoOperatingPointError, pick_operating_point, tta_views, write_sweep_report
from san_plugin.mm.cli.config import load_config
from san_plugin.mm.cli.launch import add_launch_args, init_launcher, parse_launch_args
from san_plugin.mm.model_from_config import training_resolution
from san_plugin.mm.sweep import sweep


def combination(text: str) -> tuple[int, ...]:
    """``'64,48'`` -> ``(64, 48)``: a ``--tta`` value (two or more distinct positive sizes)."""
    try:
        return tta_views(int(size) for size in text.split(','))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f'--tta {text!r}: give comma-separated sizes such as 64,48 ({error})')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Accuracy and cost of checkpoints at every test resolution')
    parser.add_argument('config', help='config of the main checkpoint (a SAN or a baseline)')
    parser.add_argument('checkpoint')
    parser.add_argument('--resolutions', type=int, nargs='+', required=True, help='test resolutions')
    parser.add_argument('--baseline', nargs=2, action='append', default=[], metavar=('CONFIG', 'CHECKPOINT'),
                        help='a baseline checkpoint (repeatable): one row each')
    parser.add_argument('--tta', type=combination, action='append', default=[], metavar='S1,S2[,...]',
                        help='multi-resolution testing (repeatable): average the softmax over these test sizes')
    parser.add_argument('--mode', choices=['proxy', 'ideal'], default='proxy',
                        help="'ideal' adds a row with eps(T) and calibrated BN (tools/calibrate_bn.py)")
    parser.add_argument('--out', default='work_dirs/eval_resolutions/sweep', help='output path prefix')
    parser.add_argument('--budget-ms', type=float, help='pick the best resolution within this latency')
    parser.add_argument('--budget-gflops', type=float, help='pick the best resolution within these GFLOPs')
    parser.add_argument('--no-costs', action='store_true', help='skip FLOPs/latency measurement')
    parser.add_argument('--latency-batch', type=int, default=1, help='batch size of the latency measurement')
    add_launch_args(parser, launchers=('none', 'pytorch'))
    args = parse_launch_args(parser)
    if any(r <= 0 for r in args.resolutions):
        parser.error(f'--resolutions must be positive pixel sizes, got {args.resolutions}')
    return args


def main() -> None:
    args = parse_args()
    device = init_launcher(args.launcher)
    for path in [args.checkpoint] + [c for _, c in args.baseline]:
        if not os.path.isfile(path):
            raise SystemExit(f'checkpoint not found: {path}')
    main_cfg = load_config(args.config, args.cfg_options)
    baselines = [(load_config(c, args.cfg_options), k) for c, k in args.baseline]
    if main_cfg.model.get('san') is not None:
        san = (main_cfg, args.checkpoint)
    else:
        san, baselines = None, [(main_cfg, args.checkpoint)] + baselines
    missing = [c.filename for c, _ in baselines if training_resolution(c) is None]
    if missing:
        raise SystemExit(f'cannot tell the training resolution of the baseline(s) {missing} from their train pipeline')
    result = sweep(san, baselines, args.resolutions, mode=args.mode, device=device,
                   measure_costs=not args.no_costs, batch_size=args.latency_batch, tta=args.tta)
    if get_rank() != 0:
        return
    result.meta['command'] = 'python tools/eval_resolutions.py ' + ' '.join(os.sys.argv[1:])
    paths = write_sweep_report(result, args.out)
    print(open(paths['md']).read())
    print('written:', ', '.join(str(p) for p in paths.values()))
    if args.budget_ms is not None or args.budget_gflops is not None:
        try:
            best = pick_operating_point(result, budget_ms=args.budget_ms, budget_gflops=args.budget_gflops)
            print(f'best resolution within the budget: {best} px '
                  f'(top-1 {result.curve()[best].top1 if san else "see table"})')
        except NoOperatingPointError as error:
            raise SystemExit(str(error))


if __name__ == '__main__':
    main()
