"""san_* models in timm's registry, and timm's norm-act layers inside a SAN."""
import copy

import pytest
import timm
import torch
from timm.layers import BatchNormAct2d, SyncBatchNormAct, convert_sync_batchnorm
from torch import nn

import san_plugin  # noqa: F401  (registers the san_* models)
from san_plugin.core import MetaConv2d, PrivateBatchNorm2d, ScaleController, ScaleEncoding, convert, private_norms
from san_plugin.timm import SUPPORTED_ARCHS
from san_plugin.timm import models as san_timm
from tiny_models import randomize_bn_

ARCHS = {'resnet18', 'resnet50', 'mobilenetv2_100', 'efficientnet_b0', 'regnety_008', 'resnetv2_50x1_bit'}


def test_registry_lists_every_supported_arch():
    assert set(SUPPORTED_ARCHS) == ARCHS
    assert {f'san_{arch}' for arch in ARCHS} <= set(timm.list_models('san_*'))


def test_create_model_returns_a_san():
    model = timm.create_model('san_resnet18', resolutions=[32, 64], num_classes=10)
    assert isinstance(model.san, ScaleController)
    assert model.san.resolutions == (64, 32)
    assert isinstance(model.conv1, MetaConv2d) and isinstance(model.bn1, PrivateBatchNorm2d)
    model.eval()
    for size in (64, 32):
        assert model(torch.randn(2, 3, size, size)).shape == (2, 10)
        assert model.san.plan.bn_resolution == size


def test_create_model_passes_the_san_options():
    exclude = ('conv1', 'layer3', 'layer4')  # keeps the MLP meta learners small
    model = timm.create_model('san_resnet18', resolutions=[64, 32], num_classes=10, meta_hidden=8,
                              exclude=list(exclude), mode='ideal')
    assert (model.san.meta_hidden, model.san.mode, model.san.exclude) == (8, 'ideal', exclude)
    assert type(model.conv1) is nn.Conv2d and type(model.layer4[0].conv1) is nn.Conv2d
    assert model.layer1[0].conv1.meta.hidden.out_features == 8



def test_create_model_takes_the_encoding_and_shared_convs():
    model = timm.create_model('san_resnet18', resolutions=[64, 32], num_classes=10, encoding='standardized',
                              convs='shared')
    assert (model.san.encoding, model.san.convs) == (ScaleEncoding.standardized([64, 32]), 'shared')
    assert not any(isinstance(m, MetaConv2d) for m in model.modules())
    assert isinstance(model.bn1, PrivateBatchNorm2d) and model.fc.out_features == 10
    with pytest.raises(ValueError, match=r"convs must be one of \('meta', 'shared'\), got 'both'"):
        timm.create_model('san_resnet18', convs='both')

def _same_seed_plain_and_san(**san_kwargs):
    torch.manual_seed(1)
    plain = timm.create_model('resnet18', num_classes=10)
    torch.manual_seed(1)
    san = san_timm.create_san_model('resnet18', resolutions=[64, 32], num_classes=10, **san_kwargs)
    return plain, san


def test_default_init_keeps_timms_own_init_and_scratch_redraws_it():
    """One default for every glue, SANSpec's init: keep the host's weights (here timm's init)."""
    plain, san = _same_seed_plain_and_san()
    assert torch.equal(san.layer4[0].conv1.meta.bias, plain.layer4[0].conv1.weight)
    assert all(torch.count_nonzero(m.meta.weight) == 0 for m in san.modules() if isinstance(m, MetaConv2d))
    plain, san = _same_seed_plain_and_san(init='scratch')  # an explicit init wins
    assert not torch.equal(san.layer4[0].conv1.meta.bias, plain.layer4[0].conv1.weight)  # re-drawn
    big = san.layer4[1].conv2.meta.bias.detach()  # 512 x 512 x 3 x 3
    assert float(big.std()) == pytest.approx((2.0 / (512 * 9)) ** 0.5, rel=0.05)
    assert all(torch.count_nonzero(m.meta.weight) == 0 for m in san.modules() if isinstance(m, MetaConv2d))


def test_pretrained_weights_default_to_pretrained_init(monkeypatch):
    """pretrained=True keeps the loaded kernels (timm's download is replaced by a plain build)."""
    real_create = timm.create_model
    fake_timm = type('FakeTimm', (), {'create_model': staticmethod(
        lambda arch, pretrained=False, **kwargs: real_create(arch, **kwargs))})
    monkeypatch.setattr(san_timm, 'timm', fake_timm)
    plain, san = _same_seed_plain_and_san(pretrained=True)
    assert torch.equal(san.layer4[0].conv1.meta.bias, plain.layer4[0].conv1.weight)


def test_batchnorm_act_branches_keep_their_class_and_activation():
    model = timm.create_model('mobilenetv2_100', num_classes=10)
    original = [m for m in model.modules() if isinstance(m, BatchNormAct2d)]
    acts = [type(m.act) for m in original]
    for norm in original:
        randomize_bn_(norm)
    reference = copy.deepcopy(model).eval()
    model, _ = convert(model, [64, 32])
    model.eval()
    norms = list(private_norms(model))
    assert len(norms) == len(original)
    for norm, act in zip(norms, acts):
        for branch in norm.branches.values():
            assert type(branch) is BatchNormAct2d and type(branch.act) is act
    assert any(act is not nn.Identity for act in acts)
    for size in (64, 32):
        x = torch.randn(2, 3, size, size)
        torch.testing.assert_close(model(x), reference(x), atol=1e-5, rtol=0)


def test_timm_sync_batchnorm_conversion_keeps_activations():
    model, _ = convert(timm.create_model('efficientnet_b0', num_classes=10), [64, 32])
    for norm in private_norms(model):
        for branch in norm.branches.values():
            randomize_bn_(branch)
    model.eval()
    reference = copy.deepcopy(model)
    synced = convert_sync_batchnorm(model)
    for norm, ref in zip(private_norms(synced), private_norms(reference)):
        for key, branch in norm.branches.items():
            assert type(branch) is SyncBatchNormAct
            assert type(branch.act) is type(ref.branches[key].act)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(synced(x), reference(x), atol=1e-5, rtol=0)
