"""FLOPs, parameters and latency of plain, baked and SAN models."""
from __future__ import annotations

import statistics

import pytest
import timm
import torch
from torch import nn

from san_plugin.core import bake, convert
from san_plugin.evaluation import count_flops, count_params, measure_latency
from san_plugin.evaluation import measure as measure_module
from tiny_models import tiny_cnn


def test_flops_of_one_convolution_are_exact():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert count_flops(conv, 32) == 2 * 3 * 8 * 9 * 32 * 32
    assert count_flops(conv, 32, batch=4) == 4 * count_flops(conv, 32)


def test_flops_scale_with_resolution_squared_for_a_cnn():
    model = timm.create_model('resnet18', num_classes=10)
    small, large = count_flops(model, 64), count_flops(model, 128)
    assert 3.95 < large / small <= 4.0  # the classifier's constant cost keeps it just below 4
    assert 3.5e9 < count_flops(model, 224) < 3.7e9  # ~1.8 GMACs = 3.6 GFLOPs (2 per multiply-add)


def test_san_flops_equal_baked_and_original():
    torch.manual_seed(0)
    original = tiny_cnn()
    reference = count_flops(original, 24)
    san, _ = convert(original, [32, 16])
    san.train()
    assert count_flops(san, 24) == count_flops(bake(san, 24), 24) == reference
    assert san.training and all(m.training for m in san.modules())  # modes restored


def test_count_params():
    assert count_params(nn.Linear(3, 2)) == 8
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2))
    model[0].requires_grad_(False)
    assert count_params(model) == 14 and count_params(model, trainable_only=True) == 6
    san, _ = convert(tiny_cnn(), [32, 16])
    plain = count_params(tiny_cnn())
    assert count_params(bake(san, 32)) == plain < count_params(san)


class ScriptedClock:
    """``time.perf_counter`` that advances by the given durations (ms), one per timed pass."""

    def __init__(self, durations_ms):
        self.readings = []
        now = 100.0
        for duration in durations_ms:
            self.readings += [now, now + duration / 1e3]
            now += duration / 1e3 + 1.0
        self.calls = 0

    def perf_counter(self):
        self.calls += 1
        return self.readings[self.calls - 1]


def test_measure_latency_times_only_the_repeats_and_reports_their_statistics(monkeypatch):
    san, _ = convert(tiny_cnn(), [32, 16])
    san.train()
    calls = []
    san.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape))
    clock = ScriptedClock([3.0, 1.0, 4.0, 1.0, 5.0])
    monkeypatch.setattr(measure_module, 'time', clock)

    result = measure_latency(san, 24, 2, warmup=3, repeats=5, device='cpu')

    assert len(calls) == 3 + 5 and set(calls) == {(2, 3, 24, 24)}  # warm-up passes run untimed
    assert clock.calls == 2 * 5  # one start and one stop per timed pass
    assert {'median_ms', 'mean_ms', 'min_ms', 'max_ms', 'p90_ms', 'images_per_s'} <= result.keys()
    assert 0 < result['min_ms'] <= result['median_ms'] <= result['max_ms']
    expected = dict(median_ms=3.0, mean_ms=2.8, min_ms=1.0, max_ms=5.0, p90_ms=5.0,
                    std_ms=statistics.pstdev([3.0, 1.0, 4.0, 1.0, 5.0]), images_per_s=2 * 1e3 / 3.0)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, rel=1e-9), key
    assert result['resolution'] == 24 and result['batch_size'] == 2 and result['device'] == 'cpu'
    assert (result['repeats'], result['warmup']) == (5, 3)
    assert san.training


def test_measure_latency_refuses_impossible_settings():
    with pytest.raises(ValueError, match='repeats >= 1'):
        measure_latency(tiny_cnn(), 16, repeats=0)
