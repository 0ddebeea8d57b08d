"""The deployment formats: one table of name, file extension, writer and check.

A writer stores a baked (plain) model and its metadata; a check reloads the file the way
a deployment would and compares its outputs with the SAN's (:func:`compare_outputs`).
Add a format by adding a row to :data:`FORMATS`.
"""
from __future__ import annotations

import copy
import json
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from san_plugin.core.inference import output_tensors
from .compare import compare_outputs

ONNX_OPSET = 17
_DEPRECATIONS = ('legacy TorchScript-based ONNX export', 'The feature will be removed',
                 r'`torch\.jit\.\w+` is deprecated')

Writer = Callable[[nn.Module, torch.Tensor, Path, dict], None]
Check = Callable[[nn.Module, torch.Tensor, Path, list, float, float], None]


@dataclass(frozen=True)
class ArtifactFormat:
    """One deployment format.

    Attributes:
        name: what ``fmt`` arguments and ``--format`` call it.
        extension: the file extension, with its dot.
        write: ``(plain_model, example_input, path, metadata) -> None``.
        check: ``(plain_model, example_input, path, expected_outputs, atol, rtol) -> None``;
            raises :class:`~san_plugin.deploy.ExportMismatchError`.

    Example:
        >>> FORMATS['onnx'].extension
        '.onnx'
    """

    name: str
    extension: str
    write: Writer
    check: Check


@contextmanager
def _quiet_deprecations() -> Iterator[None]:
    """Hides torch's deprecation notices for the legacy ONNX exporter and torch.jit."""
    with warnings.catch_warnings():
        for message in _DEPRECATIONS:
            warnings.filterwarnings('ignore', message=f'.*{message}')
        yield


# -- pth: a state dict for the unconverted architecture -----------------------------------------
def _write_pth(plain: nn.Module, x: torch.Tensor, path: Path, meta: dict[str, Any]) -> None:
    state = {k: v.detach().cpu().clone() for k, v in plain.state_dict().items()}
    torch.save({'state_dict': state, 'meta': meta}, path)


def _check_pth(plain: nn.Module, x: torch.Tensor, path: Path, expected: list[torch.Tensor],
               atol: float, rtol: float) -> None:
    checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    fresh = copy.deepcopy(plain).cpu()
    with torch.no_grad():
        for tensor in fresh.state_dict().values():
            tensor.zero_()  # the outputs below then come from the file, not from the copy
    fresh.load_state_dict(checkpoint['state_dict'], strict=True)
    with torch.no_grad():
        compare_outputs('pth checkpoint', fresh.eval()(x.cpu()), expected, atol, rtol)


# -- onnx ----------------------------------------------------------------------------------------
def _output_names(plain: nn.Module, x: torch.Tensor) -> list[str]:
    with torch.no_grad():
        count = len(output_tensors(plain(x)))
    return ['output'] if count == 1 else [f'output{i}' for i in range(count)]


def _write_onnx(plain: nn.Module, x: torch.Tensor, path: Path, meta: dict[str, Any]) -> None:
    names = _output_names(plain, x)
    axes = {name: {0: 'batch'} for name in ['input', *names]}
    with _quiet_deprecations(), torch.no_grad():
        torch.onnx.export(plain, (x,), str(path), dynamo=False, input_names=['input'], output_names=names,
                          dynamic_axes=axes, opset_version=ONNX_OPSET, do_constant_folding=True)
    try:
        import onnx
    except ImportError:
        return
    graph = onnx.load(str(path))
    entry = graph.metadata_props.add()  # the same metadata as a checkpoint's 'meta'
    entry.key, entry.value = 'san_plugin', json.dumps(meta)
    onnx.save(graph, str(path))


def _check_onnx(plain: nn.Module, x: torch.Tensor, path: Path, expected: list[torch.Tensor],
                atol: float, rtol: float) -> None:
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError('checking an ONNX export needs onnxruntime: pip install "san_plugin[export]", '
                          'or pass check=False') from error
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    got = session.run(None, {'input': x.detach().cpu().numpy()})
    compare_outputs('onnxruntime', [torch.from_numpy(t) for t in got], expected, atol, rtol)


# -- torchscript ---------------------------------------------------------------------------------
def _write_torchscript(plain: nn.Module, x: torch.Tensor, path: Path, meta: dict[str, Any]) -> None:
    with _quiet_deprecations(), torch.no_grad():
        traced = torch.jit.trace(plain, (x,), check_trace=False, strict=False)
        torch.jit.save(traced, str(path), _extra_files={'san_plugin.json': json.dumps(meta)})


def _check_torchscript(plain: nn.Module, x: torch.Tensor, path: Path, expected: list[torch.Tensor],
                       atol: float, rtol: float) -> None:
    with _quiet_deprecations(), torch.no_grad():
        loaded = torch.jit.load(str(path), map_location=x.device)
        compare_outputs('torchscript', loaded(x), expected, atol, rtol)


FORMATS: dict[str, ArtifactFormat] = {fmt.name: fmt for fmt in (
    ArtifactFormat('pth', '.pth', _write_pth, _check_pth),
    ArtifactFormat('onnx', '.onnx', _write_onnx, _check_onnx),
    ArtifactFormat('torchscript', '.pt', _write_torchscript, _check_torchscript),
)}


def artifact_format(name: str) -> ArtifactFormat:
    """The row of :data:`FORMATS` called ``name``; a ``ValueError`` naming the known ones otherwise."""
    if name not in FORMATS:
        raise ValueError(f'fmt must be one of {tuple(FORMATS)}, got {name!r}')
    return FORMATS[name]
