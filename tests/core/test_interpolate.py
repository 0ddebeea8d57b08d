"""Data-free BN branches for test resolutions, interpolated between training branches."""
from __future__ import annotations

import warnings

import pytest
import torch

from san_plugin.core import interpolate_bn, interpolation_weights, private_norms, san_resolution, set_mode
from san_plugin.core.interpolate import interpolated_state
from tiny_models import snapshot, tiny_san

RESOLUTIONS = (32, 16)


def test_interpolation_weights():
    assert interpolation_weights(32, RESOLUTIONS) == {32: 1.0}
    assert interpolation_weights(16, RESOLUTIONS) == {16: 1.0}
    weights = interpolation_weights(28, RESOLUTIONS, lambda s: 0.1 * s / 32)
    assert weights.keys() == {32, 16} and weights[32] == pytest.approx(0.75) and sum(weights.values()) == 1
    assert interpolation_weights(40, RESOLUTIONS) == {32: 1.0}  # no extrapolation
    assert interpolation_weights(8, RESOLUTIONS) == {16: 1.0}


def test_interpolation_is_exact_at_training_resolutions():
    model = tiny_san()
    for norm in private_norms(model):
        for resolution in RESOLUTIONS:
            state = interpolated_state(norm, interpolation_weights(resolution, RESOLUTIONS, model.san.encoding))
            reference = norm.branch(resolution).state_dict()
            assert state.keys() == reference.keys()
            assert all(torch.equal(state[k], reference[k]) for k in state)


def test_interpolate_bn_is_linear_between_and_nearest_outside():
    model = tiny_san()
    before = snapshot(model)
    done = interpolate_bn(model, [40, 32, 28, 24, 20, 8])
    assert sorted(done) == [8, 20, 24, 28, 40]  # the training resolution 32 is skipped
    after = snapshot(model)
    assert all(torch.equal(after[k], v) for k, v in before.items())
    for norm_name in ('1', '4'):
        for name in ('weight', 'bias', 'running_mean', 'running_var'):
            def value(resolution):
                return after[f'{norm_name}.branches.{resolution}.{name}'].double()
            torch.testing.assert_close(value(24), (value(32) + value(16)) / 2, rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(value(28), 0.75 * value(32) + 0.25 * value(16), rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(value(28) - value(24), value(24) - value(20), rtol=1e-5, atol=1e-6)
            assert torch.equal(value(40), value(32)) and torch.equal(value(8), value(16))
    assert (model[1].branch(24).running_var > 0).all()

    set_mode(model, 'ideal')
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # a branch exists: no fallback warning
        with torch.no_grad(), san_resolution(model, 24):
            model(torch.randn(2, 3, 24, 24))
    assert model.san.plan.bn_resolution == 24
