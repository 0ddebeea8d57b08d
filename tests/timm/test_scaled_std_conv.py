"""timm's ScaledStdConv2d / ScaledStdConv2dSame (NFNets) as SAN meta convolutions: the generated kernel is
standardised and scaled by the layer's own gain and gamma; bake gives the layer back."""
from dataclasses import replace

import pytest
import timm
import torch
from timm.layers import ScaledStdConv2d, ScaledStdConv2dSame
from timm.models.nfnet import NormFreeNet, model_cfgs

from conv_kind_checks import RES, assert_applies_the_generated_kernel, assert_starts_equal
from san_plugin.core import MetaConv2d, ScaleController, bake, convert
from san_plugin.core.conv_kinds import kernel_op_for



def _core_keeps_host_parameters() -> bool:
    layer = ScaledStdConv2d(2, 2, 1)
    return 'gain' in dict(MetaConv2d(layer, ScaleController(RES), kernel_op_for(ScaledStdConv2d)).named_parameters())


pytestmark = pytest.mark.skipif(
    not _core_keeps_host_parameters(),
    reason='needs the core change: MetaConv2d keeps the host layer\'s parameters other than weight and bias '
           '(ScaledStdConv2d.gain)')

LAYERS = {
    'scaled_std': lambda: ScaledStdConv2d(4, 6, 3, gamma=1.7),
    'scaled_std_strided_bias': lambda: ScaledStdConv2d(4, 6, 3, stride=2, bias=True, eps=1e-5),
    'scaled_std_depthwise': lambda: ScaledStdConv2d(4, 4, 3, groups=4, bias=False),
    'scaled_std_same': lambda: ScaledStdConv2dSame(4, 6, 3, stride=2, gamma=1.7),
    'scaled_std_same_static': lambda: ScaledStdConv2dSame(4, 6, 3, stride=1),
}


def trained_gain(layer):
    with torch.no_grad():
        layer.gain.uniform_(0.5, 2.0)  # not its init of 1: a dropped gain shows
    return layer


@pytest.mark.parametrize('name', sorted(LAYERS))
def test_a_converted_layer_starts_equal_and_applies_the_generated_kernel_its_way(name):
    layer = trained_gain(LAYERS[name]())
    ctrl = ScaleController(RES)
    meta = MetaConv2d(layer, ctrl, kernel_op_for(type(layer)))
    assert_starts_equal(meta, ctrl, layer, (33, 32))  # odd sizes exercise dynamic 'same' padding
    assert_applies_the_generated_kernel(meta, ctrl, layer, LAYERS[name], type(layer))


def test_the_gain_stays_a_shared_trainable_parameter_under_its_name():
    net, report = convert(torch.nn.Sequential(trained_gain(ScaledStdConv2d(3, 4, 3))), RES)
    assert report.convs == 1
    assert {'0.gain', '0.meta.weight', '0.meta.bias', '0.bias'} <= set(dict(net.named_parameters()))
    net.train()
    net(torch.randn(2, 3, 32, 32)).square().mean().backward()
    assert net[0].gain.grad is not None and net[0].gain.grad.abs().sum() > 0


def _same_outputs_after_conversion_and_bake(model, sizes):
    """Converts ``model`` (pretrained init) and bakes it at each size; returns the inputs, the original's
    outputs and the baked models."""
    model.eval()
    inputs = {s: torch.randn(1, 3, s, s) for s in sizes}
    with torch.no_grad():
        expected = {s: model(x) for s, x in inputs.items()}
    san, _ = convert(model, RES, init='pretrained')
    san.eval()  # the new layers start in training mode
    baked = {}
    with torch.no_grad():
        for s, x in inputs.items():
            torch.testing.assert_close(san(x), expected[s], rtol=1e-4, atol=1e-5)
            baked[s] = bake(san, s)
            torch.testing.assert_close(baked[s](x), expected[s], rtol=1e-4, atol=1e-5)
    return inputs, expected, baked


def test_nf_resnet50_keeps_its_outputs_and_bakes_back():
    model = timm.create_model('nf_resnet50')
    for m in model.modules():
        if isinstance(m, ScaledStdConv2d):
            trained_gain(m)
    inputs, expected, baked = _same_outputs_after_conversion_and_bake(model, [64])
    assert {type(m) for m in baked[64].modules() if 'Conv' in type(m).__name__} == {ScaledStdConv2d}
    fresh = timm.create_model('nf_resnet50').eval()
    fresh.load_state_dict(baked[64].state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fresh(inputs[64]), expected[64], rtol=1e-4, atol=1e-5)


def test_a_small_dm_nfnet_with_same_padding_keeps_its_outputs_and_bakes_back():
    """dm_nfnet_f0's layer kinds (ScaledStdConv2dSame, SE convs) in timm's small test configuration;
    an odd input size exercises the dynamic 'same' padding."""
    cfg = replace(model_cfgs['test_nfnet'], same_padding=True)
    model = NormFreeNet(cfg, num_classes=10)
    for m in model.modules():
        if isinstance(m, ScaledStdConv2dSame):
            trained_gain(m)
    inputs, expected, baked = _same_outputs_after_conversion_and_bake(model, [48, 45])
    assert ScaledStdConv2dSame in {type(m) for m in baked[45].modules()}
    fresh = NormFreeNet(cfg, num_classes=10).eval()
    fresh.load_state_dict(baked[45].state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fresh(inputs[45]), expected[45], rtol=1e-4, atol=1e-5)
