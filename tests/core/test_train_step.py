"""san_backward: one SAN training step's backward passes for a custom loop (timm users)."""
from __future__ import annotations

import copy

import pytest
import torch
from torch.nn import functional as F

import san_plugin  # noqa: F401  (registers san_* timm models)
from san_plugin import ResolutionSampling, san_backward, scale_distillation_loss

SIZES = [32, 28, 24, 16]


def tiny_timm_san():
    timm = pytest.importorskip('timm')
    torch.manual_seed(0)
    return timm.create_model('san_resnet18', resolutions=SIZES, num_classes=3, init='scratch').train()


def data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(4, 3, 40, 40, generator=g), torch.tensor([0, 1, 2, 0])


def reference_gradients(model, images, targets, sizes, loss_form):
    views = [F.interpolate(images, size=(s, s), mode='bicubic', antialias=True, align_corners=False) for s in sizes]
    logits = [model(v) for v in views]
    ce = sum(F.cross_entropy(z, targets) for z in logits)
    if loss_form == 'sum':
        total = ce + scale_distillation_loss(logits)
    else:
        total = ce / len(sizes) + scale_distillation_loss(logits, reduction='mean')
    total.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize('loss_form', ['sum', 'mean'])
@pytest.mark.parametrize('sampling', [None, dict(type='sandwich', num_random=1)], ids=['all', 'sandwich'])
def test_the_gradients_equal_the_summed_loss_over_the_resolutions_that_ran(sampling, loss_form):
    model = tiny_timm_san()
    reference = copy.deepcopy(model)
    images, targets = data()
    losses = san_backward(model, images, targets, iteration=5, sampling=sampling, loss_form=loss_form)
    sizes = ResolutionSampling.from_config(sampling).draw(tuple(SIZES), 5)
    assert list(losses) == list(sizes) and len(sizes) == (4 if sampling is None else 3)
    expected = reference_gradients(reference, images, targets, sizes, loss_form)
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert grads.keys() == expected.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected[name], rtol=1e-4, atol=1e-5, msg=name)


def test_a_custom_loop_trains_and_the_largest_only_distillation_is_available():
    model = tiny_timm_san()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    before = [p.detach().clone() for p in model.parameters()]
    for iteration in range(2):
        images, targets = data(iteration)
        losses = san_backward(model, images, targets, iteration=iteration, distill_mode='largest',
                              sampling=ResolutionSampling('sandwich', 0))
        assert list(losses) == [32, 16] and all(torch.isfinite(v) for v in losses.values())
        optimizer.step()
        optimizer.zero_grad()
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
