"""A plain model's trained weights mapped onto a SAN converted before they were loaded."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from san_plugin.core import convert, plain_state_shapes, san_state_from_plain
from tiny_models import depthwise_cnn, randomise_san_, snapshot

RES = (32, 24, 16)


def trained(cnn=depthwise_cnn) -> nn.Module:
    """A 'trained' plain model: random kernels and distinct batch-norm statistics."""
    torch.manual_seed(3)
    model = cnn()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.num_batches_tracked.fill_(7)
    return model.eval()


@pytest.mark.parametrize('options', [dict(), dict(meta_hidden=4), dict(exclude=['0']), dict(convs='shared')],
                         ids=['affine', 'mlp', 'stem-excluded', 'shared-convs'])
def test_loading_after_conversion_equals_converting_the_trained_model(options):
    plain = trained()
    torch.manual_seed(0)
    san, _ = convert(depthwise_cnn(), RES, init='scratch', **options)  # built before any weight exists
    randomise_san_(san)
    torch.manual_seed(0)  # the MLP's hidden layer: drawn alike, kept by the mapping
    reference, _ = convert(copy.deepcopy(plain), RES, init='pretrained', **options)
    hidden = {k: v for k, v in snapshot(reference).items() if '.meta.hidden.' in k}
    for key, value in hidden.items():  # the mapping keeps the SAN's own hidden layer
        san.state_dict()[key].copy_(value)
    assert plain_state_shapes(san) == {k: tuple(v.shape) for k, v in plain.state_dict().items()}
    san.load_state_dict(san_state_from_plain(san, plain.state_dict()), strict=True)
    assert snapshot(san).keys() == snapshot(reference).keys()
    for key, value in snapshot(reference).items():
        torch.testing.assert_close(snapshot(san)[key], value, rtol=0, atol=0, msg=key)
    san.eval()
    for size in (*RES, 20, 40):
        x = torch.randn(2, 3, size, size)
        with torch.no_grad():
            torch.testing.assert_close(san(x), plain(x), rtol=1e-5, atol=1e-5)


def test_a_model_that_is_not_a_san_maps_one_to_one():
    plain = trained()
    other = depthwise_cnn()
    assert plain_state_shapes(other) == {k: tuple(v.shape) for k, v in plain.state_dict().items()}
    other.load_state_dict(san_state_from_plain(other, plain.state_dict()), strict=True)
    for key, value in plain.state_dict().items():
        assert torch.equal(other.state_dict()[key], value)


def test_a_missing_plain_key_is_named():
    san, _ = convert(depthwise_cnn(), RES)
    state = trained().state_dict()
    del state['4.running_var']
    with pytest.raises(KeyError, match='4.running_var'):
        san_state_from_plain(san, state)
