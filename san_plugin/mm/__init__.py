"""MMPretrain/mmengine glue. Load with ``custom_imports = dict(imports=['san_plugin.mm'])``."""
from .checkpoint import install_atomic_checkpoint_saving, register_safe_checkpoint_loader
from .classifier import NonFiniteLossError, SANClassifier
from .head import SANClsHead
from .losses import ScaleDistillationLoss
from .metrics import ResolutionAccuracy
from .preprocessor import SANDataPreprocessor
from .transforms import MultiResolution, MultiResolutionTest
from .wrappers import SANDistributedDataParallel

register_safe_checkpoint_loader()  # weights_only loads with a narrow allowlist
install_atomic_checkpoint_saving()  # temp file + rename: the newest checkpoint is always whole

__all__ = [
    'MultiResolution', 'MultiResolutionTest', 'NonFiniteLossError', 'ResolutionAccuracy', 'SANClassifier',
    'SANClsHead', 'SANDataPreprocessor', 'SANDistributedDataParallel', 'ScaleDistillationLoss',
]
