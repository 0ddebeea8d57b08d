"""Deployment: one plain (baked) model per resolution, as a checkpoint, ONNX or TorchScript file.

A SAN is trained once; a deployment ships the plain network of each resolution it
serves (``san_plugin.core.bake``: the generated kernels and the resolution's BN branch
in the original layer classes), so the runtime needs neither this package nor a meta
learner. :func:`export_bundle` writes one artefact per resolution and a manifest from
which a client picks the resolution at run time. Imports neither mmengine nor mmpretrain.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import torch
from torch import nn

from san_plugin.core import bake, get_controller, validate_resolutions
from san_plugin.eval.model_io import example_input, inference, input_channels, output_tensors

FORMATS = {'pth': '.pth', 'onnx': '.onnx', 'torchscript': '.pt'}
BAKED_FORMAT_ID = 'san_plugin.baked'
BUNDLE_FORMAT_ID = 'san_plugin.bundle'
FORMAT_VERSION = 1
ONNX_OPSET = 17
_DEPRECATIONS = ('legacy TorchScript-based ONNX export', 'The feature will be removed',
                 r'`torch\.jit\.\w+` is deprecated')


class ExportMismatchError(RuntimeError):
    """An exported model's outputs differ from the SAN's."""


@contextmanager
def _quiet_deprecations() -> Iterator[None]:
    """Hides torch's deprecation notices for the legacy ONNX exporter and torch.jit."""
    with warnings.catch_warnings():
        for message in _DEPRECATIONS:
            warnings.filterwarnings('ignore', message=f'.*{message}')
        yield


def _compare(stage: str, got: Any, expected: list[torch.Tensor], atol: float, rtol: float) -> None:
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


def baked_metadata(model: nn.Module, resolution: int, in_chans: int | None = None) -> dict[str, Any]:
    """What an artefact records about itself: plain Python values (safe for ``weights_only`` loads).

    Example:
        >>> baked_metadata(net, 160)['input_size']
        [3, 160, 160]
    """
    controller = get_controller(model)
    with inference(model, resolution):
        branch, eps = controller.branch, controller.eps
    channels = in_chans if in_chans is not None else input_channels(model)
    return {
        'format': BAKED_FORMAT_ID,
        'version': FORMAT_VERSION,
        'resolution': int(resolution),
        'input_size': [int(channels), int(resolution), int(resolution)],
        'mode': controller.mode,
        'branch': int(branch),
        'eps': float(eps),
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
        fmt: ``'pth'``, ``'onnx'`` or ``'torchscript'``.
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
    if fmt not in FORMATS:
        raise ValueError(f'fmt must be one of {tuple(FORMATS)}, got {fmt!r}')
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
            _compare('baked model', plain(x), expected, atol, rtol)
    _WRITERS[fmt](plain, x, out_path, meta)
    if check:
        _CHECKS[fmt](plain, x, out_path, expected, atol, rtol)
    return out_path


# -- writers and checks, one per format --------------------------------------------------------
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
        _compare('pth checkpoint', fresh.eval()(x.cpu()), expected, atol, rtol)


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
    _compare('onnxruntime', [torch.from_numpy(t) for t in got], expected, atol, rtol)


def _write_torchscript(plain: nn.Module, x: torch.Tensor, path: Path, meta: dict[str, Any]) -> None:
    with _quiet_deprecations(), torch.no_grad():
        traced = torch.jit.trace(plain, (x,), check_trace=False, strict=False)
        torch.jit.save(traced, str(path), _extra_files={'san_plugin.json': json.dumps(meta)})


def _check_torchscript(plain: nn.Module, x: torch.Tensor, path: Path, expected: list[torch.Tensor],
                       atol: float, rtol: float) -> None:
    with _quiet_deprecations(), torch.no_grad():
        loaded = torch.jit.load(str(path), map_location=x.device)
        _compare('torchscript', loaded(x), expected, atol, rtol)


_WRITERS: dict[str, Callable[..., None]] = {'pth': _write_pth, 'onnx': _write_onnx,
                                            'torchscript': _write_torchscript}
_CHECKS: dict[str, Callable[..., None]] = {'pth': _check_pth, 'onnx': _check_onnx,
                                           'torchscript': _check_torchscript}


# -- one artefact per resolution + a manifest --------------------------------------------------
def _per_resolution(values: Mapping[Any, Any] | None, resolutions: tuple[int, ...], name: str) -> dict[int, Any]:
    if values is None:
        return {}
    table = {int(k): v for k, v in values.items()}
    unknown = sorted(set(table) - set(resolutions))
    if unknown:
        raise ValueError(f'{name} given for {unknown}, which are not exported resolutions {resolutions}')
    return table


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open('rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def export_bundle(
    model: nn.Module,
    resolutions: Iterable[int],
    out_dir: str | Path,
    fmt: str = 'pth',
    *,
    accuracy: Mapping[Any, Any] | None = None,
    latency: Mapping[Any, Any] | None = None,
    name: str = 'model',
    **export_kwargs: Any,
) -> Path:
    """Exports one baked artefact per resolution and a ``manifest.json`` describing them.

    The manifest (``format: san_plugin.bundle``) holds the SAN metadata, the mode, the
    artefact format and, per resolution (largest first): ``resolution``, ``file``
    (relative to the manifest), ``input_size`` ``[C, T, T]``, ``branch`` and ``eps``
    used, ``accuracy`` and ``latency`` (whatever JSON-able value was given, e.g.
    ``{'top1': 71.2}`` or ``3.4``; null when unknown), ``bytes`` and ``sha256``. A client
    reads it and picks the resolution that fits its input size or budget.

    Args:
        model: a SAN.
        resolutions: the resolutions to ship.
        out_dir: the bundle folder (created).
        fmt: ``'pth'``, ``'onnx'`` or ``'torchscript'``.
        accuracy: ``{resolution: accuracy}`` for some or all resolutions.
        latency: ``{resolution: latency}`` for some or all resolutions.
        name: file name stem: ``<name>_<T>px<ext>``.
        **export_kwargs: passed to :func:`export_baked` (``check``, ``atol``...).

    Returns:
        The manifest's path.

    Example:
        >>> manifest = export_bundle(net, [224, 160, 96], 'deploy/r18', 'onnx', accuracy={224: {'top1': 71.2}})
        >>> json.loads(manifest.read_text())['entries'][0]['file']
        'model_224px.onnx'
    """
    if fmt not in FORMATS:
        raise ValueError(f'fmt must be one of {tuple(FORMATS)}, got {fmt!r}')
    if not re.fullmatch(r'[\w.-]+', name):
        raise ValueError(f'name must be a plain file name stem, got {name!r}')
    ordered = validate_resolutions(resolutions)
    accuracies = _per_resolution(accuracy, ordered, 'accuracy')
    latencies = _per_resolution(latency, ordered, 'latency')
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for resolution in ordered:
        path = export_baked(model, resolution, out_dir / f'{name}_{resolution}px{FORMATS[fmt]}', fmt, **export_kwargs)
        meta = baked_metadata(model, resolution, export_kwargs.get('in_chans'))
        entries.append({
            'resolution': resolution, 'file': path.name, 'input_size': meta['input_size'],
            'branch': meta['branch'], 'eps': meta['eps'],
            'accuracy': accuracies.get(resolution), 'latency': latencies.get(resolution),
            'bytes': path.stat().st_size, 'sha256': _sha256(path),
        })
    controller = get_controller(model)
    manifest = {
        'format': BUNDLE_FORMAT_ID, 'version': FORMAT_VERSION, 'artifact_format': fmt,
        'mode': controller.mode, 'san': controller.metadata(),
        'input': {'layout': 'NCHW', 'dtype': 'float32', 'channels': entries[0]['input_size'][0]},
        'entries': entries,
    }
    manifest_path = out_dir / 'manifest.json'
    manifest_path.write_text(json.dumps(manifest, indent=2) + '\n')
    return manifest_path


def select_artifact(manifest_path: str | Path, size: int) -> dict[str, Any]:
    """The manifest entry for an input of ``size`` px: that resolution, else the nearest
    (a tie goes to the larger); its ``path`` is added, resolved next to the manifest.

    Example:
        >>> select_artifact('deploy/r18/manifest.json', 200)['resolution']
        224
    """
    manifest_path = Path(manifest_path)
    manifest = json.loads(manifest_path.read_text())
    if manifest.get('format') != BUNDLE_FORMAT_ID:
        raise ValueError(f'{manifest_path} is not a {BUNDLE_FORMAT_ID} manifest')
    entry = min(manifest['entries'], key=lambda e: (abs(e['resolution'] - size), -e['resolution']))
    return {**entry, 'path': str(manifest_path.parent / entry['file'])}
