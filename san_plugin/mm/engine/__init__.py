"""Fixes to mmengine, mmcv and mmpretrain that are not about SAN, one per module.

Every module here would serve any MMPretrain model: none imports the SAN (a test reads their
imports). The SAN's own runner is :mod:`san_plugin.mm.runner`; the tools' argument handling,
config reading and launcher set-up are :mod:`san_plugin.mm.cli`.

=====================  =====================================================================
``safe_load``          checkpoints load with ``weights_only=True`` and a narrow allowlist
                       (mmengine 0.10.7 + torch >= 2.6 cannot resume otherwise)
``atomic_save``        checkpoints and ``last_checkpoint`` are written atomically
``load_image``         ``SafeLoadImageFromFile``: decoding errors name the file, opt-in skip
``checked_dataset``    ``CheckedCustomDataset``: empty classes and missing files are errors
``folder_listing``     a split's class folders, listed as ``CustomDataset`` labels them
``class_folders``      ``check_class_folders``: every split's class folders against one class list
``evaluator_topk``     ``check_evaluator_topk``: no evaluator asks for a top-k above the head's classes
``sync_bn``            ``CPUSyncBatchNorm``: synchronised batch norm over gloo (no GPU)
``amp``                ``CPUAmpOptimWrapper`` (bf16 autocast without a GPU) and ``use_amp``
``random_state``       ``RandomStateHook``: a resumed epoch-based run draws the same augmentations
``strict_pretrained``  ``StrictPretrained`` init: a checkpoint that does not fit is an error, not a warning
``watchdog``           ``PeerWatchdog``: store heartbeats name a rank that died or stalled
``watchdog_hook``      ``DistWatchdogHook``: runs it in distributed training, stops the run in bounded time
=====================  =====================================================================

Importing these modules changes nothing global. :func:`install_engine_fixes` does it
all, in one explicit call: it registers the components under the names configs use and
installs the safe loader and the atomic writer into mmengine. ``import san_plugin.mm``
(what a config's ``custom_imports = dict(imports=['san_plugin.mm'])`` runs) calls it, and
adds the two config checks (``check_class_folders``, ``check_evaluator_topk``) to the runner.
"""
from __future__ import annotations

from mmengine.registry import HOOKS, OPTIM_WRAPPERS, WEIGHT_INITIALIZERS
from mmpretrain.registry import DATASETS, TRANSFORMS

from .amp import CPUAmpOptimWrapper
from .atomic_save import install_atomic_checkpoint_saving
from .checked_dataset import CheckedCustomDataset
from .load_image import BadImageError, SafeLoadImageFromFile
from .random_state import RandomStateHook
from .safe_load import register_safe_checkpoint_loader
from .strict_pretrained import StrictPretrainedInit
from .watchdog_hook import DistWatchdogHook

REGISTERED = ((TRANSFORMS, SafeLoadImageFromFile), (DATASETS, CheckedCustomDataset),
              (OPTIM_WRAPPERS, CPUAmpOptimWrapper), (HOOKS, RandomStateHook), (HOOKS, DistWatchdogHook))
"""``(registry, class)`` of every component :func:`install_engine_fixes` registers under its class name."""


def install_engine_fixes() -> None:
    """Registers the engine components and installs safe loading and atomic saving. Idempotent.

    * ``SafeLoadImageFromFile`` (mmpretrain ``TRANSFORMS``), ``CheckedCustomDataset``
      (``DATASETS``), ``CPUAmpOptimWrapper`` (mmengine ``OPTIM_WRAPPERS``),
      ``RandomStateHook`` and ``DistWatchdogHook`` (``HOOKS``), under their class names;
    * ``StrictPretrained`` (mmengine ``WEIGHT_INITIALIZERS``, :class:`StrictPretrainedInit`);
    * local checkpoints load through :func:`~san_plugin.mm.engine.safe_load.safe_load`
      (``register_safe_checkpoint_loader``);
    * local files mmengine writes, checkpoints and the ``last_checkpoint`` pointer, are
      written atomically (``install_atomic_checkpoint_saving``).

    Example:
        >>> from san_plugin.mm.engine import install_engine_fixes
        >>> install_engine_fixes()  # what `import san_plugin.mm` does
    """
    for registry, component in REGISTERED:
        registry.register_module(module=component, force=True)
    WEIGHT_INITIALIZERS.register_module(name='StrictPretrained', module=StrictPretrainedInit, force=True)
    register_safe_checkpoint_loader()
    install_atomic_checkpoint_saving()


__all__ = ['BadImageError', 'CPUAmpOptimWrapper', 'CheckedCustomDataset', 'DistWatchdogHook', 'REGISTERED',
           'RandomStateHook', 'SafeLoadImageFromFile', 'install_engine_fixes']
