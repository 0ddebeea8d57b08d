"""The whole SAN method in plain PyTorch (imports neither timm nor mmengine, mmcv, mmpretrain)."""
from .calibrate import calibrate_bn
from .controller import ScaleController
from .conv_kinds import register_conv_kind
from .convert import (ConversionReport, add_calibrated_branches, bake, convert, find_controller, get_controller,
                      private_norms, san_resolution, set_mode)
from .distill import kl_to_teachers, scale_distillation_loss
from .loss_form import LOSS_FORMS, LossForm, distillation_pairs
from .interpolate import interpolate_bn, interpolation_weights
from .meta_conv import MetaConv2d
from .meta_learner import AffineKernelGenerator, MLPKernelGenerator
from .plain_weights import plain_state_shapes, san_state_from_plain
from .private_norm import PrivateBatchNorm2d
from .sampling import ResolutionSampling
from .scale import ResolutionPlan, ScaleEncoding, input_resolution, nearest_resolution, validate_resolutions
from .spec import SANMetadataError, SANSpec
from .train_step import san_backward

__all__ = [
    'add_calibrated_branches', 'AffineKernelGenerator', 'bake', 'calibrate_bn', 'ConversionReport', 'convert',
    'distillation_pairs', 'find_controller', 'get_controller', 'input_resolution', 'interpolate_bn',
    'interpolation_weights', 'kl_to_teachers', 'LOSS_FORMS', 'LossForm', 'MetaConv2d', 'MLPKernelGenerator',
    'nearest_resolution', 'plain_state_shapes', 'private_norms', 'PrivateBatchNorm2d', 'register_conv_kind',
    'ResolutionPlan', 'ResolutionSampling', 'san_backward', 'san_resolution', 'san_state_from_plain', 'SANMetadataError', 'SANSpec',
    'scale_distillation_loss', 'ScaleController', 'ScaleEncoding', 'set_mode', 'validate_resolutions',
]
