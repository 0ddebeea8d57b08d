"""A config's test pipeline rewritten for one resolution (``tools/test.py --resolution S``, sweeps),
for multi-resolution testing (``tools/test.py --tta 64 48``), or for several test crops per decoded
image (the multi-resolution sweeps, ``tools/eval_resolutions.py --tta 64,48``)."""
from __future__ import annotations

from typing import Sequence

from mmengine.config import Config

from .transforms import MultiResolutionTest, eval_resize_steps

_RESIZE_STEPS = ('ResizeEdge', 'CenterCrop', 'Resize', 'MultiResolutionTest')


def is_image_loader(step: dict) -> bool:
    """Whether a pipeline step decodes the image (mmcv's loader or the plugin's safe one)."""
    return str(step.get('type', '')).endswith('LoadImageFromFile')


def set_model_resolution(cfg: Config, resolution: int, crop_ratio: float) -> None:
    """Rewrites the test pipeline's resize steps for one resolution.

    The resize and crop steps (and a ``MultiResolutionTest``) are replaced by the standard
    resize-to-``resolution / crop_ratio`` + center crop, placed right after the image loader,
    with the config's ``eval_resize`` options if it has them (``backend``, ``interpolation``,
    ``rounding``; see ``transforms.eval_resize_steps``).

    Example:
        >>> set_model_resolution(cfg, 176, crop_ratio=0.875)  # ResizeEdge(201) + CenterCrop(176)
    """
    decode, rest = _split_at_loader(cfg.test_dataloader.dataset.pipeline)
    steps = eval_resize_steps(resolution, crop_ratio, **dict(cfg.get('eval_resize') or {}))
    cfg.test_dataloader.dataset.pipeline = decode + steps + rest


def set_multi_view_test(cfg: Config, resolutions: Sequence[int], crop_ratio: float) -> None:
    """Rewrites the test pipeline to make the standard test crop at every one of ``resolutions``
    from one decoded image: a ``MultiResolutionTest`` with the config's ``eval_resize`` options
    after the image loader. Each sample's ``inputs`` become its views, largest first, each
    exactly what :func:`set_model_resolution` gives at that size.

    Example:
        >>> set_multi_view_test(cfg, [64, 56, 48], crop_ratio=0.875)
    """
    decode, rest = _split_at_loader(cfg.test_dataloader.dataset.pipeline)
    views = dict(type=MultiResolutionTest.__name__, resolutions=[int(s) for s in resolutions], crop_ratio=crop_ratio,
                 **dict(cfg.get('eval_resize') or {}))
    cfg.test_dataloader.dataset.pipeline = decode + [views] + rest


def _split_at_loader(pipeline: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """The pipeline without its resize steps, split after the image loader (the first step if none)."""
    kept = [step for step in pipeline if step['type'] not in _RESIZE_STEPS]
    load_index = next((i for i, step in enumerate(kept) if is_image_loader(step)), 0)
    return kept[:load_index + 1], kept[load_index + 1:]


def set_multi_resolution_tta(cfg: Config, resolutions: Sequence[int], crop_ratio: float) -> None:
    """Tests every image at several resolutions and averages the softmax scores.

    mmpretrain's own test-time augmentation does the work: the test pipeline becomes a
    ``TestTimeAug`` with one resize + center crop per resolution (the standard test crop,
    with the config's ``eval_resize`` options), and the model is wrapped in
    ``AverageClsScoreTTA``. A SAN runs each view at its own resolution (proxy inference
    unless ``mode='ideal'``), so one checkpoint gives a free ensemble whose cost is the
    sum of the views' costs.

    Example:
        >>> set_multi_resolution_tta(cfg, [64, 48], crop_ratio=0.875)
    """
    sizes = [int(s) for s in resolutions]
    if len(sizes) < 2 or len(set(sizes)) != len(sizes) or min(sizes) <= 0:
        raise ValueError(f'multi-resolution testing needs two or more distinct positive resolutions, got {sizes}')
    decode, rest = _split_at_loader(cfg.test_dataloader.dataset.pipeline)
    options = dict(cfg.get('eval_resize') or {})
    views = [dict(type='Compose', transforms=eval_resize_steps(s, crop_ratio, **options)) for s in sizes]
    after = dict(type='Compose', transforms=rest)  # one stage of one choice (e.g. PackInputs)
    cfg.test_dataloader.dataset.pipeline = decode + [dict(type='TestTimeAug', transforms=[views, [after]])]
    cfg.model = dict(type='AverageClsScoreTTA', module=cfg.model)
