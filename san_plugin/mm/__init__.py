"""MMPretrain/mmengine glue for SAN. Load with ``custom_imports = dict(imports=['san_plugin.mm'])``.

The SAN components (classifier, head, losses, transforms, preprocessor, metric, DDP
wrapper, runner, multi-resolution testing) are registered into MMPretrain's and mmengine's registries when their modules
are imported. The fixes to the toolboxes that are not about SAN live in
:mod:`san_plugin.mm.engine`; importing this package installs them with one call,
:func:`~san_plugin.mm.engine.install_engine_fixes`. What the command-line tools share
(config reading, launchers, auto-resume) is :mod:`san_plugin.mm.cli`.

Needs the ``[mm]`` extra: ``pip install "san_plugin[mm]"`` (mmengine, mmcv-lite, mmpretrain).
"""
try:
    import mmcv  # noqa: F401
    import mmengine  # noqa: F401
    import mmpretrain  # noqa: F401
except ImportError as error:
    raise ModuleNotFoundError(
        f'san_plugin.mm needs the OpenMMLab toolboxes (mmengine, mmcv-lite, mmpretrain): '
        f'pip install "san_plugin[mm]" ({type(error).__name__}: {error})', name=error.name) from error
import warnings  # noqa: E402

with warnings.catch_warnings():  # mmcv-lite has no compiled ops and classification needs none: not worth a warning
    warnings.filterwarnings('ignore', message='Fail to import ``MultiScaleDeformableAttention``')
    import mmpretrain.models  # noqa: F401

from . import conv_kinds  # noqa: F401  (registers mmcv's Conv2dAdaptivePadding with the converter)
from .cascade import CascadeCost, SANCascadeClassifier
from .classifier import NonFiniteLossError, SANClassifier
from .engine import (BadImageError, CheckedCustomDataset, CPUAmpOptimWrapper, RandomStateHook, SafeLoadImageFromFile,
                     install_engine_fixes)
from .engine.class_folders import check_class_folders
from .engine.evaluator_topk import check_evaluator_topk
from .head import SANClsHead
from .losses import ScaleDistillationLoss
from .metrics import ResolutionAccuracy
from .preprocessor import SANDataPreprocessor
from .resolutions import ConflictingResolutionsError, apply_training_sizes
from .runner import SANRunner
from .transforms import MultiResolution, MultiResolutionTest
from .tta import MultiResolutionTTA
from .wrappers import SANDistributedDataParallel

install_engine_fixes()  # registered names (SafeLoadImageFromFile, CPUAmpOptimWrapper, ...), safe loads, atomic saves
SANRunner.add_config_step(apply_training_sizes)  # every training-size setting from the config's one statement
SANRunner.add_config_step(check_class_folders)  # one class list: every split's class folders checked against it
SANRunner.add_config_step(check_evaluator_topk)  # no evaluator asks for a top-k above the head's classes

__all__ = [  # the SAN components, then the engine components configs name (defined in san_plugin.mm.engine)
    'CascadeCost', 'SANCascadeClassifier', 'MultiResolution', 'MultiResolutionTest', 'MultiResolutionTTA',
    'NonFiniteLossError',
    'ResolutionAccuracy', 'SANClassifier', 'SANClsHead', 'SANDataPreprocessor', 'SANDistributedDataParallel',
    'SANRunner', 'ScaleDistillationLoss', 'ConflictingResolutionsError', 'apply_training_sizes',
    'BadImageError', 'CPUAmpOptimWrapper', 'CheckedCustomDataset', 'RandomStateHook',
    'SafeLoadImageFromFile', 'install_engine_fixes',
]
