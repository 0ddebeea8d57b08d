"""torch.compile: a SAN compiles into one graph per resolution and trains like the eager SAN."""
import copy

import pytest
import torch
from torch import nn

from san_plugin.core import convert

RES = (32, 24)


def small_san(regenerate_kernels: bool) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))
    san, _ = convert(net, RES, init='scratch')
    san.san.regenerate_kernels = regenerate_kernels
    with torch.no_grad():
        for name, p in san.named_parameters():
            if name.endswith('meta.weight'):
                p.normal_(0, 0.1)  # a real resolution dependence
    return san


@pytest.mark.parametrize('regenerate_kernels', [True, False])
def test_compiled_san_has_no_graph_break_and_matches_eager(regenerate_kernels):
    torch._dynamo.reset()
    eager = small_san(regenerate_kernels)
    compiled_model = copy.deepcopy(eager)
    # fullgraph: a graph break raises. The second resolution recompiles with symbolic sizes
    # (torch's automatic dynamic shapes): the branch must still be found
    compiled = torch.compile(compiled_model, backend='aot_eager', fullgraph=True)
    for size in RES:
        x = torch.randn(4, 3, size, size)
        expected, actual = eager(x), compiled(x)
        torch.testing.assert_close(actual, expected)
        expected.square().sum().backward()
        actual.square().sum().backward()
    for (name, p), q in zip(eager.named_parameters(), compiled_model.parameters()):
        torch.testing.assert_close(q.grad, p.grad, msg=name)
    assert compiled_model.san.branch == RES[-1]  # the input pre-hook ran inside the compiled call
