"""The affine and MLP meta learners."""
import pytest
import torch

from san_plugin.core import AffineKernelGenerator, MLPKernelGenerator
from san_plugin.core.meta_learner import build_kernel_generator

SHAPE = (4, 3, 3, 3)


def test_affine_generates_eps_times_weight_plus_bias():
    bias, weight = torch.randn(SHAPE), torch.randn(SHAPE)
    gen = AffineKernelGenerator(bias, weight)
    torch.testing.assert_close(gen(0.3), 0.3 * weight + bias)
    torch.testing.assert_close(gen(0.0), bias)


def test_affine_starts_at_zero_weight_and_owns_copies():
    bias = torch.randn(SHAPE)
    gen = AffineKernelGenerator(bias)
    assert torch.count_nonzero(gen.weight) == 0
    assert torch.equal(gen(0.7), bias)
    bias.zero_()
    assert torch.count_nonzero(gen.bias) > 0  # not a view of the caller's tensor


def test_affine_gradient_of_weight_is_eps_times_gradient_of_bias():
    gen = AffineKernelGenerator(torch.randn(SHAPE), torch.randn(SHAPE))
    (gen(0.15) * torch.randn(SHAPE)).sum().backward()
    assert torch.count_nonzero(gen.bias.grad) > 0
    torch.testing.assert_close(gen.weight.grad, 0.15 * gen.bias.grad)


def test_mlp_starts_at_the_given_kernel_at_every_encoding():
    bias = torch.randn(SHAPE)
    gen = MLPKernelGenerator(bias, hidden=8)
    assert gen.hidden.out_features == 8
    for eps in (0.1, 0.15, 0.2, 0.7):
        assert gen(eps).shape == SHAPE
        torch.testing.assert_close(gen(eps), bias)


def test_mlp_learns_a_resolution_dependence():
    gen = MLPKernelGenerator(torch.randn(SHAPE), hidden=8)
    optimizer = torch.optim.SGD(gen.parameters(), lr=0.1)
    target = torch.randn(SHAPE)
    (gen(0.2) * target).sum().backward()
    assert torch.count_nonzero(gen.out.weight.grad) > 0
    assert torch.count_nonzero(gen.out.bias.grad) > 0
    assert gen.hidden.weight.grad is not None  # zero until the output layer is non-zero
    optimizer.step()
    optimizer.zero_grad()
    (gen(0.2) * target).sum().backward()
    assert torch.count_nonzero(gen.hidden.weight.grad) > 0
    assert not torch.allclose(gen(0.1), gen(0.2))


@pytest.mark.parametrize('hidden', [0, -4, True, 2.5, None])
def test_mlp_hidden_width_must_be_positive_int(hidden):
    with pytest.raises(ValueError, match='meta_hidden'):
        MLPKernelGenerator(torch.randn(SHAPE), hidden=hidden)


def test_build_picks_affine_for_none_and_mlp_for_a_width():
    kernel = torch.randn(SHAPE)
    assert isinstance(build_kernel_generator(kernel, None), AffineKernelGenerator)
    mlp = build_kernel_generator(kernel, 16)
    assert isinstance(mlp, MLPKernelGenerator) and mlp.hidden.out_features == 16
