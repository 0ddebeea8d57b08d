"""Tests for san_plugin.mm.engine.amp: bf16 autocast training through mmengine's OptimWrapper."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import OPTIM_WRAPPERS
from mmpretrain.structures import DataSample

import san_plugin.mm  # noqa: F401  (registers SANClassifier & co.)
from san_plugin.core.meta_conv import MetaConv2d
from san_plugin.mm.classifier import SANClassifier
from san_plugin.mm.engine.amp import CPUAmpOptimWrapper, use_amp

RESOLUTIONS = [32, 24]
ROOT = Path(__file__).resolve().parents[3]


def tiny_san() -> SANClassifier:
    model = SANClassifier(
        backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8, out_indices=(3, )),
        san=dict(resolutions=RESOLUTIONS, init='scratch'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='SANClsHead', num_classes=3, in_channels=64, resolutions=RESOLUTIONS),
        data_preprocessor=dict(type='SANDataPreprocessor', num_classes=3, mean=[127.5] * 3, std=[64.0] * 3))
    model.init_weights()
    return model


def tiny_batch(n: int = 4) -> dict:
    gen = torch.Generator().manual_seed(1)
    views = [torch.randint(0, 256, (n, 3, s, s), generator=gen, dtype=torch.uint8) for s in RESOLUTIONS]
    samples = [DataSample().set_gt_label(i % 3) for i in range(n)]
    return {'inputs': views, 'data_samples': samples}


def recorded_step(model: SANClassifier, wrapper: OptimWrapper) -> tuple[dict, dict[str, torch.Tensor]]:
    """One train step; returns its log vars and the gradients seen by the optimizer step."""
    grads: dict[str, torch.Tensor] = {}
    step = wrapper.step

    def record_then_step(**kwargs) -> None:
        grads.update({n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None})
        step(**kwargs)

    wrapper.step = record_then_step
    return model.train_step(tiny_batch(), wrapper), grads


def sgd(model: torch.nn.Module) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def test_train_step_runs_convs_in_bf16_and_keeps_fp32_params():
    model = tiny_san()
    reference = copy.deepcopy(model)
    conv_dtypes: list[torch.dtype] = []
    meta_convs = [m for m in model.modules() if isinstance(m, MetaConv2d)]
    assert meta_convs
    handles = [m.register_forward_hook(lambda mod, args, out: conv_dtypes.append(out.dtype)) for m in meta_convs]
    log_vars, grads = recorded_step(model, CPUAmpOptimWrapper(optimizer=sgd(model)))
    for handle in handles:
        handle.remove()
    assert conv_dtypes and set(conv_dtypes) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(g.dtype == torch.float32 for g in grads.values())
    assert torch.isfinite(log_vars['loss']).all()
    assert {f'loss_ce_{s}' for s in RESOLUTIONS} <= set(log_vars)

    ref_vars, ref_grads = recorded_step(reference, OptimWrapper(optimizer=sgd(reference)))
    assert grads.keys() == ref_grads.keys()
    flat = torch.cat([grads[k].flatten() for k in ref_grads])
    ref_flat = torch.cat([ref_grads[k].flatten() for k in ref_grads])
    assert torch.cosine_similarity(flat, ref_flat, dim=0) > 0.98
    assert (flat - ref_flat).norm() / ref_flat.norm() < 0.2
    assert log_vars['loss'].item() == pytest.approx(ref_vars['loss'].item(), rel=0.05)


def test_context_leaves_autocast_off_outside():
    model = tiny_san()
    wrapper = CPUAmpOptimWrapper(optimizer=sgd(model))
    with wrapper.optim_context(model):
        assert torch.is_autocast_enabled('cpu')
        assert torch.get_autocast_dtype('cpu') == torch.bfloat16
    assert not torch.is_autocast_enabled('cpu')


def test_refuses_fp16():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match='bfloat16'):
        CPUAmpOptimWrapper(dtype='float16', optimizer=sgd(model))


def test_registry_finds_it_from_mmpretrain_scope():
    assert OPTIM_WRAPPERS.get('CPUAmpOptimWrapper') is CPUAmpOptimWrapper
    init_default_scope('mmpretrain')
    model = torch.nn.Linear(2, 2)
    wrapper = build_optim_wrapper(model, dict(type='CPUAmpOptimWrapper', optimizer=dict(type='SGD', lr=0.1)))
    assert isinstance(wrapper, CPUAmpOptimWrapper)


def test_train_amp_flag_selects_it_without_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = Config.fromfile(str(ROOT / 'configs' / 'demo' / 'san_resnet18_demo.py'))
    use_amp(cfg)
    assert cfg.optim_wrapper.type == 'CPUAmpOptimWrapper'
    init_default_scope('mmpretrain')
    wrapper = build_optim_wrapper(torch.nn.Linear(2, 2), cfg.optim_wrapper)
    assert isinstance(wrapper, CPUAmpOptimWrapper)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_autocasts_on_the_models_gpu():
    model = tiny_san().cuda()
    wrapper = CPUAmpOptimWrapper(optimizer=sgd(model))
    with wrapper.optim_context(model):
        assert torch.is_autocast_enabled('cuda')
        assert torch.get_autocast_dtype('cuda') == torch.bfloat16


def test_amp_optim_wrapper_loss_scaling_covers_every_resolution(monkeypatch):
    """mmengine's AmpOptimWrapper (GPU only) with a CPU GradScaler: every resolution's backward
    goes through the scaler and the step unscales once, so the update is bitwise that of
    CPUAmpOptimWrapper (same bf16 autocast, no scaling): a resolution backpropagated around
    the scaler would enter the step 1024 times too small."""
    import mmengine.optim.optimizer.amp_optimizer_wrapper as amp_module
    monkeypatch.setattr(amp_module, 'is_cuda_available', lambda: True)  # its constructor insists on a GPU
    model = tiny_san()
    reference = copy.deepcopy(model)
    clip = dict(max_norm=1e6)  # unscale_ then clip, as with a real config
    scaled = amp_module.AmpOptimWrapper(optimizer=sgd(model), loss_scale=1024., clip_grad=dict(clip))
    scaled.loss_scaler = torch.amp.GradScaler('cpu', init_scale=1024.)
    plain = CPUAmpOptimWrapper(optimizer=sgd(reference), clip_grad=dict(clip))
    for _ in range(2):
        model.train_step(tiny_batch(), scaled)
        reference.train_step(tiny_batch(), plain)
    assert scaled.inner_count == plain.inner_count == 2
    for (name, param), ref in zip(model.named_parameters(), reference.parameters()):
        assert torch.equal(param, ref), name
