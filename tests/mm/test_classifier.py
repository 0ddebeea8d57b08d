"""SANClassifier: conversion by config flag, the per-resolution train step, prediction."""
from __future__ import annotations

import contextlib
import copy

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import san_plugin.mm  # noqa: F401  (registers the plugin)
from san_plugin.core import MetaConv2d, PrivateBatchNorm2d, get_controller, scale_distillation_loss
from san_plugin.mm import NonFiniteLossError, SANClassifier
from optim_recorders import RecordingOptimWrapper

RESOLUTIONS = [32, 24, 16]


DEFAULT = object()


def build(backbone: dict | None = None, in_channels: int = 64, san=DEFAULT, channels_last=False,
          **head) -> SANClassifier:
    torch.manual_seed(0)
    backbone = backbone or dict(type='ResNet', depth=18, base_channels=8, stem_channels=8, out_indices=(3,))
    san = dict(resolutions=RESOLUTIONS) if san is DEFAULT else san
    return MODELS.build(dict(
        type='SANClassifier', backbone=backbone, san=san, neck=dict(type='GlobalAveragePooling'),
        head=dict(type='SANClsHead', num_classes=3, in_channels=in_channels, resolutions=RESOLUTIONS, **head),
        data_preprocessor=dict(type='SANDataPreprocessor', num_classes=3, mean=[0.0] * 3, std=[255.0] * 3),
        channels_last=channels_last))


def batch(n: int = 4, seed: int = 0) -> dict:
    """A pseudo-collated multi-view batch: one list of views (largest first) per sample."""
    g = torch.Generator().manual_seed(seed)
    inputs = [[torch.randint(0, 256, (3, s, s), generator=g, dtype=torch.uint8) for s in RESOLUTIONS]
              for _ in range(n)]
    samples = [DataSample().set_gt_label(i % 3) for i in range(n)]
    return {'inputs': inputs, 'data_samples': samples}


@pytest.mark.parametrize('backbone,in_channels', [
    (dict(type='ResNet', depth=18, base_channels=8, stem_channels=8, out_indices=(3,)), 64),
    (dict(type='MobileNetV2', widen_factor=0.25), 1280),
    (dict(type='TIMMBackbone', model_name='resnet18', pretrained=False), 512),
])
def test_config_flag_converts_mm_and_timm_backbones(backbone, in_channels):
    model = build(backbone, in_channels)
    assert model.is_san and model.resolutions == tuple(RESOLUTIONS)
    assert not any(type(m) is torch.nn.Conv2d for m in model.backbone.modules())
    assert any(isinstance(m, MetaConv2d) for m in model.backbone.modules())
    assert any(isinstance(m, PrivateBatchNorm2d) for m in model.backbone.modules())
    model.init_weights()  # mmengine's init must leave converted layers alone
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 24, 24), mode='tensor')
    assert logits.shape == (2, 3)


def test_init_weights_keeps_converted_weights():
    model = build()
    before = copy.deepcopy(model.backbone.state_dict())
    model.init_weights()
    after = model.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if isinstance(before[k], torch.Tensor))


def test_san_none_builds_plain_backbone():
    model = build(san=None)
    assert not model.is_san
    assert any(type(m) is torch.nn.Conv2d for m in model.backbone.modules())


def test_regenerate_kernels_option_reaches_the_controller_and_keeps_the_step():
    regenerating, keeping = build(), build(san=dict(resolutions=RESOLUTIONS, regenerate_kernels=False))
    assert get_controller(regenerating.backbone).regenerate_kernels is True
    assert get_controller(keeping.backbone).regenerate_kernels is False
    wrappers = [RecordingOptimWrapper(m) for m in (regenerating, keeping)]
    for model, wrapper in zip((regenerating, keeping), wrappers):
        model.train_step(batch(), wrapper)
    a, b = (w.grads for w in wrappers)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_head_and_backbone_resolutions_must_agree():
    with pytest.raises(ValueError, match=r'model.san.resolutions = \[64, 32\] but model.head.resolutions = '
                                         r'\[32, 24, 16\]'):
        build(san=dict(resolutions=[64, 32]))


def test_unknown_san_option_and_wrong_head_are_refused():
    with pytest.raises(ValueError, match='unknown san option'):
        build(san=dict(resolutions=RESOLUTIONS, resolution=3))
    with pytest.raises(TypeError, match='SANClsHead'):
        MODELS.build(dict(type='SANClassifier', backbone=dict(type='ResNet', depth=18),
                          head=dict(type='LinearClsHead', num_classes=3, in_channels=512)))


def test_sequential_backward_equals_summed_loss_backward():
    model = build()
    reference = copy.deepcopy(model)
    data = batch()
    wrapper = RecordingOptimWrapper(model)
    log_vars = model.train_step(copy.deepcopy(data), wrapper)
    assert wrapper.steps == 1 and wrapper._inner_count == 1  # one update per iteration
    assert set(log_vars) == {'loss', 'loss_ce_32', 'loss_ce_24', 'loss_ce_16', 'loss_sd'}

    reference.train()
    processed = reference.data_preprocessor(copy.deepcopy(data), True)
    labels = torch.cat([s.gt_label for s in processed['data_samples']])
    logits = [reference(x, mode='tensor') for x in processed['inputs']]
    total = sum(torch.nn.functional.cross_entropy(z, labels) for z in logits) + scale_distillation_loss(logits)
    total.backward()
    assert torch.allclose(log_vars['loss'], total.detach(), atol=1e-5)
    for name, param in reference.named_parameters():
        if param.grad is not None:
            assert torch.allclose(wrapper.grads[name], param.grad, atol=1e-5, rtol=1e-4), name
    buffers = dict(model.named_buffers())
    for name, buffer in reference.named_buffers():
        assert torch.allclose(buffers[name].float(), buffer.float(), atol=1e-6), name


def test_train_step_updates_parameters_once():
    model = build()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.train_step(batch(), wrapper)
    changed = [n for n, p in model.named_parameters() if not torch.equal(before[n], p)]
    assert any('meta.bias' in n for n in changed) and any('head.fc' in n for n in changed)
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())  # zeroed after the step


def test_non_finite_loss_stops_with_the_resolution_and_no_update():
    model = build()
    with torch.no_grad():
        model.head.fc.weight.fill_(float('nan'))
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with pytest.raises(NonFiniteLossError, match='32 px'):
        model.train_step(batch(), wrapper)
    for name, param in model.named_parameters():
        assert torch.equal(before[name], param) or torch.isnan(before[name]).any(), name


def test_predict_runs_at_the_input_resolution_and_per_view():
    model = build().eval()
    controller = get_controller(model.backbone)
    with torch.no_grad():
        single = model(torch.randn(2, 3, 20, 20), mode='predict')
        assert controller.plan.bn_resolution == 24  # 20 px -> nearest training resolution (tie goes larger)
        views = [torch.randn(2, 3, s, s) for s in RESOLUTIONS]
        multi = model(views, mode='predict')
    assert single[0].pred_score.shape == (3,)
    scores = multi[0].resolution_scores
    assert sorted(scores) == sorted(RESOLUTIONS)
    assert torch.allclose(multi[0].pred_score, scores[32])
    assert torch.allclose(sum(scores[16]), torch.tensor(1.0))


@pytest.mark.parametrize('private', ['bias', 'fc'])
def test_private_head_ablation_uses_the_resolution(private):
    model = build(private=private).eval()
    with torch.no_grad():
        for p in model.head.parameters():
            p.normal_()
        feats = (torch.randn(2, 64),)
        assert not torch.allclose(model.head(feats, 32), model.head(feats, 16))


@pytest.mark.parametrize('san', [DEFAULT, None], ids=['san', 'plain'])
def test_channels_last_gives_the_nchw_outputs_and_gradients(san):
    nchw, nhwc = build(san=san), build(san=san, channels_last=True)  # the same initial weights
    kernels = [p for n, p in nhwc.named_parameters() if p.dim() == 4]
    assert kernels and all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels)
    if nhwc.is_san:  # the meta learners' W and B are kernel-shaped: generated kernels come out NHWC
        assert any('meta.weight' in n for n, p in nhwc.named_parameters() if p.dim() == 4)
        conv = next(m for m in nhwc.backbone.modules() if isinstance(m, MetaConv2d))
        assert conv.kernel().is_contiguous(memory_format=torch.channels_last)
    seen = []
    nhwc.backbone.register_forward_pre_hook(
        lambda module, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)))

    # The train step in float64: in float32 the NHWC convolutions' other summation order changes
    # gradients by up to 9e-5 of a tensor's largest value here (BN over 4 images at 1x1 maps
    # amplifies rounding); in float64 both runs agree to 1e-13: the same maths.
    wrappers = []
    for model in (nchw, nhwc):
        model.double()
        wrappers.append(RecordingOptimWrapper(model))

    def float64(model):
        return lambda inputs, *args, **kwargs: model(inputs.double(), *args, **kwargs)

    logs = [m.train_step(batch(), w, forward=float64(m)) for m, w in zip((nchw, nhwc), wrappers)]
    assert seen == [True] * len(RESOLUTIONS)  # every resolution's batch went in channels-last
    torch.testing.assert_close(logs[1]['loss'], logs[0]['loss'], rtol=1e-10, atol=1e-10)
    grads, nhwc_grads = wrappers[0].grads, wrappers[1].grads
    assert grads.keys() == nhwc_grads.keys()
    for name, grad in grads.items():
        assert grad.dim() != 4 or nhwc_grads[name].is_contiguous(memory_format=torch.channels_last), name
        torch.testing.assert_close(nhwc_grads[name], grad, rtol=1e-9, atol=1e-10, msg=name)
    for model in (nchw, nhwc):
        model.float()

    seen.clear()
    views = [torch.randn(2, 3, s, s) for s in RESOLUTIONS]
    for model in (nchw, nhwc):
        model.eval()
    with torch.no_grad():
        for mode in ('tensor', 'predict'):
            for inputs in (views[1], views):
                if mode == 'tensor' and isinstance(inputs, list):
                    continue
                out = [m(inputs, mode=mode) for m in (nchw, nhwc)]
                if mode == 'tensor':
                    torch.testing.assert_close(out[1], out[0], rtol=1e-5, atol=1e-5)
                else:
                    for a, b in zip(*out):
                        torch.testing.assert_close(b.pred_score, a.pred_score, rtol=1e-5, atol=1e-5)
    assert seen and all(seen)


def test_channels_last_must_be_a_bool():
    with pytest.raises(TypeError, match="channels_last must be True or False, got 'yes'"):
        build(channels_last='yes')


def test_train_step_reads_the_device_once(monkeypatch):
    """The finite-loss check keeps every resolution's loss on the device: one host read per
    step, which also brings the log values (host tensors: logging them reads no device)."""
    model = build()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    reads = []
    for name in ('item', 'tolist', '__bool__', '__float__', '__int__', '__index__', 'numpy'):
        real = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name,
                            lambda self, *a, _real=real, _name=name, **k: reads.append(_name) or _real(self, *a, **k))
    log_vars = model.train_step(batch(), wrapper)
    assert reads == ['tolist']
    assert all(v.device.type == 'cpu' and v.dim() == 0 and not v.requires_grad for v in log_vars.values())


def test_non_finite_losses_are_all_named_and_nothing_is_updated():
    model = build()
    branch = model.backbone.bn1.branches['24']  # the stem BN of 24 px only: 24 px, and 16 px learning from it
    with torch.no_grad():
        branch.weight.fill_(float('nan'))
    wrapper = RecordingOptimWrapper(model)
    with pytest.raises(NonFiniteLossError) as error:
        model.train_step(batch(), wrapper)
    assert str(error.value).startswith('the training loss at resolution 24 px is nan, at resolution 16 px is nan; '
                                       'the step was not applied (')
    assert [(rank, s) for rank, s, _ in error.value.losses] == [(0, 24), (0, 16)]
    assert wrapper.steps == 0
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())


class SyncRecorder(torch.nn.Module):
    """Stands in for DDP: runs the model, records whether each forward ran under no_sync()."""

    def __init__(self, model):
        super().__init__()
        self.model, self.synced, self._sync = model, [], True

    def forward(self, *args, **kwargs):
        self.synced.append(self._sync)
        return self.model(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        self._sync = False
        try:
            yield
        finally:
            self._sync = True


def test_accumulation_syncs_once_per_update_and_steps_with_the_mean_gradient():
    model = build()
    data = [batch(seed=1), batch(seed=2)]
    singles = []
    for one in data:  # each batch's gradient alone, at the same weights (lr 0: nothing moves)
        wrapper = RecordingOptimWrapper(model)
        model.train_step(copy.deepcopy(one), wrapper)
        singles.append(wrapper.grads)

    wrapper = RecordingOptimWrapper(model, accumulative_counts=2)
    wrapper.initialize_count_status(model, 0, 4)
    recorder = SyncRecorder(model)
    model.train_step(copy.deepcopy(data[0]), wrapper, forward=recorder)
    assert wrapper.steps == 0 and wrapper.inner_count == 1
    model.train_step(copy.deepcopy(data[1]), wrapper, forward=recorder)
    assert wrapper.steps == 1 and wrapper.inner_count == 2
    # 2 iterations x 3 resolutions: only the last resolution of the last iteration all-reduces
    assert recorder.synced == [False] * 5 + [True]
    for name, grad in wrapper.grads.items():  # the update used the mean of the two gradients
        torch.testing.assert_close(grad, (singles[0][name] + singles[1][name]) / 2, rtol=1e-5, atol=1e-6, msg=name)
