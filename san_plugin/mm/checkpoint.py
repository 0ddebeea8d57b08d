"""Deprecated alias: safe loading and atomic saving moved to :mod:`san_plugin.mm.engine`.

``docs/checkpoints.md`` showed ``from san_plugin.mm.checkpoint import safe_load,
install_atomic_checkpoint_saving`` to users outside this repository, so the old path
keeps working for one release (0.1.x) and warns on import. Use
``san_plugin.mm.engine.safe_load`` and ``san_plugin.mm.engine.atomic_save``.
"""
import warnings

from .engine.atomic_save import AtomicLocalBackend, atomic_save, install_atomic_checkpoint_saving
from .engine.safe_load import (CorruptCheckpointError, UnsafeCheckpointError, register_safe_checkpoint_loader,
                               safe_load)

__all__ = ['AtomicLocalBackend', 'CorruptCheckpointError', 'UnsafeCheckpointError', 'atomic_save',
           'install_atomic_checkpoint_saving', 'register_safe_checkpoint_loader', 'safe_load']

warnings.warn('san_plugin.mm.checkpoint moved to san_plugin.mm.engine.safe_load and san_plugin.mm.engine.atomic_save; '
              'the old path goes in the next release', DeprecationWarning, stacklevel=2)
