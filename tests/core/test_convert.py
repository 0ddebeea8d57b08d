"""convert() and bake() on a tiny model and on real timm / mmpretrain backbones; SAN state dicts."""
import copy
import math
import warnings
from collections import OrderedDict

import pytest
import timm
import torch
from torch import nn
from torch.nn import functional as F

from san_plugin.core import (MetaConv2d, PrivateBatchNorm2d, SANMetadataError, ScaleController, ScaleEncoding,
                             add_calibrated_branches, bake, convert, find_controller, get_controller,
                             private_norms, san_resolution, set_mode)

RES = (64, 48, 32)
eps = ScaleEncoding()


def tiny():
    return nn.Sequential(OrderedDict(
        stem=nn.Conv2d(3, 8, 3, stride=2, padding=1), bn=nn.BatchNorm2d(8), act=nn.ReLU(),
        pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=nn.Linear(8, 10)))


def randomize_bn_(norm):
    with torch.no_grad():
        norm.running_mean.uniform_(-0.1, 0.1)
        norm.running_var.uniform_(0.8, 1.2)
        if norm.affine:
            norm.weight.uniform_(0.8, 1.2)
            norm.bias.uniform_(-0.1, 0.1)


def perturb_(model):
    """Makes every resolution different: non-zero W, distinct statistics per BN branch."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, MetaConv2d):
                module.meta.weight.copy_(torch.randn_like(module.meta.weight) * module.meta.bias.std())
            elif isinstance(module, PrivateBatchNorm2d):
                for branch in module.branches.values():
                    randomize_bn_(branch)
    return model


def tiny_san(resolutions=RES, **kwargs):
    model, _ = convert(tiny(), resolutions, **kwargs)
    return perturb_(model).eval()


def image(size, height=None):
    return torch.randn(2, 3, size, height or size)


def reference_forward(model, x, branch, encoding):
    """The tiny SAN computed by hand for a given BN branch and encoding."""
    h = F.conv2d(x, model.stem.meta(encoding), model.stem.bias, stride=2, padding=1)
    h = F.relu(model.bn.branch(branch)(h))
    return model.fc(h.mean((2, 3)))


def san_modules(model):
    return [m for m in model.modules() if isinstance(m, (MetaConv2d, PrivateBatchNorm2d, ScaleController))]


# -- the conversion report, exclude, init ----------------------------------------------------
def test_report_counts_layers_and_parameters():
    model = timm.create_model('resnet18', num_classes=10)
    conv_weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d))
    bn_params = sum(p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    before = sum(p.numel() for p in model.parameters())
    model, report = convert(model, RES)
    assert (report.convs, report.norms, report.kept_shared) == (20, 20, [])
    assert report.params_before == before
    assert report.params_after == before + conv_weights + (len(RES) - 1) * bn_params
    assert report.params_after == sum(p.numel() for p in model.parameters())
    assert '20 convs' in str(report)
    assert sum(isinstance(m, MetaConv2d) for m in model.modules()) == 20
    assert sum(isinstance(m, PrivateBatchNorm2d) for m in model.modules()) == 20
    assert not any(type(m) in (nn.Conv2d, nn.BatchNorm2d) for m in model.modules() if not _in_branch(model, m))
    assert isinstance(model.fc, nn.Linear)


def _in_branch(model, module):
    return any(module is b for norm in private_norms(model) for b in norm.branches.values())


def test_exclude_keeps_matching_layers_shared():
    model, report = convert(timm.create_model('resnet18', num_classes=10), RES, exclude=['conv1', 'bn1'])
    assert type(model.conv1) is nn.Conv2d and type(model.bn1) is nn.BatchNorm2d
    assert isinstance(model.layer1[0].conv1, MetaConv2d) and isinstance(model.layer1[0].bn1, PrivateBatchNorm2d)
    assert (report.convs, report.norms, report.kept_shared) == (19, 19, ['conv1', 'bn1'])
    assert model.san.metadata()['exclude'] == ['conv1', 'bn1']
    model.eval()(image(48))  # a shared stem runs at every resolution


def test_exclude_pattern_covers_a_whole_subtree():
    model, report = convert(timm.create_model('resnet18', num_classes=10), RES, exclude=['layer4'])
    assert report.convs == 20 - 5 and report.kept_shared == ['layer4']
    assert not san_modules(model.layer4)


def test_pretrained_init_keeps_kernels_with_zero_slope():
    original = tiny()
    model, _ = convert(copy.deepcopy(original), RES)
    assert torch.equal(model.stem.meta.bias, original.stem.weight)
    assert torch.equal(model.stem.bias, original.stem.bias)
    assert torch.count_nonzero(model.stem.meta.weight) == 0


def test_scratch_init_draws_kaiming_fan_out_kernels_with_zero_slope():
    net = nn.Sequential(nn.Conv2d(256, 512, 3, bias=True), nn.BatchNorm2d(512))  # PyTorch default init
    default_std = float(net[0].weight.detach().std())
    model, _ = convert(net, RES, init='scratch')
    kernel = model[0].meta.bias.detach()
    target = math.sqrt(2.0 / (512 * 3 * 3))
    assert abs(default_std - target) > 0.3 * target  # the default init is measurably different
    assert float(kernel.std()) == pytest.approx(target, rel=0.03)
    assert abs(float(kernel.mean())) < 0.05 * target
    assert torch.count_nonzero(model[0].meta.weight) == 0
    assert torch.count_nonzero(model[0].bias) == 0


def test_bad_init_is_refused():
    with pytest.raises(ValueError, match='init'):
        convert(tiny(), RES, init='kaiming')


# -- refusals -------------------------------------------------------------------------------
class MyConv(nn.Conv2d):
    pass


@pytest.mark.parametrize('layer', [nn.ConvTranspose2d(8, 8, 2), nn.Conv1d(8, 8, 3), MyConv(8, 8, 3)])
def test_unknown_conv_type_is_refused_naming_path_and_type(layer):
    model = tiny()
    model.head = nn.Sequential(OrderedDict(odd=layer))
    with pytest.raises(TypeError) as info:
        convert(model, RES)
    message = str(info.value)
    assert "'head.odd'" in message and type(layer).__name__ in message
    assert type(model.stem) is nn.Conv2d and not hasattr(model, 'san')  # nothing changed
    model, report = convert(model, RES, exclude=['head.odd'])
    assert model.head.odd is layer and report.kept_shared == ['head.odd']


@pytest.mark.parametrize('resolutions, named', [
    ([], 'empty'), ([64, 64], '[64]'), ([64, 48.0], '48.0'), ([64, 0], '0'), ([64, -8], '-8'), ([True], 'True'),
])
def test_bad_resolutions_are_refused_naming_the_value(resolutions, named):
    model = tiny()
    with pytest.raises(ValueError) as info:
        convert(model, resolutions)
    assert named in str(info.value)
    assert type(model.stem) is nn.Conv2d


def test_converting_twice_is_refused():
    model, _ = convert(tiny(), RES)
    with pytest.raises(ValueError, match='already a SAN'):
        convert(model, RES)
    wrapper = nn.Sequential(model)
    with pytest.raises(ValueError, match='already a SAN'):
        convert(wrapper, RES)


def test_controller_lookup():
    assert find_controller(tiny()) is None
    with pytest.raises(ValueError, match='not a SAN'):
        get_controller(tiny())
    model = tiny_san()
    assert get_controller(nn.Sequential(model)) is model.san


# -- which branch and encoding a forward uses -------------------------------------------------
def test_training_resolutions_run_their_own_branch_and_encoding():
    model = tiny_san()
    outputs = {}
    for size in RES:
        x = image(size)
        outputs[size] = model(x)
        assert (model.san.plan.bn_resolution, model.san.plan.eps) == (size, pytest.approx(eps(size)))
        torch.testing.assert_close(outputs[size], reference_forward(model, x, size, eps(size)))
    x = image(48)
    assert not torch.allclose(model(x), reference_forward(model, x, 64, eps(64)))


@pytest.mark.parametrize('size, nearest', [(56, 64), (40, 48), (52, 48), (36, 32)])
def test_proxy_uses_nearest_training_resolution(size, nearest):
    model = tiny_san()
    x = image(size)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        out = model(x)
    assert (model.san.plan.bn_resolution, model.san.plan.eps) == (nearest, pytest.approx(eps(nearest)))
    torch.testing.assert_close(out, reference_forward(model, x, nearest, eps(nearest)))


def test_ideal_with_calibrated_branch_uses_the_test_size():
    model = tiny_san()
    assert add_calibrated_branches(model, [56, 64]) == [56]
    assert add_calibrated_branches(model, [56]) == []
    assert model.san.calibrated == (56,)
    torch.testing.assert_close(model.bn.branch(56).running_var, model.bn.branch(64).running_var)
    randomize_bn_(model.bn.branch(56))
    x = image(56)
    proxy = model(x)
    set_mode(model, 'ideal')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        ideal = model(x)
    assert (model.san.plan.bn_resolution, model.san.plan.eps) == (56, pytest.approx(eps(56)))
    torch.testing.assert_close(ideal, reference_forward(model, x, 56, eps(56)))
    assert not torch.allclose(ideal, proxy)


def test_ideal_without_calibration_falls_back_to_proxy_and_warns_once():
    model = tiny_san(mode='ideal')
    x = image(40)
    with pytest.warns(UserWarning, match='ideal inference at 40 px') as caught:
        first = model(x)
        second = model(x)
    assert len(caught) == 1
    torch.testing.assert_close(first, reference_forward(model, x, 48, eps(48)))
    torch.testing.assert_close(second, first)


def test_out_of_range_size_warns_once():
    model = tiny_san()
    with pytest.warns(UserWarning, match='80 px is outside') as caught:
        model(image(80))
        model(image(80))
    assert len(caught) == 1
    assert model.san.plan.bn_resolution == 64


def test_training_at_another_resolution_is_an_error_naming_it():
    model = tiny_san().train()
    with pytest.raises(ValueError, match='56 px'):
        model(image(56))


def test_san_resolution_overrides_the_input_size():
    model = tiny_san()
    x = image(40)
    with san_resolution(model, 64):
        out = model(x)
        assert model.san.plan.bn_resolution == 64
        with san_resolution(model, 32):
            model(x)
            assert model.san.plan.bn_resolution == 32
        model(x)
        assert model.san.plan.bn_resolution == 64
    torch.testing.assert_close(out, reference_forward(model, x, 64, eps(64)))
    model(x)
    assert model.san.plan.bn_resolution == 48  # back to reading the input
    model.train()
    with san_resolution(model, 32):  # training at a training resolution whatever the pixels
        model(x)


def test_non_square_input_uses_rounded_sqrt_of_area():
    model = tiny_san()
    x = image(64, 36)  # sqrt(64 * 36) = 48
    out = model(x)
    assert model.san.plan.bn_resolution == 48
    torch.testing.assert_close(out, reference_forward(model, x, 48, eps(48)))


def test_input_without_an_image_is_refused():
    model = tiny_san()
    with pytest.raises(ValueError, match='san_resolution'):
        model(torch.randn(2, 3))


def test_set_mode():
    model = tiny_san()
    set_mode(model, 'ideal')
    assert model.san.mode == 'ideal'
    with pytest.raises(ValueError, match='fast'):
        set_mode(model, 'fast')


# -- state dicts -------------------------------------------------------------------------------
def test_state_dict_round_trip():
    source = tiny_san()
    target, _ = convert(tiny(), RES)
    target.load_state_dict(source.state_dict())
    target.eval()
    for size in (64, 56, 32):
        x = image(size)
        torch.testing.assert_close(target(x), source(x))


@pytest.mark.parametrize('kwargs, field', [
    (dict(resolutions=[64, 32]), 'resolutions'),
    (dict(encoding=ScaleEncoding(factor=0.2)), 'encoding'),
    (dict(meta_hidden=8), 'meta_hidden'),
    (dict(exclude=['stem']), 'exclude'),
])
def test_mismatched_san_metadata_names_the_field(kwargs, field):
    source = tiny_san()
    resolutions = kwargs.pop('resolutions', RES)
    target, _ = convert(tiny(), resolutions, **kwargs)
    with pytest.raises(SANMetadataError, match=f'{field}: checkpoint has'):
        target.load_state_dict(source.state_dict())


def test_plain_state_dict_into_a_san_fails_clearly():
    plain = tiny().state_dict()
    model, _ = convert(tiny(), RES)
    with pytest.raises(SANMetadataError, match=r"no SAN metadata \(no key 'san._extra_state'\)"):
        model.load_state_dict(plain)
    wrapper = nn.Sequential(OrderedDict(backbone=model))
    with pytest.raises(SANMetadataError, match="'backbone.san._extra_state'"):
        wrapper.load_state_dict({f'backbone.{k}': v for k, v in plain.items()})


def test_calibrated_branches_are_restored_on_load():
    source = tiny_san()
    add_calibrated_branches(source, [56])
    randomize_bn_(source.bn.branch(56))
    set_mode(source, 'ideal')
    target, _ = convert(tiny(), RES, mode='ideal')
    target.load_state_dict(source.state_dict())
    target.eval()
    assert target.san.calibrated == (56,)
    torch.testing.assert_close(target.bn.branch(56).running_mean, source.bn.branch(56).running_mean)
    x = image(56)
    torch.testing.assert_close(target(x), source(x))
    assert target.san.plan.bn_resolution == 56


# -- bake ----------------------------------------------------------------------------------------
def test_bake_gives_the_plain_architecture_with_the_sans_outputs():
    model = tiny_san()
    baked = {}
    for size in (64, 48, 32, 56):
        plain = bake(model, size)
        assert not san_modules(plain)
        assert type(plain.stem) is nn.Conv2d and type(plain.bn) is nn.BatchNorm2d
        fresh = tiny()
        fresh.load_state_dict(plain.state_dict())  # strict
        x = image(size)
        torch.testing.assert_close(fresh.eval()(x), model(x), atol=1e-5, rtol=0)
        baked[size] = plain
    x = image(64)
    assert not torch.allclose(baked[64](x), baked[32](x))
    torch.testing.assert_close(baked[56](x), baked[64](x))  # proxy: 56 bakes the 64 model
    assert isinstance(model.stem, MetaConv2d) and model.san.plan.bn_resolution == 64  # the SAN is untouched
    baked[32].train()(image(50))  # no SAN hook left: any size, training mode


def test_bake_follows_ideal_mode_with_calibration():
    model = tiny_san(mode='ideal')
    add_calibrated_branches(model, [56])
    randomize_bn_(model.bn.branch(56))
    plain = bake(model, 56)
    x = image(56)
    torch.testing.assert_close(plain(x), model(x))
    torch.testing.assert_close(plain.stem.weight, model.stem.meta(eps(56)))


# -- copies ----------------------------------------------------------------------------------------
def test_deepcopy_layers_share_the_copys_controller():
    model = tiny_san()
    clone = copy.deepcopy(model)
    assert clone.san is not model.san
    layers = [m for m in clone.modules() if isinstance(m, (MetaConv2d, PrivateBatchNorm2d))]
    assert len(layers) == 2 and all(m.controller is clone.san for m in layers)
    clone(image(32))
    assert (clone.san.plan.bn_resolution, model.san.plan.bn_resolution) == (32, 64)
    set_mode(clone, 'ideal')
    assert model.san.mode == 'proxy'
    calibrated = tiny_san()
    add_calibrated_branches(calibrated, [56])
    clone.load_state_dict(calibrated.state_dict())  # the copy's load hook acts on the copy
    assert clone.san.calibrated == (56,) and '56' in clone.bn.branches
    assert model.san.calibrated == () and '56' not in model.bn.branches


def test_whole_model_save_and_load(tmp_path):
    model = tiny_san()
    path = tmp_path / 'san.pt'
    torch.save(model, path)
    loaded = torch.load(path, weights_only=False)
    assert all(m.controller is loaded.san for m in loaded.modules() if isinstance(m, (MetaConv2d, PrivateBatchNorm2d)))
    for size in (64, 48, 32):
        x = image(size)
        torch.testing.assert_close(loaded(x), model(x))
        assert loaded.san.plan.bn_resolution == size


# -- real backbones ---------------------------------------------------------------------------------
def _timm(arch):
    return lambda: timm.create_model(arch, num_classes=10)


def _mm(name, **kwargs):
    def factory():
        from mmpretrain import models
        model = getattr(models, name)(**kwargs)
        model.init_weights()
        return model
    return factory


BACKBONES = {
    'timm_resnet18': (_timm('resnet18'), (64, 48, 32)),
    'timm_resnet50': (_timm('resnet50'), (48, 40, 32)),
    'timm_mobilenetv2_100': (_timm('mobilenetv2_100'), (64, 48, 32)),
    'timm_efficientnet_b0': (_timm('efficientnet_b0'), (64, 48, 32)),
    'timm_regnety_008': (_timm('regnety_008'), (64, 48, 32)),
    'timm_resnetv2_50x1_bit': (_timm('resnetv2_50x1_bit'), (48, 40, 32)),
    'mmpretrain_resnet18': (_mm('ResNet', depth=18), (64, 48, 32)),
    'mmpretrain_resnet50': (_mm('ResNet', depth=50), (48, 40, 32)),
    'mmpretrain_mobilenetv2': (_mm('MobileNetV2'), (64, 48, 32)),
}


def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _max_diff(a, b):
    return max(float((x - y).abs().max()) for x, y in zip(_outputs(a), _outputs(b), strict=True))


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_backbone_converts_keeps_outputs_and_bakes_back(name):
    factory, resolutions = BACKBONES[name]
    original = factory()
    original.eval()  # not chained: mmpretrain backbones' train() returns None
    for module in original.modules():
        if isinstance(module, nn.BatchNorm2d):
            randomize_bn_(module)
    model, report = convert(copy.deepcopy(original), resolutions, init='pretrained')
    model.eval()
    assert report.convs > 0
    assert not any(type(m) is nn.Conv2d for m in model.modules())
    inputs = {size: image(size) for size in resolutions}
    with torch.no_grad():
        for size, x in inputs.items():
            out = model(x)
            assert all(torch.isfinite(o).all() for o in _outputs(out))
            assert _max_diff(out, original(x)) < 1e-5, size

    perturb_(model)
    with torch.no_grad():
        for size, x in inputs.items():
            plain = bake(model, size)
            fresh = factory()
            fresh.load_state_dict(plain.state_dict(), strict=True)
            fresh.eval()
            assert _max_diff(fresh(x), model(x)) < 1e-5, size
        largest, smallest = resolutions[0], resolutions[-1]  # the resolutions are distinguishable
        assert _max_diff(bake(model, smallest)(inputs[largest]), model(inputs[largest])) > 1e-4


def test_exclude_pattern_matching_no_layer_is_refused_naming_it_and_close_names():
    wrapped = nn.Sequential(OrderedDict(timm_model=timm.create_model('resnet18', num_classes=10)))
    with pytest.raises(ValueError, match=r"exclude pattern 'conv1' matches no layer") as info:
        convert(wrapped, RES, exclude=['conv1'])
    assert "'timm_model.conv1'" in str(info.value)
    assert not hasattr(wrapped, 'san') and type(wrapped.timm_model.conv1) is nn.Conv2d  # nothing changed
    model, report = convert(wrapped, RES, exclude=['timm_model.conv1'])
    assert report.kept_shared == ['timm_model.conv1']
    with pytest.raises(ValueError, match="'stme'.*'stem'"):
        convert(tiny(), RES, exclude=['stme'], convs='shared')
