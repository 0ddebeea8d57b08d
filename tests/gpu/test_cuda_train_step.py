"""SANClassifier's training step and the on-device views on every device, fp32 and AMP.

AMP is what ``tools/train.py --amp`` selects: mmengine's ``AmpOptimWrapper`` (fp16
autocast, dynamic loss scaling with a ``GradScaler``) on a GPU, ``CPUAmpOptimWrapper``
(bf16 autocast, no scaling) on the CPU. Only registered names and public classes are used.
"""
from __future__ import annotations

import copy
import math

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS, OPTIM_WRAPPERS
from mmpretrain.structures import DataSample
from torch.nn import functional as F

import san_plugin.mm  # noqa: F401  (registers SANClassifier & co.)
from gpu_helpers import device, exact_convolutions  # noqa: F401  (fixtures)
from gpu_helpers import autocast_dtype
from san_plugin.core import MetaConv2d

RESOLUTIONS = [32, 24]
MEAN, STD = [127.5] * 3, [64.0] * 3


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def tiny_classifier(device: str, channels_last: bool = False, **preprocessor) -> torch.nn.Module:
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='SANClassifier',
        backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8, out_indices=(3, )),
        san=dict(resolutions=RESOLUTIONS, init='scratch'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='SANClsHead', num_classes=3, in_channels=64, resolutions=RESOLUTIONS),
        data_preprocessor=dict(type='SANDataPreprocessor', num_classes=3, mean=MEAN, std=STD, **preprocessor),
        channels_last=channels_last))
    model.init_weights()
    return model.to(device).train()


def batch(n: int = 4, seed: int = 1) -> dict:
    """A loader batch on the host (uint8 views, largest first), as ``default_collate`` gives it."""
    gen = torch.Generator().manual_seed(seed)
    views = [torch.randint(0, 256, (n, 3, s, s), generator=gen, dtype=torch.uint8) for s in RESOLUTIONS]
    return {'inputs': views, 'data_samples': [DataSample().set_gt_label(i % 3) for i in range(n)]}


def sgd(model: torch.nn.Module) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def amp_wrapper(model: torch.nn.Module, device: str, **kwargs) -> OptimWrapper:
    """The wrapper ``--amp`` builds on this device (see ``san_plugin.mm.engine.amp.use_amp``)."""
    if device == 'cuda':
        kwargs.setdefault('loss_scale', 'dynamic')
        return OPTIM_WRAPPERS.build(dict(type='AmpOptimWrapper', optimizer=sgd(model), **kwargs))
    return OPTIM_WRAPPERS.build(dict(type='CPUAmpOptimWrapper', optimizer=sgd(model)))


def step_with_gradients(model, wrapper: OptimWrapper, data: dict) -> tuple[dict, dict[str, torch.Tensor]]:
    """One train step; returns its log values and the (unscaled) gradients the optimizer stepped with."""
    grads: dict[str, torch.Tensor] = {}
    optimizer_step = wrapper.optimizer.step

    def record(*args, **kwargs):
        grads.update({n: p.grad.detach().float().clone() for n, p in model.named_parameters() if p.grad is not None})
        return optimizer_step(*args, **kwargs)

    wrapper.optimizer.step = record
    try:
        return model.train_step(data, wrapper), grads
    finally:
        wrapper.optimizer.step = optimizer_step


def test_fp32_train_step(device):
    model = tiny_classifier(device)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    wrapper = OptimWrapper(optimizer=sgd(model))
    for seed in range(2):
        log = model.train_step(batch(seed=seed), wrapper)
        assert {f'loss_ce_{s}' for s in RESOLUTIONS} | {'loss', 'loss_sd'} <= set(log)
        assert all(v.device.type == 'cpu' and v.dim() == 0 and math.isfinite(v.item()) for v in log.values())
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert changed and all(p.device.type == device for p in model.parameters())


def test_amp_train_step_runs_low_precision_convs_and_follows_fp32(device):
    model = tiny_classifier(device)
    reference = copy.deepcopy(model)
    conv_dtypes: set[torch.dtype] = set()
    hooks = [m.register_forward_hook(lambda mod, args, out: conv_dtypes.add(out.dtype))
             for m in model.modules() if isinstance(m, MetaConv2d)]
    # a static scale: a dynamic one starting at 2**16 may skip this single step for inf gradients
    log, grads = step_with_gradients(model, amp_wrapper(model, device, loss_scale=512.0), batch())
    for hook in hooks:
        hook.remove()
    assert conv_dtypes == {autocast_dtype(device)}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert math.isfinite(log['loss'].item())

    ref_log, ref_grads = step_with_gradients(reference, OptimWrapper(optimizer=sgd(reference)), batch())
    assert grads.keys() == ref_grads.keys()
    flat = torch.cat([grads[k].flatten() for k in ref_grads])
    ref_flat = torch.cat([ref_grads[k].flatten() for k in ref_grads])
    assert torch.isfinite(flat).all()
    assert torch.cosine_similarity(flat, ref_flat, dim=0) > 0.98
    assert log['loss'].item() == pytest.approx(ref_log['loss'].item(), rel=0.05)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU (mmengine AmpOptimWrapper, fp16)')
def test_dynamic_loss_scale_on_cuda():
    """fp16 with a dynamic GradScaler: the scale starts at 2**16, stays a finite power of two, losses finite."""
    model = tiny_classifier('cuda')
    wrapper = amp_wrapper(model, 'cuda')
    scales = [wrapper.loss_scaler.get_scale()]
    for seed in range(4):
        log = model.train_step(batch(seed=seed), wrapper)
        assert math.isfinite(log['loss'].item())
        scales.append(wrapper.loss_scaler.get_scale())
    assert scales[0] == 2.0 ** 16
    assert all(0 < s <= 2.0 ** 16 and math.log2(s).is_integer() for s in scales), scales
    assert wrapper.inner_count == 4


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU (mmengine AmpOptimWrapper, fp16)')
def test_every_resolution_goes_through_the_loss_scaler_on_cuda():
    """The update with a static scale of 1024 equals that with scale 1: every resolution's backward was
    scaled and the step unscaled once (a resolution backpropagated around the scaler would enter the
    step 1024 times too small)."""
    deltas = []
    for scale in (1.0, 1024.0):
        model = tiny_classifier('cuda')
        before = torch.cat([p.detach().flatten() for p in model.parameters()])
        model.train_step(batch(), amp_wrapper(model, 'cuda', loss_scale=scale))
        deltas.append(torch.cat([p.detach().flatten() for p in model.parameters()]) - before)
    assert deltas[0].norm() > 0
    assert (deltas[1] - deltas[0]).norm() / deltas[0].norm() < 1e-2


def test_channels_last_step_equals_the_contiguous_one(device, exact_convolutions):
    contiguous = tiny_classifier(device)
    channels_last = tiny_classifier(device, channels_last=True)
    conv = next(m for m in channels_last.modules() if isinstance(m, MetaConv2d))
    assert conv.meta.bias.is_contiguous(memory_format=torch.channels_last)
    logs = [model.train_step(batch(), OptimWrapper(optimizer=sgd(model))) for model in (contiguous, channels_last)]
    for key in logs[0]:
        assert logs[1][key].item() == pytest.approx(logs[0][key].item(), rel=1e-4, abs=1e-5), key
    for (name, p), q in zip(contiguous.named_parameters(), channels_last.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5, msg=name)


def test_views_made_on_the_device(device):
    """``resize_on_device``: one uint8 view crosses to the device, the smaller ones are made there
    (antialiased bicubic), float32 and normalised, equal to the host's views up to the uint8 rounding."""
    pre = MODELS.build(dict(type='SANDataPreprocessor', num_classes=3, mean=MEAN, std=STD, to_rgb=True,
                            resize_on_device=True, resolutions=RESOLUTIONS)).to(device)
    ramp = torch.linspace(0, 255, 32)
    smooth = (ramp[None, :, None] * 0.5 + ramp[None, None, :] * 0.5).expand(3, 32, 32)  # no overshoot to clamp
    largest = torch.stack([smooth * (0.6 + 0.1 * i) for i in range(4)]).round().to(torch.uint8)
    samples = [DataSample().set_gt_label(i % 3) for i in range(4)]
    out = pre({'inputs': [largest], 'data_samples': samples}, True)['inputs']
    assert [tuple(v.shape) for v in out] == [(4, 3, 32, 32), (4, 3, 24, 24)]
    assert all(v.device.type == device and v.dtype == torch.float32 for v in out)
    normalised = (largest.flip(1).float() - MEAN[0]) / STD[0]
    torch.testing.assert_close(out[0].cpu(), normalised)
    expected = F.interpolate(normalised, size=(24, 24), mode='bicubic', antialias=True, align_corners=False)
    torch.testing.assert_close(out[1].cpu(), expected, rtol=0, atol=1.5 / STD[0])  # the CPU rounds twice (uint8 passes)
