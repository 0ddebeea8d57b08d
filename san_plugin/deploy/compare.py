"""Whether an exported model gives the SAN's outputs."""
from __future__ import annotations

from typing import Any

import torch

from san_plugin.core.inference import output_tensors


class ExportMismatchError(RuntimeError):
    """An exported model's outputs differ from the SAN's."""


def compare_outputs(stage: str, got: Any, expected: list[torch.Tensor], atol: float, rtol: float) -> None:
    """Raises :class:`ExportMismatchError`, naming ``stage``, unless ``got`` matches ``expected``.

    ``got`` may be a tensor, a tuple/list or a dict of them (compared flattened, in order);
    an output matches when ``|got - expected| <= atol + rtol * |expected|`` everywhere.

    Example:
        >>> compare_outputs('onnxruntime', torch.zeros(2), [torch.zeros(2)], atol=1e-4, rtol=1e-5)
    """
    got = [torch.as_tensor(t).detach().cpu().float() for t in output_tensors(got)]
    if len(got) != len(expected):
        raise ExportMismatchError(f'{stage}: {len(got)} outputs, the SAN gives {len(expected)}')
    for index, (a, b) in enumerate(zip(got, expected)):
        if a.shape != b.shape:
            raise ExportMismatchError(f'{stage}: output {index} has shape {tuple(a.shape)}, the SAN gives '
                                      f'{tuple(b.shape)}')
        error = (a - b).abs()
        if not bool((error <= atol + rtol * b.abs()).all()):
            raise ExportMismatchError(
                f'{stage}: output {index} differs from the SAN by up to {error.max().item():.3g} '
                f'(allowed: atol={atol}, rtol={rtol})')
