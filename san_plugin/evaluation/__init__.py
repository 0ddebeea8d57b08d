"""Toolbox-free evaluation helpers: cost measurement, resolution-sweep reports, the per-image cascade.

Nothing here imports mmengine or mmpretrain; matplotlib (``pip install "san_plugin[plots]"``)
is imported only when a plot is drawn.
"""
from san_plugin.core.inference import example_input, inference, input_channels

from .cascade import (Cascade, CascadeMismatchError, collect_probabilities, deployed_gflops, single_size)
from .cascade_fit import CrossFitResult, OperatingPoint, cascade_frontier, cross_fit, fit_cascade
from .cascade_runtime import CascadeOutcome, run_cascade, simulate_cascade
from .fingerprint import model_fingerprint, state_fingerprint
from .measure import count_flops, count_params, measure_latency
from .multi_size_views import MultiSizeViews
from .sweep_report import write_sweep_report
from .sweep_result import (Accuracy, Cost, NoOperatingPointError, SweepResult, SweepRow, TTAEntry,
                           pick_operating_point, tta_views)
from .tta_comparison import TTAComparison, compare_tta

__all__ = [
    'Cascade', 'CascadeMismatchError', 'CascadeOutcome', 'CrossFitResult', 'MultiSizeViews', 'OperatingPoint',
    'cascade_frontier', 'collect_probabilities', 'cross_fit', 'deployed_gflops', 'fit_cascade', 'model_fingerprint',
    'run_cascade', 'simulate_cascade', 'single_size', 'state_fingerprint',
    'Accuracy', 'Cost', 'NoOperatingPointError', 'SweepResult', 'SweepRow', 'TTAComparison', 'TTAEntry',
    'compare_tta', 'count_flops', 'count_params', 'example_input', 'inference', 'input_channels',
    'measure_latency', 'pick_operating_point', 'tta_views', 'write_sweep_report',
]
