"""MetaConv2d saves the recipe of its generated kernel for the backward, not the kernel."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

import san_plugin.core.meta_conv as meta_conv
from san_plugin.core import MetaConv2d, san_resolution
from tiny_models import grouped_cnn, tiny_san


def small_san(meta_hidden: int | None = None) -> nn.Module:
    return tiny_san((16, 8), grouped_cnn, w_std=0.05, bn=False, meta_hidden=meta_hidden)


def grads(net: nn.Module, x: torch.Tensor, run=lambda net, x: net(x)) -> dict[str, torch.Tensor]:
    net.zero_grad(set_to_none=True)
    run(net, x).square().sum().backward()
    return {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}


@pytest.fixture
def without_recipe(monkeypatch):
    def disable():
        monkeypatch.setattr(meta_conv, '_may_install_saved_tensor_hooks', lambda: False)
    return disable


def test_gradients_are_bitwise_those_of_saving_the_kernel(without_recipe):
    net, x = small_san(), torch.randn(2, 3, 16, 16)
    with_recipe = grads(net, x)
    without_recipe()
    plain = grads(net, x)
    assert with_recipe.keys() == plain.keys() and all(torch.equal(with_recipe[k], plain[k]) for k in plain)


def test_the_kernel_itself_is_not_saved(monkeypatch):
    packed = []
    real = meta_conv._regenerating_hooks

    def spy(meta, eps, kernel):
        pack, unpack = real(meta, eps, kernel)
        return (lambda t: packed.append(pack(t)) or packed[-1]), unpack

    monkeypatch.setattr(meta_conv, '_regenerating_hooks', spy)
    small_san()(torch.randn(2, 3, 16, 16)).sum().backward()
    assert any(isinstance(p, meta_conv._KernelRecipe) for p in packed)


def test_activation_checkpointing_and_double_backward(without_recipe):
    net, x = small_san(), torch.randn(2, 3, 16, 16)
    reference = grads(net, x)
    checkpointed = grads(net, x, lambda net, x: checkpoint(net, x, use_reentrant=False))
    assert all(torch.allclose(reference[k], checkpointed[k], atol=1e-6) for k in reference)

    conv = next(m for m in net.modules() if isinstance(m, MetaConv2d))
    xi = torch.randn(1, 3, 16, 16, requires_grad=True)

    def second_order():
        conv.meta.zero_grad(set_to_none=True)
        with san_resolution(net, 16):
            gx, = torch.autograd.grad(conv(xi).square().sum(), xi, create_graph=True)
        gx.square().sum().backward()
        return conv.meta.weight.grad.clone()

    regenerated = second_order()
    without_recipe()
    assert torch.allclose(regenerated, second_order())


def test_inplace_change_between_forward_and_backward_raises():
    net = small_san()
    conv = next(m for m in net.modules() if isinstance(m, MetaConv2d))
    with san_resolution(net, 16):
        y = conv(torch.randn(1, 3, 16, 16)).square().sum()
    with torch.no_grad():
        conv.meta.bias.add_(1)
    with pytest.raises(RuntimeError, match='modified by an inplace operation'):
        y.backward()


def test_the_controller_switch_keeps_the_kernel_with_equal_gradients(monkeypatch):
    net, x = small_san(), torch.randn(2, 3, 16, 16)
    regenerated = grads(net, x)
    calls = []
    real = meta_conv._regenerating_hooks
    monkeypatch.setattr(meta_conv, '_regenerating_hooks', lambda *a: calls.append(1) or real(*a))
    net.san.regenerate_kernels = False
    kept = grads(net, x)
    assert calls == []  # no recipe hooks: autograd saved the kernels themselves
    assert regenerated.keys() == kept.keys() and all(torch.equal(regenerated[k], kept[k]) for k in kept)
    net.san.regenerate_kernels = True
    grads(net, x)
    assert len(calls) == 2  # one per MetaConv2d forward


def autocast_grads(net: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    def run(net, x):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            return net(x).float()
    return grads(net, x, run)


@pytest.mark.parametrize('meta_hidden', [None, 4])
def test_under_autocast_the_low_precision_kernel_is_regenerated_bitwise(monkeypatch, meta_hidden):
    net = small_san(meta_hidden)
    kernel_shapes = {tuple(m.kernel().shape) for m in net.modules() if isinstance(m, MetaConv2d)}
    x = torch.randn(2, 3, 16, 16)
    packed, unpacked = [], []
    real = meta_conv._regenerating_hooks

    def spy(meta, eps, kernel):
        pack, unpack = real(meta, eps, kernel)

        def spy_unpack(saved):
            result = unpack(saved)
            if isinstance(saved, meta_conv._KernelRecipe):
                unpacked.append(result.dtype)
            return result
        return (lambda t: packed.append(pack(t)) or packed[-1]), spy_unpack

    monkeypatch.setattr(meta_conv, '_regenerating_hooks', spy)
    regenerated = autocast_grads(net, x)
    recipes = [p for p in packed if isinstance(p, meta_conv._KernelRecipe)]
    assert len(recipes) == 2  # one per MetaConv2d forward
    assert unpacked == [torch.bfloat16] * 2  # the backward saw autocast's dtype, regenerated
    # nothing kernel-shaped stays saved: no fp32 kernel, no bf16 copy of it
    assert not [p for p in packed if isinstance(p, torch.Tensor) and tuple(p.shape) in kernel_shapes]

    net.san.regenerate_kernels = False
    kept = autocast_grads(net, x)
    assert regenerated.keys() == kept.keys() and all(torch.equal(regenerated[k], kept[k]) for k in kept)
