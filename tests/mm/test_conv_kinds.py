"""mmcv's Conv2dAdaptivePadding (MMPretrain's EfficientNet, EfficientNetV2) as a SAN meta convolution."""
from __future__ import annotations

import pytest
import torch
from mmcv.cnn.bricks.conv2d_adaptive_padding import Conv2dAdaptivePadding
from mmpretrain.models import EfficientNet, EfficientNetV2

import san_plugin.mm.conv_kinds  # noqa: F401  (registers the kind)
from conv_kind_checks import RES, assert_applies_the_generated_kernel, assert_starts_equal
from san_plugin.core import MetaConv2d, ScaleController, bake, convert
from san_plugin.core.conv_kinds import kernel_op_for
from san_plugin.mm.conv_kinds import same_padding

LAYERS = {
    'stride2': lambda: Conv2dAdaptivePadding(4, 6, 3, stride=2),
    'stride2_k5_depthwise': lambda: Conv2dAdaptivePadding(4, 4, 5, stride=2, groups=4, bias=False),
    'dilated': lambda: Conv2dAdaptivePadding(4, 6, 3, dilation=2),
    'pointwise': lambda: Conv2dAdaptivePadding(4, 6, 1),
}


@pytest.mark.parametrize('size, kernel, stride, dilation', [(7, 3, 2, 1), (8, 3, 2, 1), (9, 5, 2, 1), (10, 3, 1, 2),
                                                           (5, 1, 1, 1)])
def test_same_padding_keeps_ceil_size_over_stride_positions(size, kernel, stride, dilation):
    before, after = same_padding(size, kernel, stride, dilation)
    assert 0 <= after - before <= 1
    out = (size + before + after - dilation * (kernel - 1) - 1) // stride + 1
    assert out == -(-size // stride)


@pytest.mark.parametrize('name', sorted(LAYERS))
def test_a_converted_layer_starts_equal_and_applies_the_generated_kernel_its_way(name):
    layer = LAYERS[name]()
    ctrl = ScaleController(RES)
    meta = MetaConv2d(layer, ctrl, kernel_op_for(Conv2dAdaptivePadding))
    assert_starts_equal(meta, ctrl, layer, (33, 32, 17))  # odd sizes need uneven padding
    assert_applies_the_generated_kernel(meta, ctrl, layer, LAYERS[name], Conv2dAdaptivePadding, shape=(21, 22))


@pytest.mark.parametrize('backbone', [lambda: EfficientNet(arch='b0'), lambda: EfficientNetV2(arch='b0')],
                         ids=['EfficientNet-b0', 'EfficientNetV2-b0'])
def test_mmpretrain_efficientnets_keep_their_outputs_and_bake_back(backbone):
    model = backbone()
    model.init_weights()
    with torch.no_grad():  # trained-looking BN statistics, so that a wrong branch copy would show
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    model.eval()
    inputs = {s: torch.randn(1, 3, s, s) for s in (64, 57)}  # 57: uneven 'same' padding
    with torch.no_grad():
        expected = {s: model(x)[-1] for s, x in inputs.items()}
    san, report = convert(model, RES, init='pretrained')
    assert report.convs == sum(1 for m in san.modules() if isinstance(m, MetaConv2d))
    san.eval()
    with torch.no_grad():
        for size, x in inputs.items():
            torch.testing.assert_close(san(x)[-1], expected[size], rtol=1e-4, atol=1e-5)
            plain = bake(san, size)
            assert Conv2dAdaptivePadding in {type(m) for m in plain.modules()}
            assert not any(isinstance(m, MetaConv2d) for m in plain.modules())
            fresh = backbone()
            fresh.eval()  # MMPretrain backbones' train() returns None
            fresh.load_state_dict(plain.state_dict())
            torch.testing.assert_close(fresh(x)[-1], expected[size], rtol=1e-4, atol=1e-5)
