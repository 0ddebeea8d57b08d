"""A deployment bundle: one baked artefact per resolution and a manifest a client picks from.

The manifest (``manifest.json``, ``format: san_plugin.bundle``) lists every artefact with
its input size, the BN branch and encoding it was baked with, its size and checksum, and
any accuracy or latency given; :func:`select_artifact` picks the entry for an input size
with the SAN's own nearest-resolution rule.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from torch import nn

from san_plugin.core import get_controller, nearest_resolution, validate_resolutions
from .checksum import sha256
from .export import FORMAT_VERSION, baked_metadata, export_baked
from .formats import artifact_format

BUNDLE_FORMAT_ID = 'san_plugin.bundle'


def _per_resolution(values: Mapping[Any, Any] | None, resolutions: tuple[int, ...], name: str) -> dict[int, Any]:
    if values is None:
        return {}
    table = {int(k): v for k, v in values.items()}
    unknown = sorted(set(table) - set(resolutions))
    if unknown:
        raise ValueError(f'{name} given for {unknown}, which are not exported resolutions {resolutions}')
    return table


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
    extension = artifact_format(fmt).extension
    if not re.fullmatch(r'[\w.-]+', name):
        raise ValueError(f'name must be a plain file name stem, got {name!r}')
    ordered = validate_resolutions(resolutions)
    accuracies = _per_resolution(accuracy, ordered, 'accuracy')
    latencies = _per_resolution(latency, ordered, 'latency')
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for resolution in ordered:
        path = export_baked(model, resolution, out_dir / f'{name}_{resolution}px{extension}', fmt, **export_kwargs)
        meta = baked_metadata(model, resolution, export_kwargs.get('in_chans'))
        entries.append({
            'resolution': resolution, 'file': path.name, 'input_size': meta['input_size'],
            'branch': meta['branch'], 'eps': meta['eps'],
            'accuracy': accuracies.get(resolution), 'latency': latencies.get(resolution),
            'bytes': path.stat().st_size, 'sha256': sha256(path),
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
    entries = {entry['resolution']: entry for entry in manifest['entries']}
    entry = entries[nearest_resolution(size, tuple(entries))]
    return {**entry, 'path': str(manifest_path.parent / entry['file'])}
