"""Loss-scale helpers: kernel kinds, gradient norms per kind, the Hessian's top eigenvalue."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from san_plugin.core import convert
from san_plugin.diagnostics.loss_scale import gradient_norms, kernel_kind, kernel_parameter_kinds, top_hessian_eigenvalue
from tiny_models import depthwise_cnn


def test_kernel_kinds_of_plain_and_converted_convs():
    plain = depthwise_cnn()
    assert [kernel_kind(m) for m in plain if isinstance(m, nn.Conv2d)] == ['dense', 'depthwise', '1x1']
    assert kernel_parameter_kinds(plain) == {'0.weight': 'dense', '3.weight': 'depthwise', '6.weight': '1x1'}
    san, _ = convert(depthwise_cnn(), [32, 16], init='scratch')
    kinds = kernel_parameter_kinds(san)
    assert kinds['3.meta.bias'] == 'depthwise' and kinds['3.meta.weight'] == 'depthwise meta learner'
    assert kinds['6.meta.bias'] == '1x1' and '0.bias' not in kinds  # a conv's own bias is no kernel


def test_gradient_norms_group_by_kind():
    grads = {'a': torch.tensor([3.0]), 'b': torch.tensor([4.0]), 'c': torch.tensor([1.0, 1.0]), 'd': torch.ones(3)}
    assert gradient_norms(grads, {'a': 'x', 'b': 'x', 'c': 'y'}) == pytest.approx({'x': 5.0, 'y': 2 ** 0.5})


def test_power_iteration_finds_the_explicit_hessians_top_eigenvalue():
    torch.manual_seed(0)
    features, labels = torch.randn(32, 6), torch.randint(0, 4, (32,))
    weight = (0.3 * torch.randn(4, 6)).requires_grad_()

    def loss():
        return nn.functional.cross_entropy(features @ weight.t(), labels)

    hessian = torch.autograd.functional.hessian(lambda w: nn.functional.cross_entropy(features @ w.t(), labels),
                                                weight.detach()).reshape(24, 24)
    expected = torch.linalg.eigvalsh(hessian).abs().max()
    assert top_hessian_eigenvalue(loss, [weight], iterations=500, tolerance=1e-9) == pytest.approx(float(expected),
                                                                                                    rel=1e-3)
