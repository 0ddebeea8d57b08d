"""A model from a config and a checkpoint, as the tools need it (sweeps, calibration, export)."""
from __future__ import annotations

import copy

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS

from san_plugin.core import SANMetadataError

from .engine.quiet_init import init_logs_hidden
from .metadata_mismatch import explain_metadata_error
from .resolutions import BASELINE_SOURCE, training_sizes


def model_config(cfg: Config) -> dict:
    """``cfg.model`` with the top-level ``data_preprocessor`` merged in, as the Runner does."""
    model = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:
        model.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    return model


def build_from_config(cfg: Config) -> torch.nn.Module:
    """``MODELS.build`` of the config's model, without mmengine's per-parameter initialisation log
    (kept with the config's ``log_level='DEBUG'``).

    Example:
        >>> model = build_from_config(load_config('configs/demo/san_resnet18_demo.py'))
    """
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    with init_logs_hidden(cfg.get('log_level', 'INFO')):
        return MODELS.build(model_config(cfg))


def build_model(cfg: Config, checkpoint: str, device: str | torch.device = 'cpu') -> torch.nn.Module:
    """The config's model with the checkpoint's weights (safe loading), in eval mode.

    Raises:
        SANMetadataError: the checkpoint is of another SAN, naming the file and the settings to give.

    Example:
        >>> model = build_model(load_config('configs/demo/san_resnet18_demo.py'), 'work_dirs/demo/epoch_6.pth')
    """
    model = build_from_config(cfg)
    try:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    except SANMetadataError as error:
        raise explain_metadata_error(error, checkpoint, model) from error
    return model.to(device).eval()


def training_resolution(cfg: Config) -> int | None:
    """The resolution a plain model was trained at: its ``train_resolution``, else its train crop's size."""
    found = training_sizes(cfg)
    if found is not None and found[1] == BASELINE_SOURCE:
        return found[0][0]
    for step in cfg.get('train_dataloader', {}).get('dataset', {}).get('pipeline', []):
        if step.get('type') in ('RandomResizedCrop', 'Resize', 'CenterCrop'):
            scale = step.get('scale', step.get('crop_size'))
            return int(scale if isinstance(scale, int) else scale[0])
    return None
