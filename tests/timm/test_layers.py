"""timm's conv classes keep their own semantics as SAN meta convolutions."""
import pytest
import torch
from timm.layers import Conv2dSame, StdConv2d, StdConv2dSame

from conv_kind_checks import RES, assert_applies_the_generated_kernel, assert_starts_equal
from san_plugin.core import MetaConv2d, ScaleController, convert
from san_plugin.core.conv_kinds import kernel_op_for


LAYERS = {
    'conv2d_same_stride2': lambda: Conv2dSame(4, 6, 3, stride=2, bias=True),
    'conv2d_same_dilated': lambda: Conv2dSame(4, 6, 3, dilation=2),
    'conv2d_same_depthwise': lambda: Conv2dSame(4, 4, 5, stride=2, groups=4),
    'std_conv2d': lambda: StdConv2d(4, 6, 3, padding=1, eps=1e-8),
    'std_conv2d_strided': lambda: StdConv2d(4, 6, 3, stride=2, padding=1, bias=True),
    'std_conv2d_same': lambda: StdConv2dSame(4, 6, 3, stride=2),
    'std_conv2d_same_static': lambda: StdConv2dSame(4, 6, 3, stride=1),
}


def meta_conv(layer):
    ctrl = ScaleController(RES)
    return MetaConv2d(layer, ctrl, kernel_op_for(type(layer))), ctrl


@pytest.mark.parametrize('name', sorted(LAYERS))
def test_timm_conv_kinds_start_equal_to_the_layer(name):
    layer = LAYERS[name]()
    meta, ctrl = meta_conv(layer)
    assert_starts_equal(meta, ctrl, layer, (33, 32, 17))  # odd sizes exercise dynamic 'same' padding


@pytest.mark.parametrize('name', sorted(LAYERS))
def test_timm_conv_kinds_apply_the_generated_kernel_their_own_way(name):
    layer = LAYERS[name]()
    meta, ctrl = meta_conv(layer)
    assert_applies_the_generated_kernel(meta, ctrl, layer, LAYERS[name], type(layer))


def test_converter_uses_the_timm_kinds():
    net = torch.nn.Sequential(Conv2dSame(3, 4, 3, stride=2), StdConv2d(4, 4, 3), StdConv2dSame(4, 4, 3))
    net, report = convert(net, RES)
    assert report.convs == 3
    assert [m.host_type for m in net if isinstance(m, MetaConv2d)] == [Conv2dSame, StdConv2d, StdConv2dSame]
