"""Toolbox-free evaluation helpers: cost measurement and resolution-sweep reports.

Nothing here imports mmengine or mmpretrain; matplotlib (``pip install "san_plugin[plots]"``)
is imported only when a plot is drawn. Formerly ``san_plugin.eval`` (a name that shadowed
the builtin ``eval`` in ``from san_plugin import eval``).
"""
from .measure import count_flops, count_params, measure_latency
from .model_io import example_input, inference, input_channels
from .sweep_report import write_sweep_report
from .sweep_result import (Accuracy, Cost, NoOperatingPointError, SweepResult, SweepRow, TTAEntry,
                           pick_operating_point, tta_views)
from .tta_comparison import TTAComparison, compare_tta

__all__ = [
    'Accuracy', 'Cost', 'NoOperatingPointError', 'SweepResult', 'SweepRow', 'TTAComparison', 'TTAEntry',
    'compare_tta', 'count_flops', 'count_params', 'example_input', 'inference', 'input_channels',
    'measure_latency', 'pick_operating_point', 'tta_views', 'write_sweep_report',
]
