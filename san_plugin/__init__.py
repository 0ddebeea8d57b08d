"""san_plugin: Scale Adaptive Networks for timm and MMPretrain.

``import san_plugin`` gives the core API and registers the ``san_*`` timm models.
MMPretrain users load ``san_plugin.mm`` through ``custom_imports`` in their config.
"""
from .core import (ConversionReport, MetaConv2d, PrivateBatchNorm2d, ResolutionSampling, SANSpec, ScaleEncoding,
                   bake, convert, get_controller, san_backward, san_resolution, scale_distillation_loss, set_mode)
from .zoo import from_official  # the paper's released checkpoints (imports timm only when called)

try:
    from . import timm  # noqa: F401  (registers san_* models and timm conv kinds)
except ImportError as error:  # timm is optional for the core
    if 'timm' not in str(error):
        raise

__version__ = '0.1.0'
__all__ = ['ConversionReport', 'MetaConv2d', 'PrivateBatchNorm2d', 'ResolutionSampling', 'SANSpec', 'ScaleEncoding',
           'bake', 'convert', 'from_official', 'get_controller', 'san_backward', 'san_resolution',
           'scale_distillation_loss', 'set_mode']
