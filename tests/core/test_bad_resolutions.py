"""Bad resolution sets given to the core API: refused naming the value, the model left as it was."""
from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from san_plugin.core import ScaleController, convert, find_controller

BAD_SETS = [
    ([], 'is empty'),
    ([64, 32, 64], 'duplicates: [64]'),
    ([64, 32.5], 'must hold integers (pixels), got 32.5 of type float'),
    ([64.0, 32], 'got 64.0 of type float'),
    ([64, 0], 'positive integers, got 0'),
    ([64, -32], 'positive integers, got -32'),
    ([True, 32], 'got True of type bool'),
    (['64', 32], "got '64' of type str"),
    ('64', "list of positive integers, got '64'"),
    (None, 'list of positive integers, got None'),
    ([np.int64(64)], 'of type int64'),  # numpy integers are refused too: pass int(s)
]


def small_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3))


@pytest.mark.parametrize('resolutions, message', BAD_SETS)
def test_convert_refuses_bad_sets_and_leaves_the_model_unchanged(resolutions, message):
    model = small_cnn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError) as error:
        convert(model, resolutions)
    assert message in str(error.value)
    assert find_controller(model) is None
    assert [type(m) for m in model] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Conv2d]
    assert all(v.equal(before[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize('resolutions, message', BAD_SETS)
def test_controller_refuses_bad_sets(resolutions, message):
    with pytest.raises(ValueError) as error:
        ScaleController(resolutions)
    assert message in str(error.value)


def test_unsorted_sets_are_fine_and_stored_largest_first():
    model, _ = convert(small_cnn(), [24, 64, 32])
    assert find_controller(model).resolutions == (64, 32, 24)
