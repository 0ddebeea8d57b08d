"""The cascade bundle's format, written and read here: ``cascade.json`` and the models it lists.

    bundle/
      cascade.json          format, version, sizes, thresholds, score, GFLOPs, preprocessing,
                            one model file + sha256 per size, class names, the source it was fitted on
      model_<S>px.pt|.onnx  the baked plain model of each size
      cascade_runtime.py    the runtime (this file among others, see san_plugin.cascade.standalone)

:func:`bundle_spec` makes the contents of ``cascade.json`` (``san_plugin.cascade.export_cascade``
writes it); :func:`read_spec` reads it back and refuses another format or another version by
name; :class:`CascadeBundle` loads the models it lists and runs the cascade on images.

Standalone (torch, numpy and PIL; onnxruntime for ONNX bundles): the bundle's runtime embeds it.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from san_plugin.deploy.checksum import sha256
from san_plugin.evaluation.test_crop import center_crop, normalised_batch
from san_plugin.cascade.rule import CascadeOutcome, charged_gflops, check_rule, run_cascade

BUNDLE_FORMAT_ID = 'san_plugin.cascade_bundle'
BUNDLE_VERSION = 1
BUNDLE_FILE = 'cascade.json'
RUNTIME_FILE = 'cascade_runtime.py'


class BundleError(ValueError):
    """A cascade bundle is incomplete, of another format or version, or its files are not the ones it lists."""


def bundle_spec(*, sizes: Sequence[int], thresholds: Sequence[float], score: str, combine: str,
                gflops: Mapping[int, float], artifact_format: str, artifacts: Mapping[int, Mapping[str, str]],
                preprocessing: Mapping[str, Any], classes: Sequence[str] | None,
                source: Mapping[str, Any]) -> dict[str, Any]:
    """The contents of ``cascade.json`` (the write side of the format; :func:`read_spec` reads it).

    Args:
        sizes, thresholds, score, combine: the rule (:mod:`san_plugin.cascade.rule`).
        gflops: ``{size: GFLOPs of one image}``.
        artifact_format: ``'torchscript'`` or ``'onnx'``.
        artifacts: ``{size: {'file': name, 'sha256': hex}}``.
        preprocessing: ``crop_ratio``, ``interpolation``, ``rounding``, ``mean``, ``std``, ``channel_order``.
        classes: the class names (None: the runtime prints labels only).
        source: what it was fitted for (``resolutions``, ``fingerprint``, ``checkpoint``, ``fit``).

    Example:
        >>> bundle_spec(sizes=[32, 64], thresholds=[0.9], score='max_prob', combine='last', ...)['version']
        1
    """
    check_rule(sizes, thresholds, score, combine)
    return {
        'format': BUNDLE_FORMAT_ID, 'version': BUNDLE_VERSION,
        'sizes': list(sizes), 'thresholds': list(thresholds), 'score': score, 'combine': combine,
        'gflops': {str(s): gflops[s] for s in sizes}, 'artifact_format': artifact_format,
        'artifacts': {str(size): dict(entry) for size, entry in artifacts.items()},
        'preprocessing': dict(preprocessing), 'classes': list(classes) if classes is not None else None,
        'source': dict(source),
    }


def read_spec(folder: str | Path) -> dict[str, Any]:
    """``cascade.json`` of a bundle folder, checked: its format, its version and its rule.

    Raises:
        BundleError: no ``cascade.json``, another format, or a version this runtime does not read
            (naming the file and both versions).

    Example:
        >>> read_spec('deploy/r18_cascade')['sizes']
        [32, 48, 64]
    """
    path = Path(folder) / BUNDLE_FILE
    if not path.is_file():
        raise BundleError(f'{Path(folder)}: no {BUNDLE_FILE} (not a cascade bundle)')
    spec = json.loads(path.read_text())
    if spec.get('format') != BUNDLE_FORMAT_ID:
        raise BundleError(f'{path}: format {spec.get("format")!r}, expected {BUNDLE_FORMAT_ID!r}')
    if spec.get('version') != BUNDLE_VERSION:
        raise BundleError(f'{path}: a cascade bundle of version {spec.get("version")!r}; this runtime reads version '
                          f'{BUNDLE_VERSION} (run the {RUNTIME_FILE} exported with the bundle, or export it again)')
    check_rule([int(s) for s in spec['sizes']], [float(t) for t in spec['thresholds']], spec['score'],
               spec['combine'])
    return spec


class CascadeBundle:
    """A folder written by ``san_plugin.cascade.export_cascade``: ``cascade.json`` (sizes,
    thresholds, preprocessing, one model file per size with its sha256) and the models.

    Example:
        >>> bundle = CascadeBundle('deploy/r18_cascade')
        >>> bundle.classify_files(['a.jpg', 'b.jpg'])[0]
        {'path': 'a.jpg', 'label': 3, 'class': 'n03028079', 'probability': 0.93, 'size': 32, 'gflops': 0.02}
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.spec = spec = read_spec(self.folder)
        self.sizes = [int(s) for s in spec['sizes']]
        self.thresholds = [float(t) for t in spec['thresholds']]
        self.gflops = {int(s): float(g) for s, g in spec['gflops'].items()}
        self.models = {size: self._load(spec['artifacts'][str(size)]) for size in self.sizes}

    def _load(self, entry: dict) -> Callable[[torch.Tensor], torch.Tensor]:
        path = self.folder / entry['file']
        if not path.is_file():
            raise BundleError(f'{path}: listed in {BUNDLE_FILE} but missing')
        if sha256(path) != entry['sha256']:
            raise BundleError(f'{path}: its sha256 differs from the one in {BUNDLE_FILE}; the bundle was '
                              f'changed after export (re-export it)')
        if self.spec['artifact_format'] == 'onnx':
            import onnxruntime
            session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
            name = session.get_inputs()[0].name
            return lambda x: torch.from_numpy(session.run(None, {name: x.numpy()})[0])
        with warnings.catch_warnings():  # torch >= 2.9 calls torch.jit deprecated; it still loads
            warnings.simplefilter('ignore', FutureWarning)
            return torch.jit.load(str(path), map_location='cpu').eval()

    def classify(self, images: Sequence[Any]) -> CascadeOutcome:
        """The cascade over PIL images (each cropped only at the sizes it reaches), batched."""
        pre = self.spec['preprocessing']
        rgb = [image.convert('RGB') for image in images]

        bgr = pre.get('channel_order', 'rgb') == 'bgr'

        def views(size: int, rows: torch.Tensor | None) -> torch.Tensor:
            chosen = range(len(rgb)) if rows is None else rows.tolist()
            crops = [center_crop(rgb[i], size, pre['crop_ratio'], pre['interpolation'], pre['rounding'])
                     for i in chosen]
            return normalised_batch([c[..., ::-1] for c in crops] if bgr else crops, pre['mean'], pre['std'])

        with torch.no_grad():
            return run_cascade(lambda size, x: self.models[size](x), views, self.sizes, self.thresholds,
                               score=self.spec['score'], combine=self.spec['combine'], count=len(rgb))

    def classify_files(self, paths: Sequence[str | Path], batch_size: int = 64) -> list[dict[str, Any]]:
        """``[{'path', 'label', 'class', 'probability', 'size', 'gflops'}]`` of image files, ``batch_size``
        at a time (``class``: the label's name, None when the bundle lists no class names)."""
        from PIL import Image
        results = []
        for start in range(0, len(paths), batch_size):
            chunk = [str(p) for p in paths[start:start + batch_size]]
            images = []
            for path in chunk:
                with Image.open(path) as image:
                    images.append(image.convert('RGB'))
            outcome = self.classify(images)
            top = outcome.probs.max(dim=1)
            cost = charged_gflops(outcome.exit_stage, self.sizes, self.gflops)
            names = self.spec.get('classes')
            results += [{'path': p, 'label': int(label), 'class': names[int(label)] if names else None,
                         'probability': float(prob), 'size': self.sizes[int(stage)], 'gflops': float(g)}
                        for p, label, prob, stage, g in zip(chunk, top.indices, top.values, outcome.exit_stage, cost)]
        return results
