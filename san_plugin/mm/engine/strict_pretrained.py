"""StrictPretrained: mmengine's ``Pretrained`` initialisation, refusing a checkpoint that does not fit.

mmengine's ``Pretrained`` loads with ``strict=False`` and only logs what did not fit: a
checkpoint of another architecture or width initialises nothing, and training starts from
the random init without an error. Fine-tuning from a trained model must fail instead.
"""
from __future__ import annotations

from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit, update_init_info
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_with_prefix
from torch import nn


class StrictPretrainedInit(PretrainedInit):
    """Loads ``checkpoint`` (its ``prefix`` sub-tree, if given) into the module, every key and shape checked.

    Registered as ``'StrictPretrained'`` by :func:`~san_plugin.mm.engine.install_engine_fixes`.
    Nothing is loaded unless everything fits; the error names the checkpoint, the prefix
    and the first missing, unexpected and mis-shaped keys.

    Note: mmpretrain's ``ResNet`` skips its ``zero_init_residual`` only for the init type
    ``'Pretrained'``; with this one set ``zero_init_residual=False`` on the backbone.

    Args:
        checkpoint: a path or URL mmengine can load.
        prefix: the sub-tree to load, e.g. ``'backbone.'`` (the prefix is stripped).
        map_location: where the tensors are loaded.

    Example:
        >>> backbone = dict(type='ResNet', depth=18, zero_init_residual=False,
        ...                 init_cfg=dict(type='StrictPretrained', checkpoint='baseline.pth', prefix='backbone.'))
    """

    def __call__(self, module: nn.Module) -> None:
        print_log(f'load {self.prefix or "the model"} strictly from: {self.checkpoint}', logger='current')
        if self.prefix:
            state = _load_checkpoint_with_prefix(self.prefix, self.checkpoint, map_location=self.map_location)
        else:
            loaded = _load_checkpoint(self.checkpoint, map_location=self.map_location)
            state = loaded.get('state_dict', loaded) if isinstance(loaded, dict) else loaded
        own = module.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        shapes = [f'{k}: checkpoint {tuple(state[k].shape)}, model {tuple(own[k].shape)}' for k in own
                  if k in state and hasattr(state[k], 'shape') and tuple(state[k].shape) != tuple(own[k].shape)]
        if missing or unexpected or shapes:
            parts = [f'{label} ({len(keys)}): {keys[:3]}' for label, keys in
                     (('missing', missing), ('unexpected', unexpected), ('shape mismatch', shapes)) if keys]
            raise ValueError(f'checkpoint {self.checkpoint} (prefix {self.prefix!r}) does not fit '
                             f'{type(module).__name__}; nothing was loaded: ' + '; '.join(parts))
        module.load_state_dict(state, strict=True)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())
