"""The confidence cascade as it runs: smallest size first, only the undecided images move up.

**Standalone.** This file imports nothing of ``san_plugin`` (only torch; PIL and numpy for image
files, onnxruntime for ONNX bundles). ``san_plugin.deploy.export_cascade`` copies it into a
deployment bundle, where it runs beside the baked per-size models without the package:

    python cascade_runtime.py IMAGE [IMAGE ...]      # in the bundle folder (or --bundle DIR)

Inside ``san_plugin`` the same functions serve :class:`san_plugin.evaluation.Cascade`, so the
library, ``tools/test.py --cascade`` and a deployment take the same decisions.

The rule: at stage ``j`` (sizes ascending) an image is classified at ``sizes[j]``; if its
confidence (top-1 probability, or the margin between the two highest) is at least
``thresholds[j]`` it stops there, otherwise it moves to the next size; the last size takes
every image left. With ``combine='mean'`` an image is scored by the mean of the softmax of
every size it passed through (a test-time average that costs nothing extra). Each step runs
the images still undecided as one batch.
"""
from __future__ import annotations

import hashlib
import json
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence, Union

import torch

SCORES = ('max_prob', 'margin')
COMBINES = ('last', 'mean')
BUNDLE_FORMAT_ID = 'san_plugin.cascade_bundle'
BUNDLE_FILE = 'cascade.json'
_PIL_FILTERS = {'nearest': 0, 'lanczos': 1, 'bilinear': 2, 'bicubic': 3, 'box': 4, 'hamming': 5}

Views = Union[Mapping[int, torch.Tensor], Callable[[int, Optional[torch.Tensor]], torch.Tensor]]  # Python 3.8+


class CascadeOutcome(NamedTuple):
    """What a cascade gave every image.

    Attributes:
        probs: ``(N, C)`` the probabilities each image was classified with (at its exit).
        exit_stage: ``(N,)`` long: the index in ``sizes`` of the size each image stopped at.
    """

    probs: torch.Tensor
    exit_stage: torch.Tensor


def confidence(probs: torch.Tensor, score: str = 'max_prob') -> torch.Tensor:
    """``(N,)`` confidence of ``(N, C)`` probabilities: the top-1 probability or the top-1 - top-2 margin.

    Example:
        >>> confidence(torch.tensor([[0.7, 0.2, 0.1]]), 'margin')
        tensor([0.5000])
    """
    if score == 'max_prob':
        return probs.max(dim=1).values
    if score == 'margin':
        if probs.size(1) < 2:
            return probs[:, 0]
        top = probs.topk(2, dim=1).values
        return top[:, 0] - top[:, 1]
    raise ValueError(f'score must be one of {SCORES}, got {score!r}')


def check_rule(sizes: Sequence[int], thresholds: Sequence[float], score: str, combine: str) -> None:
    """Raises ``ValueError`` naming what is wrong with a cascade's rule."""
    if not sizes or any(int(s) != s or s <= 0 for s in sizes) or list(sizes) != sorted(set(sizes)):
        raise ValueError(f'sizes must be distinct positive integers in ascending order, got {list(sizes)}')
    if len(thresholds) != len(sizes) - 1:
        raise ValueError(f'need one threshold per size but the last ({len(sizes) - 1} for sizes {list(sizes)}), '
                         f'got {len(thresholds)}: {list(thresholds)}')
    if score not in SCORES:
        raise ValueError(f'score must be one of {SCORES}, got {score!r}')
    if combine not in COMBINES:
        raise ValueError(f'combine must be one of {COMBINES}, got {combine!r}')


def _cascade(stage_probs: Callable[[int, torch.Tensor | None], torch.Tensor], count: int, sizes: Sequence[int],
             thresholds: Sequence[float], score: str, combine: str) -> CascadeOutcome:
    """The decisions, given ``stage_probs(size, rows)``: the probabilities at ``size`` of the
    images ``rows`` (a long tensor; None: every image)."""
    check_rule(sizes, thresholds, score, combine)
    active: torch.Tensor | None = None  # None: every image, in order
    running: torch.Tensor | None = None
    probs_out = exit_stage = None
    for stage, size in enumerate(sizes):
        probs = stage_probs(int(size), active)
        if combine == 'mean':
            running = probs if running is None else running + probs
            probs = running / (stage + 1)
        if probs_out is None:
            probs_out = probs.new_empty(count, probs.size(1))
            exit_stage = torch.full((count,), len(sizes) - 1, dtype=torch.long, device=probs.device)
        if stage == len(sizes) - 1:
            stop = torch.ones(probs.size(0), dtype=torch.bool, device=probs.device)
        else:
            stop = confidence(probs, score) >= thresholds[stage]
        rows = torch.arange(count, device=probs.device) if active is None else active
        probs_out[rows[stop]] = probs[stop]
        exit_stage[rows[stop]] = stage
        active = rows[~stop]
        if running is not None:
            running = running[~stop]
        if active.numel() == 0:
            break
    return CascadeOutcome(probs_out, exit_stage)


def _rows(tensor: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
    return tensor if rows is None else tensor.index_select(0, rows.to(tensor.device))


def run_cascade(classify: Callable[[int, torch.Tensor], torch.Tensor], views: Views, sizes: Sequence[int],
                thresholds: Sequence[float], *, score: str = 'max_prob', combine: str = 'last',
                count: int | None = None) -> CascadeOutcome:
    """Runs a cascade, batched: at every size only the undecided images run, as one batch.

    Args:
        classify: ``(size, batch) -> logits``; e.g. ``lambda size, x: san(x)`` for a SAN (it
            runs at its input's size), or the baked model of that size.
        views: ``{size: (N, ...) batch}`` of every image at every size, or a function
            ``(size, rows) -> batch`` that makes the views of the images ``rows`` (a long
            tensor; None: all) only when they are needed (then give ``count``).
        sizes: ascending.
        thresholds: one per size but the last.
        score: ``'max_prob'`` or ``'margin'``.
        combine: ``'last'`` (the exit size's softmax) or ``'mean'`` (the mean over the sizes passed).
        count: the number of images (read from ``views`` when it is a mapping).

    Example:
        >>> outcome = run_cascade(lambda s, x: san(x), {32: x32, 48: x48, 64: x64}, [32, 48, 64], [0.9, 0.8])
        >>> outcome.exit_stage.bincount(minlength=3)  # images that stopped at 32, 48, 64 px
        tensor([61, 22, 17])
    """
    if isinstance(views, Mapping):
        missing = [s for s in sizes if int(s) not in views]
        if missing:
            raise KeyError(f'no views at sizes {missing} (have {sorted(views)})')
        count = int(views[int(sizes[0])].size(0))
        make = lambda size, rows: _rows(views[size], rows)  # noqa: E731
    else:
        if count is None:
            raise ValueError('give count= with a views function')
        make = views

    def stage_probs(size: int, rows: torch.Tensor | None) -> torch.Tensor:
        return torch.softmax(classify(size, make(size, rows)).float(), dim=1)

    return _cascade(stage_probs, count, sizes, thresholds, score, combine)


def simulate_cascade(probs: Mapping[int, torch.Tensor], sizes: Sequence[int], thresholds: Sequence[float], *,
                     score: str = 'max_prob', combine: str = 'last') -> CascadeOutcome:
    """The cascade's decisions from precomputed ``{size: (N, C) probabilities}``: what
    :func:`run_cascade` gives when the model returns those probabilities' logits.

    Example:
        >>> simulate_cascade({32: p32, 64: p64}, [32, 64], [0.9]).exit_stage.float().mean()
        tensor(0.3100)
    """
    count = int(probs[int(sizes[0])].size(0))
    return _cascade(lambda size, rows: _rows(probs[size], rows), count, sizes, thresholds, score, combine)


def charged_gflops(exit_stage: torch.Tensor, sizes: Sequence[int], gflops: Mapping[int, float]) -> torch.Tensor:
    """``(N,)`` GFLOPs of each image: the sum over every size it passed through, its exit included."""
    per_stage = torch.tensor([float(gflops[int(s)]) for s in sizes], dtype=torch.float64)
    return per_stage.cumsum(0)[exit_stage.cpu()]


# -- images: decoded once, the standard test crop at each size -----------------------------------
def center_crop(image: Any, size: int, crop_ratio: float = 0.875, interpolation: str = 'bicubic',
                rounding: str = 'round'):
    """The standard test crop of a PIL image as an ``(S, S, C)`` uint8 array: the short side
    resized to ``S / crop_ratio`` (``rounding`` 'round' or 'floor'), the long side in proportion
    (truncated), then the centre ``S x S``: what MMPretrain's ``ResizeEdge`` + ``CenterCrop``
    (pillow backend) and ``san_plugin``'s test pipelines make.
    """
    import numpy as np
    if not 0 < crop_ratio <= 1:
        raise ValueError(f'crop_ratio must be in (0, 1], got {crop_ratio}')
    short = size / crop_ratio
    scale = int(short) if rounding == 'floor' else int(round(short))
    width, height = image.size
    if width < height:
        new = (scale, int(scale * height / width))
    else:
        new = (int(scale * width / height), scale)
    resized = np.asarray(image.resize(new, _PIL_FILTERS[interpolation]))
    top = max(0, int(round((new[1] - size) / 2.)))
    left = max(0, int(round((new[0] - size) / 2.)))
    return resized[top:top + size, left:left + size]


def normalised_batch(crops: Sequence[Any], mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(N, C, S, S)`` float32 ``(x - mean) / std`` of uint8 ``(S, S, C)`` crops."""
    import numpy as np
    x = torch.from_numpy(np.stack(list(crops))).permute(0, 3, 1, 2).float()
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


# -- a deployment bundle ---------------------------------------------------------------------------
class BundleError(ValueError):
    """A cascade bundle is incomplete or its files are not the ones it lists."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open('rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


class CascadeBundle:
    """A folder written by ``san_plugin.deploy.export_cascade``: ``cascade.json`` (sizes,
    thresholds, preprocessing, one model file per size with its sha256) and the models.

    Example:
        >>> bundle = CascadeBundle('deploy/r18_cascade')
        >>> bundle.classify_files(['a.jpg', 'b.jpg'])[0]
        {'path': 'a.jpg', 'label': 3, 'class': 'n03028079', 'probability': 0.93, 'size': 32, 'gflops': 0.02}
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        path = self.folder / BUNDLE_FILE
        if not path.is_file():
            raise BundleError(f'{self.folder}: no {BUNDLE_FILE} (not a cascade bundle)')
        spec = json.loads(path.read_text())
        if spec.get('format') != BUNDLE_FORMAT_ID:
            raise BundleError(f'{path}: format {spec.get("format")!r}, expected {BUNDLE_FORMAT_ID!r}')
        self.spec = spec
        self.sizes = [int(s) for s in spec['sizes']]
        self.thresholds = [float(t) for t in spec['thresholds']]
        check_rule(self.sizes, self.thresholds, spec['score'], spec['combine'])
        self.gflops = {int(s): float(g) for s, g in spec['gflops'].items()}
        self.models = {size: self._load(spec['artifacts'][str(size)]) for size in self.sizes}

    def _load(self, entry: dict) -> Callable[[torch.Tensor], torch.Tensor]:
        path = self.folder / entry['file']
        if not path.is_file():
            raise BundleError(f'{path}: listed in {BUNDLE_FILE} but missing')
        if _sha256(path) != entry['sha256']:
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


def main(argv: Sequence[str] | None = None) -> None:
    """``python cascade_runtime.py [--bundle DIR] [--json OUT] IMAGE ...``: one line per image."""
    import argparse
    parser = argparse.ArgumentParser(description='Classify images with a SAN cascade bundle')
    parser.add_argument('images', nargs='+')
    parser.add_argument('--bundle', default=str(Path(__file__).resolve().parent), help='default: this folder')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--json', help='also write the results to this JSON file')
    args = parser.parse_args(argv)
    results = CascadeBundle(args.bundle).classify_files(args.images, args.batch_size)
    for r in results:
        name = f" ({r['class']})" if r['class'] else ''
        print(f"{r['path']}: class {r['label']}{name}, p={r['probability']:.3f}, stopped at {r['size']} px, "
              f"{r['gflops']:.4f} GFLOPs")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == '__main__':
    main(sys.argv[1:])
