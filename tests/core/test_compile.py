"""torch.compile: a SAN compiles into one graph per resolution and trains like the eager SAN."""
import copy

import pytest
import torch
from torch import nn

from tiny_models import grouped_cnn, tiny_san

RES = (32, 24)


def small_san(regenerate_kernels: bool) -> nn.Module:
    san = tiny_san(RES, lambda: grouped_cnn(5, padding=1), bn=False)  # W ~ N(0, 0.1): a real resolution dependence
    san.san.regenerate_kernels = regenerate_kernels
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
    assert compiled_model.san.plan.bn_resolution == RES[-1]  # the input pre-hook ran inside the compiled call
