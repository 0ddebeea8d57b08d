"""Deployment: one plain (baked) model per resolution, as a checkpoint, ONNX or TorchScript file.

A SAN is trained once; a deployment ships the plain network of each resolution it
serves (``san_plugin.core.bake``: the generated kernels and the resolution's BN branch
in the original layer classes), so the runtime needs neither this package nor a meta
learner. The formats are the table in :mod:`san_plugin.deploy.formats`; one artefact per
resolution with a manifest is :mod:`san_plugin.deploy.bundle`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from san_plugin.core import bake, find_controller, get_controller
from san_plugin.core.inference import example_input, inference, input_channels, output_tensors
from .compare import compare_outputs
from .formats import artifact_format

BAKED_FORMAT_ID = 'san_plugin.baked'
FORMAT_VERSION = 1


def deployed_model(model: nn.Module, resolution: int) -> nn.Module:
    """What a deployment runs at ``resolution``: a SAN baked for it (plain convolutions, one BN
    branch; a copy, the SAN is untouched), a plain model as it is.

    Example:
        >>> count_flops(deployed_model(san, 64), 64)
    """
    return bake(model, resolution) if find_controller(model) is not None else model


def baked_metadata(model: nn.Module, resolution: int, in_chans: int | None = None) -> dict[str, Any]:
    """What an artefact records about itself: plain Python values (safe for ``weights_only`` loads).

    Example:
        >>> baked_metadata(net, 160)['input_size']
        [3, 160, 160]
    """
    controller = get_controller(model)
    plan = controller.inference_plan(int(resolution))
    channels = in_chans if in_chans is not None else input_channels(model)
    return {
        'format': BAKED_FORMAT_ID,
        'version': FORMAT_VERSION,
        'resolution': int(resolution),
        'input_size': [int(channels), int(resolution), int(resolution)],
        'mode': controller.mode,
        'branch': int(plan.bn_resolution),
        'eps': float(plan.eps),
        'san': controller.metadata(),
        'architecture': f'{type(model).__module__}.{type(model).__qualname__}',
    }


def export_baked(
    model: nn.Module,
    resolution: int,
    out_path: str | Path,
    fmt: str = 'pth',
    *,
    example_batch: int = 1,
    check: bool = True,
    atol: float = 1e-4,
    rtol: float = 1e-5,
    in_chans: int | None = None,
) -> Path:
    """Bakes a SAN for one resolution and writes it in a deployment format.

    The baked model follows the SAN's mode, as :func:`~san_plugin.core.bake` does
    (proxy: S(T)'s encoding and branch; ideal: eps(T) and T's calibrated branch).

    * ``'pth'``: ``{'state_dict': ..., 'meta': {...}}``; the state dict loads into the
      unconverted architecture (``strict=True``) and the file loads with
      ``torch.load(..., weights_only=True)``.
    * ``'onnx'``: ``torch.onnx.export`` (the TorchScript-based exporter, ``dynamo=False``,
      which needs no ``onnxscript``), opset 17, input ``input`` of shape
      ``(batch, C, T, T)`` with a dynamic batch axis, outputs ``output`` (or
      ``output0``, ``output1``...). Checked with onnxruntime.
    * ``'torchscript'``: ``torch.jit.trace`` + ``torch.jit.save``; checked after
      ``torch.jit.load``.

    Args:
        model: a SAN.
        resolution: the input size the artefact serves.
        out_path: the file to write (parent folders are created).
        fmt: a name in :data:`~san_plugin.deploy.formats.FORMATS`: ``'pth'``, ``'onnx'`` or ``'torchscript'``.
        example_batch: batch size of the example input used to trace and check.
        check: compare the baked model's and the reloaded artefact's outputs with the SAN's.
        atol: absolute tolerance of the check.
        rtol: relative tolerance of the check (on top of ``atol``).
        in_chans: input channels; read from the first convolution when None.

    Returns:
        The written path.

    Raises:
        ExportMismatchError: the baked model or the artefact disagrees with the SAN.

    Example:
        >>> export_baked(net, 160, 'deploy/resnet18_160.onnx', 'onnx')
        PosixPath('deploy/resnet18_160.onnx')
    """
    artifact = artifact_format(fmt)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    resolution = int(resolution)
    meta = baked_metadata(model, resolution, in_chans)
    x = example_input(model, resolution, example_batch, in_chans=meta['input_size'][0])
    plain = bake(model, resolution).eval()
    expected: list[torch.Tensor] = []
    if check:
        with inference(model, resolution):
            expected = [t.detach().cpu().float() for t in output_tensors(model(x))]
        with torch.no_grad():
            compare_outputs('baked model', plain(x), expected, atol, rtol)
    artifact.write(plain, x, out_path, meta)
    if check:
        artifact.check(plain, x, out_path, expected, atol, rtol)
    return out_path
