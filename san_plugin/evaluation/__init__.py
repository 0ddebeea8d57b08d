"""Toolbox-free evaluation helpers: cost measurement, the standard test crop, resolution-sweep reports.

Nothing here imports mmengine or mmpretrain; matplotlib (``pip install "san_plugin[plots]"``)
is imported only when a plot is drawn. The per-image cascade is :mod:`san_plugin.cascade`.
"""
from san_plugin.core.inference import example_input, inference, input_channels

from .measure import count_flops, count_params, deployed_gflops, measure_latency
from .multi_size_views import MultiSizeViews
from .sweep_report import write_sweep_report
from .sweep_result import (Accuracy, Cost, NoOperatingPointError, SweepResult, SweepRow, TTAEntry,
                           pick_operating_point, tta_views)
from .test_crop import TEST_CROP_RATIO
from .tta_comparison import TTAComparison, compare_tta

__all__ = [
    'Accuracy', 'Cost', 'MultiSizeViews', 'NoOperatingPointError', 'SweepResult', 'SweepRow', 'TEST_CROP_RATIO',
    'TTAComparison', 'TTAEntry', 'compare_tta', 'count_flops', 'count_params', 'deployed_gflops', 'example_input',
    'inference', 'input_channels', 'measure_latency', 'pick_operating_point', 'tta_views', 'write_sweep_report',
]
