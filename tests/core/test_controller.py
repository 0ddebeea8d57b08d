"""The ScaleController: the plan of every input size, inference modes, the resolution override."""
import warnings

import pytest
import torch

from san_plugin.core import ScaleController, ScaleEncoding
from san_plugin.core.scale import ResolutionPlan

RES = (64, 48, 32)


def branch_and_eps(plan: ResolutionPlan) -> tuple[int, float]:
    """The BN branch's resolution and the encoding of a plan."""
    assert plan.bn_key == str(plan.bn_resolution)
    return plan.bn_resolution, plan.eps


def test_training_resolutions_use_their_own_branch_and_encoding():
    ctrl = ScaleController([32, 64, 48])
    assert ctrl.resolutions == RES
    for size in RES:
        for training in (True, False):
            ctrl.train(training)
            assert branch_and_eps(ctrl.resolve(size)) == (size, pytest.approx(ScaleEncoding()(size)))


def test_training_at_other_resolution_is_an_error_naming_it():
    ctrl = ScaleController(RES).train()
    with pytest.raises(ValueError, match='56 px'):
        ctrl.resolve(56)


def test_proxy_inference_uses_nearest_training_resolution_without_warning():
    ctrl = ScaleController(RES).eval()
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert branch_and_eps(ctrl.resolve(56)) == (64, pytest.approx(0.2))
        assert branch_and_eps(ctrl.resolve(40)) == (48, pytest.approx(0.15))
        assert branch_and_eps(ctrl.resolve(36)) == (32, pytest.approx(0.1))


def test_out_of_range_size_warns_once_per_size():
    ctrl = ScaleController(RES).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert branch_and_eps(ctrl.resolve(80)) == (64, pytest.approx(0.2))
        assert branch_and_eps(ctrl.resolve(80)) == (64, pytest.approx(0.2))
        assert branch_and_eps(ctrl.resolve(16)) == (32, pytest.approx(0.1))
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert '80 px' in messages[0] and 'outside' in messages[0]
    assert '16 px' in messages[1]


def test_ideal_without_calibration_falls_back_to_proxy_with_one_warning():
    ctrl = ScaleController(RES, mode='ideal').eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert branch_and_eps(ctrl.resolve(56)) == (64, pytest.approx(0.2))
        assert branch_and_eps(ctrl.resolve(56)) == (64, pytest.approx(0.2))
    assert len(caught) == 1
    assert 'ideal' in str(caught[0].message) and '56 px' in str(caught[0].message)


def test_ideal_with_calibration_uses_the_test_size_itself():
    ctrl = ScaleController(RES, mode='ideal').eval()
    ctrl.calibrated = (56,)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert branch_and_eps(ctrl.resolve(56)) == (56, pytest.approx(ScaleEncoding()(56)))
        assert branch_and_eps(ctrl.resolve(48)) == (48, pytest.approx(0.15))
    ctrl.mode = 'proxy'
    assert branch_and_eps(ctrl.resolve(56)) == (64, pytest.approx(0.2))  # proxy ignores calibrated branches
    assert ctrl.bn_resolutions == (64, 48, 32, 56)


def test_a_size_is_resolved_once_and_its_plan_remembered(monkeypatch):
    ctrl = ScaleController(RES).eval()
    planned = []
    real = ctrl._plan_test_size
    monkeypatch.setattr(ctrl, '_plan_test_size', lambda size: planned.append(size) or real(size))
    first = ctrl.resolve(56)
    assert ctrl.resolve(56) is first and ctrl.resolve(64) is ctrl.resolve(64)
    assert planned == [56]  # training resolutions are planned at construction
    ctrl.activate(56)
    assert ctrl.plan is first


def test_remembered_plans_follow_mode_and_calibration():
    ctrl = ScaleController(RES, mode='ideal').eval()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert branch_and_eps(ctrl.resolve(56)) == (64, pytest.approx(0.2))  # no branch yet: proxy
    ctrl.calibrated = (56,)
    assert branch_and_eps(ctrl.resolve(56)) == (56, pytest.approx(ScaleEncoding()(56)))
    ctrl.mode = 'proxy'
    assert branch_and_eps(ctrl.resolve(56)) == (64, pytest.approx(0.2))


def test_inference_plan_ignores_the_train_mode():
    ctrl = ScaleController(RES).train()
    assert branch_and_eps(ctrl.inference_plan(56)) == (64, pytest.approx(0.2))
    assert ctrl.training
    with pytest.raises(ValueError, match='56 px'):
        ctrl.resolve(56)  # remembering the plan for inference does not admit it in training


def test_mode_must_be_known():
    with pytest.raises(ValueError, match='exact'):
        ScaleController(RES, mode='exact')
    ctrl = ScaleController(RES)
    with pytest.raises(ValueError, match='exact'):
        ctrl.mode = 'exact'


def test_resolution_context_overrides_and_restores():
    ctrl = ScaleController(RES).eval()
    with ctrl.resolution(32):
        assert (ctrl.plan.bn_resolution, ctrl._override) == (32, 32)
        with ctrl.resolution(48):
            assert ctrl.plan.bn_resolution == 48
        assert ctrl._override == 32
    assert ctrl._override is None


def test_controller_is_identity_and_holds_no_parameters():
    ctrl = ScaleController(RES)
    x = torch.randn(2, 3)
    assert ctrl(x) is x
    assert list(ctrl.parameters()) == []
