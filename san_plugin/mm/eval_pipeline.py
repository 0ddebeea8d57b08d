"""A config's test pipeline rewritten for one resolution (``tools/test.py --resolution S``, sweeps),
or for several test crops per decoded image (multi-resolution testing, the cascade)."""
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
