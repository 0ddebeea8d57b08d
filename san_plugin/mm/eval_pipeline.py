"""A config's test pipeline rewritten for one resolution (``tools/test.py --resolution S``, sweeps)."""
from __future__ import annotations

from mmengine.config import Config

from .transforms import eval_resize_steps

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
    pipeline = cfg.test_dataloader.dataset.pipeline
    kept = [step for step in pipeline if step['type'] not in _RESIZE_STEPS]
    load_index = next((i for i, step in enumerate(kept) if is_image_loader(step)), 0)
    steps = eval_resize_steps(resolution, crop_ratio, **dict(cfg.get('eval_resize') or {}))
    cfg.test_dataloader.dataset.pipeline = kept[:load_index + 1] + steps + kept[load_index + 1:]
