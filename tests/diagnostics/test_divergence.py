"""DivergenceMonitor: one warning, naming where and how, when a CE leaves the chance level."""
from __future__ import annotations

import math
import warnings

import pytest

from san_plugin.diagnostics.divergence import DivergenceMonitor, SANDivergenceWarning


def test_warns_once_naming_resolution_iteration_rate_and_form():
    monitor = DivergenceMonitor(num_classes=10)
    assert monitor.threshold == pytest.approx(2 * math.log(10))
    assert monitor.check({64: 2.3, 32: 4.5}, iteration=3, lr=0.05, loss_form='sum') is None
    with pytest.warns(SANDivergenceWarning) as caught:
        message = monitor.check({64: 4.7, 32: 7.8}, iteration=30, lr=0.0213, loss_form='sum')
    assert len(caught) == 1 and str(caught[0].message) == message
    for part in ('32 px', '7.8', 'iteration 30', '0.0213', "'sum'", 'docs/training.md'):
        assert part in message, part
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # a second warning would raise here
        assert monitor.check({64: 9.0}, iteration=31, lr=0.02, loss_form='sum') is None


def test_nan_counts_as_divergence_and_unknown_iteration_is_said():
    monitor = DivergenceMonitor(num_classes=3, factor=3.0)
    with pytest.warns(SANDivergenceWarning, match='at 16 px is nan.*this step.*learning rate unknown'):
        monitor.check({32: 1.0, 16: float('nan')}, iteration=None, lr=None, loss_form='mean')
    with pytest.raises(ValueError, match='2 classes'):
        DivergenceMonitor(num_classes=1)
