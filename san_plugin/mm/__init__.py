"""MMPretrain/mmengine glue. Load with ``custom_imports = dict(imports=['san_plugin.mm'])``."""
from .amp import CPUAmpOptimWrapper
from .checkpoint import install_atomic_checkpoint_saving, register_safe_checkpoint_loader
from . import conv_kinds  # noqa: F401  (registers mmcv's Conv2dAdaptivePadding)
from .classifier import NonFiniteLossError, SANClassifier
from .head import SANClsHead
from .hooks import RandomStateHook
from .loading import BadImageError, CheckedCustomDataset, SafeLoadImageFromFile
from .losses import ScaleDistillationLoss
from .metrics import ResolutionAccuracy
from .preprocessor import SANDataPreprocessor
from .runtime import SANRunner
from .transforms import MultiResolution, MultiResolutionTest
from .wrappers import SANDistributedDataParallel

register_safe_checkpoint_loader()  # weights_only loads with a narrow allowlist
install_atomic_checkpoint_saving()  # temp file + rename: the newest checkpoint is always whole

__all__ = [
    'BadImageError', 'CheckedCustomDataset', 'RandomStateHook', 'SafeLoadImageFromFile',
    'CPUAmpOptimWrapper', 'MultiResolution', 'MultiResolutionTest', 'NonFiniteLossError', 'ResolutionAccuracy',
    'SANClassifier', 'SANClsHead', 'SANDataPreprocessor', 'SANDistributedDataParallel', 'SANRunner', 'ScaleDistillationLoss',
]
