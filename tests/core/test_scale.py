"""Resolution sets, the encoding, nearest-resolution lookup and the ScaleController."""
import warnings

import pytest
import torch

from san_plugin.core import (SANMetadataError, ScaleController, ScaleEncoding, input_resolution,
                             nearest_resolution, validate_resolutions)
from san_plugin.core.scale import ResolutionPlan, check_metadata

RES = (64, 48, 32)


def branch_and_eps(plan: ResolutionPlan) -> tuple[int, float]:
    """The BN branch's resolution and the encoding of a plan."""
    assert plan.bn_key == str(plan.bn_resolution)
    return plan.bn_resolution, plan.eps


def test_default_encoding_is_the_papers():
    enc = ScaleEncoding()
    assert enc(32) == pytest.approx(0.1)
    assert enc(224) == pytest.approx(0.7)
    assert ScaleEncoding(factor=1.0, base=64)(32) == pytest.approx(0.5)


def test_standardized_encoding_has_zero_mean_and_unit_variance_over_the_training_set():
    enc = ScaleEncoding.standardized([64, 56, 48, 40, 32])
    values = torch.tensor([enc(s) for s in (64, 56, 48, 40, 32)], dtype=torch.float64)
    assert float(values.mean()) == pytest.approx(0.0, abs=1e-12)
    assert float(values.pow(2).mean()) == pytest.approx(1.0)
    assert enc(64) > enc(32) and enc(80) == pytest.approx(32 / 128 ** 0.5)  # extrapolates linearly


@pytest.mark.parametrize('value, expected', [
    (None, ScaleEncoding()), ('paper', ScaleEncoding()), ({'factor': 0.2, 'base': 32}, ScaleEncoding(0.2, 32)),
    ({'factor': 1.0, 'base': 16, 'offset': -3.0}, ScaleEncoding(1.0, 16, -3.0)),
    ('standardized', ScaleEncoding.standardized(RES))])
def test_encoding_from_config(value, expected):
    assert ScaleEncoding.from_config(value, RES) == expected
    assert ScaleController(RES, encoding=value).encoding == expected


@pytest.mark.parametrize('value, named', [('zscore', 'zscore'), ({'factor': 1.0, 'scale': 2}, 'scale'),
                                          ({'offset': float('nan')}, 'offset')])
def test_bad_encoding_config_is_refused_naming_it(value, named):
    with pytest.raises(ValueError, match=named):
        ScaleEncoding.from_config(value, RES)


def test_metadata_written_before_the_offset_loads():
    old = ScaleController(RES).metadata()
    old['encoding'].pop('offset')
    check_metadata(old, ScaleController(RES).metadata())
    with pytest.raises(SANMetadataError, match='encoding'):
        check_metadata(old, ScaleController(RES, encoding='standardized').metadata())


@pytest.mark.parametrize('kwargs', [{'factor': 0}, {'factor': -1.0}, {'base': 0}, {'base': float('inf')},
                                    {'factor': float('nan')}])
def test_encoding_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError, match=list(kwargs)[0]):
        ScaleEncoding(**kwargs)


def test_resolutions_are_sorted_largest_first():
    assert validate_resolutions([32, 64, 48]) == (64, 48, 32)
    assert validate_resolutions((7,)) == (7,)


@pytest.mark.parametrize('resolutions, named', [
    ([], 'empty'),
    ([64, 48, 64], '[64]'),
    ([64, 48.0], '48.0'),
    ([64, 40.5], '40.5'),
    ([64, '48'], "'48'"),
    ([64, 0], '0'),
    ([64, -32], '-32'),
    ([True, 64], 'True'),
    ('64', "'64'"),
    (64, '64'),
])
def test_bad_resolution_sets_are_refused_naming_the_value(resolutions, named):
    with pytest.raises(ValueError) as info:
        validate_resolutions(resolutions)
    assert named in str(info.value)


@pytest.mark.parametrize('size, expected', [
    (64, 64), (48, 48), (32, 32),
    (56, 64),  # tie between 64 and 48: the larger wins
    (40, 48),  # tie between 48 and 32: the larger wins
    (55, 48), (57, 64), (39, 32),
    (100, 64), (8, 32),
])
def test_nearest_resolution(size, expected):
    assert nearest_resolution(size, RES) == expected


@pytest.mark.parametrize('shape, expected', [
    ((2, 3, 64, 64), 64), ((2, 3, 64, 36), 48), ((3, 36, 64), 48), ((1, 3, 50, 51), 50),
])
def test_input_resolution_is_rounded_sqrt_of_area(shape, expected):
    assert input_resolution(torch.empty(shape)) == expected


def test_input_resolution_needs_an_image():
    with pytest.raises(ValueError, match=r'\(4, 8\)'):
        input_resolution(torch.empty(4, 8))


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


def test_metadata_round_trip_and_mismatch_names_the_field():
    ctrl = ScaleController(RES, meta_hidden=8, exclude=['conv1'])
    meta = ctrl.metadata()
    check_metadata(meta, ScaleController(RES, meta_hidden=8, exclude=['conv1']).metadata())
    with pytest.raises(SANMetadataError, match='meta_hidden: checkpoint has 8, this model has 16') as info:
        check_metadata(meta, ScaleController(RES, meta_hidden=16, exclude=['conv1']).metadata())
    assert 'resolutions:' not in str(info.value)
    with pytest.raises(SANMetadataError, match=r'resolutions: checkpoint has \[64, 48, 32\]'):
        check_metadata(meta, ScaleController([64, 32], meta_hidden=8, exclude=['conv1']).metadata())
    with pytest.raises(SANMetadataError, match='malformed'):
        check_metadata({'foo': 1}, meta)
