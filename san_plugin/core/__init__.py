"""The whole SAN method in plain PyTorch (imports neither timm nor mmengine, mmcv, mmpretrain)."""
from .calibrate import calibrate_bn
from .conv_kinds import register_conv_kind
from .convert import (DEFAULT_INIT, ConversionReport, add_calibrated_branches, bake, convert, find_controller,
                      get_controller, private_norms, san_resolution, set_mode)
from .distill import kl_to_teachers, scale_distillation_loss
from .loss_form import LOSS_FORMS, LossForm, distillation_pairs
from .interpolate import interpolate_bn, interpolation_weights
from .meta_conv import MetaConv2d
from .meta_learner import AffineKernelGenerator, MLPKernelGenerator
from .plain_weights import plain_state_shapes, san_state_from_plain
from .private_norm import PrivateBatchNorm2d
from .scale import (DEFAULT_ENCODING, DEFAULT_RESOLUTIONS, ResolutionPlan, SANMetadataError, ScaleController,
                    ScaleEncoding, input_resolution, nearest_resolution, validate_resolutions)

__all__ = [
    'AffineKernelGenerator', 'ConversionReport', 'LOSS_FORMS', 'LossForm', 'MLPKernelGenerator', 'MetaConv2d', 'PrivateBatchNorm2d',
    'ResolutionPlan', 'SANMetadataError', 'ScaleController', 'ScaleEncoding', 'add_calibrated_branches', 'bake',
    'calibrate_bn', 'convert', 'distillation_pairs', 'find_controller', 'get_controller', 'input_resolution', 'interpolate_bn',
    'interpolation_weights', 'kl_to_teachers', 'nearest_resolution', 'private_norms', 'register_conv_kind',
    'san_resolution', 'scale_distillation_loss', 'set_mode', 'validate_resolutions',
    'DEFAULT_ENCODING', 'DEFAULT_INIT', 'DEFAULT_RESOLUTIONS', 'plain_state_shapes', 'san_state_from_plain',
]
