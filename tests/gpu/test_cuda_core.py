"""The core layers on every device: MetaConv2d, PrivateBatchNorm2d, convert/bake, BN calibration.

Each test runs on the CPU and, where a GPU is present, on CUDA (the ``device`` fixture of
``gpu_helpers``). Only the public API of ``san_plugin.core`` is used.
"""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from gpu_helpers import device, exact_convolutions  # noqa: F401  (fixtures)
from gpu_helpers import autocast_dtype, tiny_cnn, tiny_san, tolerance
from san_plugin.core import (MetaConv2d, PrivateBatchNorm2d, ScaleEncoding, bake, calibrate_bn, convert,
                             get_controller, san_resolution)

RESOLUTIONS = (16, 8)


def meta_convs(net: nn.Module) -> list[MetaConv2d]:
    return [m for m in net.modules() if isinstance(m, MetaConv2d)]


# -- MetaConv2d ---------------------------------------------------------------------------
@pytest.mark.parametrize('train', [False, True])
def test_pretrained_conversion_reproduces_the_plain_network(device, exact_convolutions, train):
    """W = 0, B = the layer's kernel: the SAN computes the original network at every resolution."""
    plain = tiny_cnn().to(device).train(train)
    san, _ = convert(copy.deepcopy(plain), list(RESOLUTIONS), init='pretrained')
    san.train(train)
    for size in RESOLUTIONS:
        x = torch.randn(4, 3, size, size, device=device)
        torch.testing.assert_close(san(x), plain(x), **tolerance(device))


def test_meta_conv_gradients(device):
    """dL/dW = eps(S) dL/dB for the affine meta learner; the shared conv bias gets its gradient."""
    net, _ = convert(nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, bias=True)), list(RESOLUTIONS), init='scratch')
    net.to(device)
    conv = meta_convs(net)[0]
    for size in RESOLUTIONS:
        net.zero_grad(set_to_none=True)
        net(torch.randn(2, 4, size, size, device=device)).square().sum().backward()
        assert conv.meta.bias.grad.device.type == device
        assert torch.count_nonzero(conv.meta.bias.grad) > 0 and torch.count_nonzero(conv.bias.grad) > 0
        torch.testing.assert_close(conv.meta.weight.grad, ScaleEncoding()(size) * conv.meta.bias.grad)


def test_eval_kernel_cache_follows_the_parameters(device):
    """In eval mode without autograd the kernel is generated once per encoding, and again after an update."""
    net = tiny_san(RESOLUTIONS).to(device).eval()
    conv = meta_convs(net)[0]
    x = torch.randn(2, 3, 16, 16, device=device)
    with torch.no_grad(), san_resolution(net, 16):
        first = conv.kernel()
        assert conv.kernel() is first and first.device.type == device
        expected = conv.meta.bias + ScaleEncoding()(16) * conv.meta.weight
        torch.testing.assert_close(first, expected)
        cached_output = net(x)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    net.train()
    net(torch.randn(2, 3, 16, 16, device=device)).square().sum().backward()
    optimizer.step()  # bumps the parameter versions: the cache must not serve the old kernel
    net.eval()
    with torch.no_grad(), san_resolution(net, 16):
        updated = conv.kernel()
        torch.testing.assert_close(updated, conv.meta.bias + ScaleEncoding()(16) * conv.meta.weight)
        assert not torch.equal(updated, first)
        assert not torch.equal(net(x), cached_output)
    with torch.enable_grad():  # with autograd the kernel is generated in the graph, not cached
        torch.testing.assert_close(net(x).detach(), net(x).detach())


def _autocast_gradients(net: nn.Module, x: torch.Tensor, device: str, regenerate: bool) -> dict[str, torch.Tensor]:
    get_controller(net).regenerate_kernels = regenerate
    net.zero_grad(set_to_none=True)
    with torch.autocast(device, dtype=autocast_dtype(device)):
        out = net(x)
    out.float().square().sum().backward()
    return {name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None}


def test_regenerated_kernels_under_autocast_give_bitwise_the_same_gradients(device, exact_convolutions,
                                                                           monkeypatch):
    """fp16 autocast on CUDA, bf16 on the CPU: the low-precision kernel copy is regenerated, not saved."""
    net = tiny_san(RESOLUTIONS).to(device).train()
    x = torch.randn(4, 3, 16, 16, device=device)
    entered = []
    real_hooks = torch.autograd.graph.saved_tensors_hooks

    def spy(pack, unpack):
        entered.append(1)
        return real_hooks(pack, unpack)

    monkeypatch.setattr(torch.autograd.graph, 'saved_tensors_hooks', spy)
    regenerated = _autocast_gradients(net, x, device, regenerate=True)
    assert len(entered) == len(meta_convs(net))  # every generated conv saved its kernel as a recipe
    entered.clear()
    kept = _autocast_gradients(net, x, device, regenerate=False)
    assert not entered
    assert regenerated.keys() == kept.keys() and len(kept) > 0
    for name in kept:
        assert regenerated[name].dtype == torch.float32
        assert torch.equal(regenerated[name], kept[name]), name


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU (measures CUDA memory)')
@pytest.mark.parametrize('dtype', [None, torch.float16])
def test_regenerating_kernels_frees_the_kernel_copy_on_cuda(dtype):
    """After the forward, autograd holds no generated kernel (under fp16 autocast: no fp16 copy)."""
    torch.manual_seed(0)
    layers = [nn.Conv2d(256, 256, 3, padding=1, bias=False) for _ in range(4)]
    net, _ = convert(nn.Sequential(*layers), [8, 4], init='scratch')
    net.cuda().train()
    x = torch.randn(1, 256, 8, 8, device='cuda')
    kernel_bytes = sum(m.meta.bias.numel() for m in meta_convs(net)) * (2 if dtype else 4)

    def held_after_forward(regenerate: bool) -> int:
        get_controller(net).regenerate_kernels = regenerate
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        with torch.autocast('cuda', dtype=dtype or torch.float16, enabled=dtype is not None):
            out = net(x)
        torch.cuda.synchronize()
        held = torch.cuda.memory_allocated() - before
        out.float().sum().backward()
        del out
        net.zero_grad(set_to_none=True)
        return held

    held_after_forward(True)  # warm-up (allocator, cuDNN handles)
    saved = held_after_forward(False) - held_after_forward(True)
    assert saved >= 0.9 * kernel_bytes, (saved, kernel_bytes)


# -- PrivateBatchNorm2d -------------------------------------------------------------------
def test_private_batch_norm_uses_and_updates_one_branch(device):
    net = tiny_san(RESOLUTIONS).to(device).train()
    norm = next(m for m in net.modules() if isinstance(m, PrivateBatchNorm2d))
    before = {r: copy.deepcopy(norm.branch(r)) for r in RESOLUTIONS}
    features = torch.randn(4, norm.branch(16).num_features, 6, 6, device=device)
    with san_resolution(net, 16):
        out = norm(features)
    torch.testing.assert_close(out, before[16](features))  # the same BN, the same batch statistics
    torch.testing.assert_close(norm.branch(16).running_mean, before[16].running_mean)  # both updated alike
    assert not torch.equal(norm.branch(16).running_mean, torch.zeros_like(before[16].running_mean))
    for name, buffer in norm.branch(8).named_buffers():
        assert torch.equal(buffer, dict(before[8].named_buffers())[name]), name  # the other branch untouched
    net.eval()
    with torch.no_grad(), san_resolution(net, 8):
        torch.testing.assert_close(norm(features), before[8].eval()(features))


# -- convert / bake -----------------------------------------------------------------------
def test_bake_gives_the_plain_network_with_the_same_outputs(device, exact_convolutions):
    san = tiny_san(RESOLUTIONS).to(device)
    x = torch.randn(4, 3, 16, 16, device=device)
    san.train()
    san(x)  # running statistics that differ per branch
    san(F.interpolate(x, size=(8, 8)))
    san.eval()
    for size in RESOLUTIONS:
        plain = bake(san, size)
        assert not meta_convs(plain) and not any(isinstance(m, PrivateBatchNorm2d) for m in plain.modules())
        assert all(p.device.type == device for p in plain.parameters())
        view = F.interpolate(x, size=(size, size), mode='bilinear', antialias=True)
        with torch.no_grad():
            torch.testing.assert_close(plain(view), san(view), **tolerance(device))
        original = tiny_cnn().to(device)
        original.load_state_dict(plain.state_dict())  # the baked weights fit the unconverted architecture


# -- BN calibration -----------------------------------------------------------------------
def test_calibrate_bn_gives_the_exact_moments(device, exact_convolutions):
    """The first BN's calibrated branch at T holds the mean and unbiased variance of conv1(x) with eps(T)."""
    net = tiny_san(RESOLUTIONS).to(device)
    batches = [torch.randn(4, 3, 12, 12) for _ in range(3)]  # on the CPU: calibrate_bn moves them
    reference = copy.deepcopy(net).cpu() if device == 'cuda' else None
    assert calibrate_bn(net, batches, [12]) == {12: 12}
    conv = meta_convs(net)[0]
    norm = next(m for m in net.modules() if isinstance(m, PrivateBatchNorm2d))
    with torch.no_grad():
        kernel = conv.meta.bias + ScaleEncoding()(12) * conv.meta.weight
        out = torch.cat([F.conv2d(b.to(device), kernel, conv.bias, padding=1) for b in batches]).double()
    values = out.transpose(0, 1).reshape(out.shape[1], -1)
    torch.testing.assert_close(norm.branch(12).running_mean.double(), values.mean(1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(norm.branch(12).running_var.double(), values.var(1, unbiased=True),
                               rtol=1e-4, atol=1e-5)
    if reference is not None:  # every layer's statistics as the CPU computes them
        calibrate_bn(reference, batches, [12])
        for (name, buffer), (_, ref) in zip(net.named_buffers(), reference.named_buffers()):
            if buffer.is_floating_point():
                torch.testing.assert_close(buffer.cpu(), ref, rtol=1e-3, atol=1e-4, msg=name)
    assert math.isfinite(float(norm.branch(12).running_var.sum()))
