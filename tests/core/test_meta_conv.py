"""MetaConv2d: generated kernels, the original layer's semantics, gradients, the eval cache."""
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from san_plugin.core import MetaConv2d, ScaleController, ScaleEncoding
from san_plugin.core.conv_kinds import kernel_op_for

RES = (64, 48, 32)

CONV_CASES = {
    'plain': dict(in_channels=4, out_channels=6, kernel_size=3, padding=1, bias=False),
    'bias': dict(in_channels=4, out_channels=6, kernel_size=3, padding=1, bias=True),
    'stride': dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1),
    'dilation': dict(in_channels=4, out_channels=6, kernel_size=3, dilation=2, padding=2),
    'groups': dict(in_channels=4, out_channels=6, kernel_size=3, groups=2, padding=1),
    'depthwise': dict(in_channels=4, out_channels=4, kernel_size=3, groups=4, padding=1, bias=False),
    'non_square': dict(in_channels=4, out_channels=6, kernel_size=(3, 1), padding=(1, 0), stride=(2, 1)),
    'pointwise': dict(in_channels=4, out_channels=6, kernel_size=1),
    'same': dict(in_channels=4, out_channels=6, kernel_size=5, padding='same'),
    'reflect': dict(in_channels=4, out_channels=6, kernel_size=3, padding=1, padding_mode='reflect'),
    'circular': dict(in_channels=4, out_channels=6, kernel_size=3, padding=2, padding_mode='circular'),
}


def meta_conv(conv, resolutions=RES, meta_hidden=None):
    ctrl = ScaleController(resolutions)
    return MetaConv2d(conv, ctrl, kernel_op_for(nn.Conv2d), meta_hidden), ctrl


@pytest.mark.parametrize('meta_hidden', [None, 8])
@pytest.mark.parametrize('case', sorted(CONV_CASES))
def test_starts_equal_to_the_plain_conv(case, meta_hidden):
    conv = nn.Conv2d(**CONV_CASES[case])
    meta, ctrl = meta_conv(conv, meta_hidden=meta_hidden)
    for size in RES:
        ctrl.activate(size)
        x = torch.randn(2, 4, size, size - 3)
        torch.testing.assert_close(meta(x), conv(x))
    assert (meta.stride, meta.padding, meta.dilation, meta.groups) == (
        conv.stride, conv.padding, conv.dilation, conv.groups)


@pytest.mark.parametrize('case', ['bias', 'groups', 'reflect', 'non_square'])
def test_kernel_follows_the_active_encoding(case):
    conv = nn.Conv2d(**CONV_CASES[case])
    meta, ctrl = meta_conv(conv)
    with torch.no_grad():
        meta.meta.weight.normal_()
    x = torch.randn(2, 4, 20, 20)
    outputs = []
    for size in RES:
        ctrl.activate(size)
        expected_kernel = conv.weight + ScaleEncoding()(size) * meta.meta.weight
        torch.testing.assert_close(meta.kernel(), expected_kernel)
        torch.testing.assert_close(meta(x), conv._conv_forward(x, expected_kernel, conv.bias))
        outputs.append(meta(x))
    assert not torch.allclose(outputs[0], outputs[-1])


def test_gradients_reach_weight_bias_and_conv_bias():
    meta, ctrl = meta_conv(nn.Conv2d(**CONV_CASES['bias']))
    ctrl.activate(48)
    meta(torch.randn(2, 4, 12, 12)).square().sum().backward()
    grad_b, grad_w = meta.meta.bias.grad, meta.meta.weight.grad
    assert torch.count_nonzero(grad_b) > 0
    torch.testing.assert_close(grad_w, ScaleEncoding()(48) * grad_b)
    assert torch.count_nonzero(meta.bias.grad) > 0


def test_mlp_meta_learner_gets_gradients():
    meta, ctrl = meta_conv(nn.Conv2d(**CONV_CASES['plain']), meta_hidden=8)
    ctrl.activate(32)
    meta(torch.randn(2, 4, 12, 12)).square().sum().backward()
    assert torch.count_nonzero(meta.meta.out.weight.grad) > 0
    assert torch.count_nonzero(meta.meta.out.bias.grad) > 0


def test_parameters_are_the_meta_learner_and_the_shared_bias():
    meta, _ = meta_conv(nn.Conv2d(**CONV_CASES['bias']))
    assert sorted(meta.state_dict()) == ['bias', 'meta.bias', 'meta.weight']
    meta, _ = meta_conv(nn.Conv2d(**CONV_CASES['plain']))
    assert sorted(meta.state_dict()) == ['meta.bias', 'meta.weight']
    assert meta.bias is None


def test_to_host_is_the_original_class_with_the_generated_kernel():
    conv = nn.Conv2d(**CONV_CASES['reflect'])
    meta, _ = meta_conv(conv)
    with torch.no_grad():
        meta.meta.weight.normal_()
    host = meta.to_host(0.15)
    assert type(host) is nn.Conv2d and host.padding_mode == 'reflect'
    torch.testing.assert_close(host.weight, conv.weight + 0.15 * meta.meta.weight)
    torch.testing.assert_close(host.bias, conv.bias)
    x = torch.randn(2, 4, 10, 10)
    torch.testing.assert_close(host(x), conv._conv_forward(x, host.weight, conv.bias))


# -- the eval kernel cache --------------------------------------------------------------
def cached_conv():
    meta, ctrl = meta_conv(nn.Conv2d(**CONV_CASES['bias']))
    with torch.no_grad():
        meta.meta.weight.normal_()
    ctrl.activate(48)
    return meta.eval(), ctrl


def fresh_kernel(meta, ctrl):
    return meta.meta.bias.detach() + ctrl.plan.eps * meta.meta.weight.detach()


def test_eval_without_grad_caches_the_kernel():
    meta, ctrl = cached_conv()
    with torch.no_grad():
        first = meta.kernel()
        assert meta.kernel() is first
        ctrl.activate(32)
        other = meta.kernel()
    assert other is not first
    torch.testing.assert_close(other, fresh_kernel(meta, ctrl))


def test_eval_keeps_one_kernel_per_encoding():
    """A multi-view validation or a sweep switches resolutions every call: each kernel is
    generated once, and the kept kernels go with a parameter change, ``train()`` and ``.to()``."""
    meta, ctrl = cached_conv()
    with torch.no_grad():
        kernels = {}
        for size in RES:
            ctrl.activate(size)
            kernels[size] = meta.kernel()
        for size in RES:
            ctrl.activate(size)
            assert meta.kernel() is kernels[size]
            torch.testing.assert_close(kernels[size], fresh_kernel(meta, ctrl))
        assert len(meta._eval_kernels) == len(RES)
        meta.meta.weight.add_(1.0)  # a parameter change
        assert meta.kernel() is not kernels[RES[-1]] and len(meta._eval_kernels) == 1
        torch.testing.assert_close(meta.kernel(), fresh_kernel(meta, ctrl))
    for drop in (lambda m: m.train(False), lambda m: m.to(torch.float32),
                 lambda m: m.load_state_dict(m.state_dict())):
        with torch.no_grad():
            meta.kernel()
        drop(meta)
        assert meta._eval_kernels == {}


def test_no_cache_in_training_or_with_grad():
    meta, _ = cached_conv()
    kernel = meta.kernel()
    assert kernel.requires_grad and meta.kernel() is not kernel  # eval, grad enabled
    meta.train()
    with torch.no_grad():
        assert meta.kernel() is not meta.kernel()


def test_cache_is_not_stale_after_optimizer_step():
    meta, ctrl = cached_conv()
    optimizer = torch.optim.SGD(meta.parameters(), lr=0.5)
    with torch.no_grad():
        before = meta.kernel()
    meta(torch.randn(2, 4, 8, 8)).sum().backward()
    optimizer.step()
    with torch.no_grad():
        after = meta.kernel()
    assert not torch.allclose(after, before)
    torch.testing.assert_close(after, fresh_kernel(meta, ctrl))


def test_cache_is_not_stale_after_load_state_dict():
    meta, ctrl = cached_conv()
    other, _ = cached_conv()
    with torch.no_grad():
        meta.kernel()
    meta.load_state_dict(other.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(meta.kernel(), fresh_kernel(other, ctrl))


def test_cache_is_not_stale_after_dtype_change():
    meta, ctrl = cached_conv()
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        meta.kernel()
        meta.to(torch.float64)
        kernel = meta.kernel()
        assert kernel.dtype == torch.float64
        torch.testing.assert_close(kernel, fresh_kernel(meta, ctrl))
        assert meta(x).dtype == torch.float64


def test_cache_is_dropped_when_the_mode_is_set():
    """Weights written through ``.data`` (mmengine's EMAHook swaps weights like that) bump no
    version counter; the next ``model.eval()``, which every evaluation loop calls, drops the cache."""
    meta, ctrl = cached_conv()
    with torch.no_grad():
        meta.kernel()
    meta.meta.bias.data.copy_(torch.randn_like(meta.meta.bias))
    meta.eval()
    with torch.no_grad():
        torch.testing.assert_close(meta.kernel(), fresh_kernel(meta, ctrl))


def conv_with_kernel(meta, x, kernel):
    return F.conv2d(x, kernel, meta.bias, padding=1)


@pytest.mark.parametrize('meta_hidden', [None, 8])
def test_eval_forward_sees_optimizer_steps_through_the_cache(meta_hidden):
    meta, ctrl = meta_conv(nn.Conv2d(**CONV_CASES['bias']), meta_hidden=meta_hidden)
    ctrl.activate(48)
    x = torch.randn(2, 4, 8, 8)
    optimizer = torch.optim.SGD(meta.parameters(), lr=0.5)
    meta(x).square().sum().backward()
    optimizer.step()
    meta.eval()
    with torch.no_grad():
        first = meta(x)
        cached = meta._eval_kernels[ctrl.plan.eps]
        torch.testing.assert_close(first, conv_with_kernel(meta, x, meta.meta(ctrl.plan.eps)))
        assert meta(x) is not first and meta._eval_kernels[ctrl.plan.eps] is cached  # second call: the kept kernel
    meta(x).square().sum().backward()  # eval mode with grad: a fresh kernel, then a step
    optimizer.step()
    with torch.no_grad():
        torch.testing.assert_close(meta(x), conv_with_kernel(meta, x, meta.meta(ctrl.plan.eps)))
        assert meta._eval_kernels[ctrl.plan.eps] is not cached


def test_eval_forward_sees_parameters_replaced_by_assign_load():
    meta, ctrl = cached_conv()
    other, _ = cached_conv()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        meta(x)
        meta.load_state_dict(other.state_dict(), assign=True)  # new Parameter objects, no .eval()
        torch.testing.assert_close(meta(x), conv_with_kernel(meta, x, fresh_kernel(other, ctrl)))
