"""Exporting a cascade bundle: the baked model of every size of a cascade, its thresholds, and a
runtime that needs neither this package nor a meta learner (torch, PIL and numpy; onnxruntime for ONNX).

    bundle/
      cascade.json          sizes, thresholds, score, GFLOPs, preprocessing, one file + sha256 per size
                            (the format: san_plugin.cascade.bundle)
      model_<S>px.pt|.onnx  the baked plain model of each size (checked against the SAN at export)
      manifest.json         the per-size bundle manifest (san_plugin.deploy.export_bundle)
      cascade_runtime.py    the cascade as it runs, and its command line (san_plugin.cascade.standalone):
                            python cascade_runtime.py IMAGE [IMAGE ...]
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from torch import nn

from san_plugin.deploy.bundle import export_bundle
from .bundle import BUNDLE_FILE, bundle_spec
from .standalone import write_runtime
from .thresholds import Cascade

RUNNABLE_FORMATS = ('torchscript', 'onnx')


def export_cascade(model: nn.Module, cascade: Cascade, out_dir: str | Path, fmt: str = 'torchscript', *,
                   mean: Sequence[float], std: Sequence[float], channel_order: str = 'rgb',
                   interpolation: str = 'bicubic', rounding: str = 'round', classes: Sequence[str] | None = None,
                   **export_kwargs: Any) -> Path:
    """Writes a cascade bundle that runs without ``san_plugin`` (see the module docstring).

    The thresholds are first checked against the model (its training resolutions and
    weights); each size's model is baked and checked against the SAN by
    :func:`~san_plugin.deploy.export_bundle`.

    Args:
        model: the SAN the cascade was fitted for (a timm/PyTorch SAN or an MMPretrain
            ``SANClassifier``; it is called on normalised ``(N, C, S, S)`` batches).
        cascade: the thresholds (``Cascade.load(file)``).
        out_dir: the bundle folder (created).
        fmt: ``'torchscript'`` or ``'onnx'``.
        mean, std: the input normalisation on the 0..255 scale, in ``channel_order``.
        channel_order: ``'rgb'``, or ``'bgr'`` for a model fed BGR images (an MMPretrain
            config with ``to_rgb=False``).
        interpolation, rounding: the test resize (pillow filter; short side rounded or floored).
        classes: class names, written into ``cascade.json`` for the runtime's output.
        **export_kwargs: passed to :func:`~san_plugin.deploy.export_baked` (``atol``...).

    Returns:
        The path of ``cascade.json``.

    Raises:
        CascadeMismatchError: the thresholds were fitted for another model.

    Example:
        >>> export_cascade(san, Cascade.load('epoch_100_cascade.json'), 'deploy/cascade', mean=IMAGENET_MEAN,
        ...                std=IMAGENET_STD)
        PosixPath('deploy/cascade/cascade.json')
    """
    if fmt not in RUNNABLE_FORMATS:
        raise ValueError(f'a cascade bundle runs {RUNNABLE_FORMATS} models without san_plugin, got fmt={fmt!r}')
    if channel_order not in ('rgb', 'bgr'):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    cascade.check_model(model, target='the model to export')
    out_dir = Path(out_dir)
    manifest_path = export_bundle(model, cascade.sizes, out_dir, fmt, **export_kwargs)
    entries = json.loads(manifest_path.read_text())['entries']
    spec = bundle_spec(
        sizes=cascade.sizes, thresholds=cascade.thresholds, score=cascade.score, combine=cascade.combine,
        gflops=cascade.gflops, artifact_format=fmt,
        artifacts={e['resolution']: {'file': e['file'], 'sha256': e['sha256']} for e in entries},
        preprocessing={'crop_ratio': cascade.crop_ratio, 'interpolation': interpolation, 'rounding': rounding,
                       'mean': [float(m) for m in mean], 'std': [float(s) for s in std],
                       'channel_order': channel_order},
        classes=classes,
        source={'resolutions': list(cascade.resolutions), 'fingerprint': cascade.fingerprint,
                'checkpoint': cascade.checkpoint, 'fit': dict(cascade.fit)})
    spec_path = out_dir / BUNDLE_FILE
    spec_path.write_text(json.dumps(spec, indent=2) + '\n')
    write_runtime(out_dir)
    return spec_path
