"""Resolution sets, the encoding, nearest-resolution lookup and an input's resolution."""
import pytest
import torch

from san_plugin.core import ScaleController, ScaleEncoding, input_resolution, nearest_resolution, validate_resolutions

RES = (64, 48, 32)


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
