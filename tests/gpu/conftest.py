"""The ``device`` parameter of the device tests: ``'cpu'`` always, ``'cuda'`` where a GPU is present.

Every test under ``tests/gpu`` takes ``device`` and runs once per device, so the CPU run
(CI) exercises the same code as the GPU check (``benchmarks/gpu/check.sh``).
"""
from __future__ import annotations

import pytest
import torch

NO_GPU = not torch.cuda.is_available()


@pytest.fixture(params=['cpu', pytest.param('cuda', marks=pytest.mark.skipif(NO_GPU, reason='needs a GPU'))])
def device(request) -> str:
    """The device a test runs on."""
    return request.param


@pytest.fixture
def exact_convolutions():
    """Deterministic cuDNN convolutions without TF32 for the duration of a test (bitwise comparisons)."""
    saved = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
             torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
         torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) = saved

