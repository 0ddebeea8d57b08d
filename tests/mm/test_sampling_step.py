"""SANClassifier with ``san.sampling``: a training step runs the drawn resolutions only."""
from __future__ import annotations

import copy

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import san_plugin.mm  # noqa: F401  (registers the plugin)
from san_plugin.core import PrivateBatchNorm2d, scale_distillation_loss
from san_plugin.core.sampling import ResolutionSampling
from optim_recorders import RecordingOptimWrapper

SIZES = [32, 28, 24, 16]


def build(sampling=None, loss_form='sum', resize_on_device=False) -> torch.nn.Module:
    torch.manual_seed(0)
    san = dict(resolutions=SIZES)
    if sampling is not None:
        san['sampling'] = sampling
    return MODELS.build(dict(
        type='SANClassifier', backbone=dict(type='ResNet', depth=18, base_channels=8, stem_channels=8,
                                            out_indices=(3,)),
        san=san, neck=dict(type='GlobalAveragePooling'),
        head=dict(type='SANClsHead', num_classes=3, in_channels=64, loss_form=loss_form),
        data_preprocessor=dict(type='SANDataPreprocessor', num_classes=3, mean=[0.0] * 3, std=[255.0] * 3,
                               resize_on_device=resize_on_device)))


def batch(n: int = 4, seed: int = 0, largest_only: bool = False) -> dict:
    g = torch.Generator().manual_seed(seed)
    sizes = SIZES[:1] if largest_only else SIZES
    inputs = [[torch.randint(0, 256, (3, s, s), generator=g, dtype=torch.uint8) for s in sizes] for _ in range(n)]
    return {'inputs': inputs, 'data_samples': [DataSample().set_gt_label(i % 3) for i in range(n)]}


def ran(log_vars: dict) -> set[int]:
    return {int(k[len('loss_ce_'):]) for k in log_vars if k.startswith('loss_ce_')}


def in_train_loop(iteration: int):
    hub = MessageHub.get_current_instance()
    hub.update_info('loop_stage', 'train')
    hub.update_info('iter', iteration)


@pytest.fixture(autouse=True)
def outside_a_loop():
    hub = MessageHub.get_current_instance()
    yield
    hub.update_info('loop_stage', None)
    hub.update_info('iter', None)


@pytest.mark.parametrize('resize_on_device', [False, True], ids=['views-from-loader', 'views-on-device'])
def test_sandwich_with_every_middle_resolution_is_the_all_step_bitwise(resize_on_device):
    """num_random = k - 2 draws every resolution: the sampled path must reduce exactly to 'all'."""
    data = batch(largest_only=resize_on_device)
    results = []
    for sampling in (None, dict(type='all'), dict(type='sandwich', num_random=len(SIZES) - 2)):
        model = build(sampling, resize_on_device=resize_on_device)
        wrapper = RecordingOptimWrapper(model)
        log_vars = model.train_step(copy.deepcopy(data), wrapper)
        results.append((log_vars, wrapper.grads, dict(model.named_buffers())))
    for log_vars, grads, buffers in results[1:]:
        assert log_vars.keys() == results[0][0].keys()
        assert all(torch.equal(log_vars[k], results[0][0][k]) for k in log_vars)
        assert grads.keys() == results[0][1].keys()
        assert all(torch.equal(grads[k], results[0][1][k]) for k in grads)
        assert all(torch.equal(buffers[k], results[0][2][k]) for k in buffers)


@pytest.mark.parametrize('loss_form', ['sum', 'mean'])
@pytest.mark.parametrize('resize_on_device', [False, True], ids=['views-from-loader', 'views-on-device'])
def test_a_sandwich_step_runs_the_draw_and_its_gradient_is_the_loss_over_the_drawn_views(loss_form, resize_on_device):
    sampling = ResolutionSampling('sandwich', num_random=1, seed=5)
    model = build(sampling.to_dict(), loss_form=loss_form, resize_on_device=resize_on_device)
    reference = copy.deepcopy(model)
    data = batch(largest_only=resize_on_device)
    in_train_loop(7)
    drawn = sampling.draw(tuple(SIZES), 7)
    assert len(drawn) == 3
    wrapper = RecordingOptimWrapper(model)
    log_vars = model.train_step(copy.deepcopy(data), wrapper)
    assert ran(log_vars) == set(drawn) and wrapper.steps == 1 and wrapper.inner_count == 1

    reference.train()
    processed = reference.data_preprocessor(copy.deepcopy(data), True)
    views = {v.shape[-1]: v for v in processed['inputs']}
    labels = torch.cat([s.gt_label for s in processed['data_samples']])
    logits = [reference(views[s], mode='tensor') for s in drawn]
    ce = sum(torch.nn.functional.cross_entropy(z, labels) for z in logits)
    total = ce + scale_distillation_loss(logits) if loss_form == 'sum' else ce / 3 + scale_distillation_loss(
        logits, reduction='mean')  # 3 CE terms, 3 pairs among the drawn
    total.backward()
    torch.testing.assert_close(log_vars['loss'], total.detach(), rtol=1e-5, atol=1e-5)
    for name, param in reference.named_parameters():
        if param.grad is not None:
            torch.testing.assert_close(wrapper.grads[name], param.grad, rtol=1e-4, atol=1e-5, msg=name)
    skipped = (set(SIZES) - set(drawn)).pop()
    assert not any(f'branches.{skipped}.' in name for name in wrapper.grads)  # its BN got no gradient


def test_a_private_bn_that_did_not_run_keeps_its_statistics():
    sampling = ResolutionSampling('sandwich', num_random=1)
    model = build(sampling.to_dict())
    norms = [m for m in model.modules() if isinstance(m, PrivateBatchNorm2d)]
    before = {s: norms[0].branches[str(s)].running_mean.clone() for s in SIZES}
    in_train_loop(0)
    drawn = sampling.draw(tuple(SIZES), 0)
    model.train_step(batch(), OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1)))
    for s in SIZES:
        same = torch.equal(norms[0].branches[str(s)].running_mean, before[s])
        assert same == (s not in drawn), s


def test_the_draw_follows_the_train_loop_iteration_and_counts_steps_outside_a_loop():
    sampling = ResolutionSampling('sandwich', num_random=1, seed=1)
    draws = [sampling.draw(tuple(SIZES), i) for i in range(12)]
    assert len(set(draws)) > 1
    model = build(sampling.to_dict())
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.0))
    for i in (11, 3, 3, 0):  # whatever order the loop reports (a resume starts in the middle)
        in_train_loop(i)
        assert ran(model.train_step(batch(), wrapper)) == set(draws[i])
    MessageHub.get_current_instance().update_info('loop_stage', None)
    fresh = build(sampling.to_dict())
    outside = [ran(fresh.train_step(batch(), wrapper)) for _ in range(4)]
    assert outside == [set(d) for d in draws[:4]]


def test_accumulation_counts_one_backward_per_iteration_whatever_the_draw():
    model = build(dict(type='sandwich', num_random=1))
    wrapper = RecordingOptimWrapper(model, accumulative_counts=2)
    wrapper.initialize_count_status(model, 0, 4)
    for i in range(4):
        in_train_loop(i)
        model.train_step(batch(seed=i), wrapper)
        assert wrapper.inner_count == i + 1 and wrapper.steps == (i + 1) // 2


def test_a_sandwich_step_trains_under_cpu_amp():
    from san_plugin.mm.engine import CPUAmpOptimWrapper
    model = build(dict(type='sandwich', num_random=2))
    wrapper = CPUAmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    log_vars = model.train_step(batch(), wrapper)
    assert torch.isfinite(log_vars['loss'])
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters())


def test_bad_sampling_is_refused_at_build_naming_the_key():
    with pytest.raises(ValueError, match='model.san.sampling: .*have only 2 between'):
        build(dict(type='sandwich', num_random=3))
    with pytest.raises(ValueError, match="model.san.sampling: sampling type must be one of"):
        build(dict(type='random'))
