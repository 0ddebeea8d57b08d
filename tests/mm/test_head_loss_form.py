"""SANClsHead(loss_form=...): the summed and normalised losses, their gradient scale, and the
divergence warning of a run whose rate is far too high for its loss."""
from __future__ import annotations

import warnings

import pytest
import torch
from mmengine.config import DictAction

from san_plugin.diagnostics.divergence import SANDivergenceWarning
from san_plugin.mm.cli.config import load_config
from san_plugin.mm.runner import build_runner
from demo_options import tiny_cfg_options
from test_classifier import RESOLUTIONS, RecordingOptimWrapper, batch, build

DEMO = 'configs/demo/san_resnet18_demo.py'


def shared_gradient_norm(grads: dict[str, torch.Tensor]) -> float:
    """Norm of the gradient on the parameters every resolution shares (kernels B and W, the FC)."""
    shared = [g for n, g in grads.items() if 'meta.' in n or n.startswith('head.fc')]
    return float(torch.cat([g.flatten() for g in shared]).norm())


def test_mean_form_divides_ce_by_k_and_distillation_by_the_pairs():
    summed, mean = build(loss_form='sum'), build(loss_form='mean')
    logs_sum = summed.train_step(batch(), RecordingOptimWrapper(summed))
    logs_mean = mean.train_step(batch(), RecordingOptimWrapper(mean))
    k = len(RESOLUTIONS)
    for s in RESOLUTIONS:
        assert torch.allclose(logs_mean[f'loss_ce_{s}'], logs_sum[f'loss_ce_{s}'] / k, rtol=1e-5)
    assert torch.allclose(logs_mean['loss_sd'], logs_sum['loss_sd'] / (k * (k - 1) // 2), rtol=1e-4)
    with pytest.raises(ValueError, match="loss_form.*'avg'"):
        build(loss_form='avg')


def colour_cue_batch(n: int) -> dict:
    """Views of images whose class is a colour cue (what the network can learn, as on real images)."""
    data = batch(n)
    for views, sample in zip(data['inputs'], data['data_samples']):
        for view in views:
            view //= 3
            view[int(sample.gt_label) % 3] += 150
    return data


def test_mean_form_has_a_single_models_gradient_scale_at_initialisation():
    """The gradient on the shared parameters at init: the summed loss's grows with k, the mean form's
    is the sum's / k (distillation is ~0 at init) and no larger than 1.5x a model trained at one
    resolution. (How close to 1x depends on how well the resolutions' gradients align: on Imagenette
    see benchmarks/results/loss_scale.md; on this 8-channel net and 16-32 px noise they align less.)"""
    norms = {}
    for form in ('sum', 'mean'):
        model = build(loss_form=form)
        wrapper = RecordingOptimWrapper(model)
        model.train_step(colour_cue_batch(12), wrapper)
        norms[form] = shared_gradient_norm(wrapper.grads)
    single = build()  # the same weights; CE at the largest resolution only
    single.train()
    data = single.data_preprocessor(colour_cue_batch(12), True)
    labels = torch.cat([s.gt_label for s in data['data_samples']])
    torch.nn.functional.cross_entropy(single(data['inputs'][0], mode='tensor'), labels).backward()
    norms['single'] = shared_gradient_norm({n: p.grad for n, p in single.named_parameters() if p.grad is not None})
    k = len(RESOLUTIONS)
    assert norms['mean'] == pytest.approx(norms['sum'] / k, rel=0.02), norms
    assert norms['mean'] / norms['single'] <= 1.5 < norms['sum'] / norms['single'], norms


def test_a_run_that_diverges_in_the_warm_up_says_so_once(tiny_dataset, tmp_path):
    parsed = {}  # KEY=VALUE parsed as the tools' --cfg-options are
    for item in tiny_cfg_options(tiny_dataset):
        key, value = item.split('=', 1)
        parsed[key] = DictAction._parse_iterable(value)
    cfg = load_config(DEMO, parsed, str(tmp_path / 'work'))
    cfg.train_cfg = dict(by_epoch=True, max_epochs=8, val_interval=100)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.optim_wrapper = dict(optimizer=dict(type='SGD', lr=500.0, momentum=0.9))
    # the whole run is warm-up: 16 iterations from lr 5 to 500
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=8,
                                convert_to_iter_based=True)]
    runner = build_runner(cfg)  # SANRunner, as the tools build it (it derives the pipelines' sizes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            runner.train()
        except FloatingPointError:
            pass  # a loss that became NaN later stops the run; the warning came first
    assert not [w for w in caught if w.category is SANDivergenceWarning]  # not printed a second time on stderr
    [log] = (tmp_path / 'work').rglob('*.log')
    assert log.read_text().count('SAN training is diverging') == 1  # the log line: console and log file
    message = log.read_text().split('SAN training is diverging')[1].splitlines()[0]
    iteration = int(message.split('at iteration ')[1].split(',')[0])
    assert iteration < 16, message  # inside the warm-up
    assert "loss_form 'sum'" in message and 'learning rate' in message and ' px is ' in message
