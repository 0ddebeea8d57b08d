"""StrictPretrained: mmengine's ``Pretrained`` initialisation, refusing a checkpoint that does not fit.

mmengine's ``Pretrained`` loads with ``strict=False`` and only logs what did not fit: a
checkpoint of another architecture or width initialises nothing, and training starts from
the random init without an error. Fine-tuning from a trained model must fail instead.
"""
from __future__ import annotations

from typing import Any, Mapping

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
    ``'Pretrained'``; with this one set ``zero_init_residual=False`` on the backbone. (A
    ``SANClassifier`` loads its backbone's pretrained weights itself, after that init, with
    :meth:`read_state` and :meth:`check_fits`.)

    Args:
        checkpoint: a path or URL mmengine can load.
        prefix: the sub-tree to load, e.g. ``'backbone.'`` (the prefix is stripped).
        map_location: where the tensors are loaded.

    Example:
        >>> backbone = dict(type='ResNet', depth=18, zero_init_residual=False,
        ...                 init_cfg=dict(type='StrictPretrained', checkpoint='baseline.pth', prefix='backbone.'))
    """

    def __call__(self, module: nn.Module) -> None:
        state = self.read_state()
        self.check_fits(state, {key: tuple(getattr(value, 'shape', ())) for key, value in module.state_dict().items()},
                        type(module).__name__)
        module.load_state_dict(state, strict=True)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def read_state(self) -> dict[str, Any]:
        """The checkpoint's state dict (its ``prefix`` sub-tree, the prefix stripped, if given)."""
        print_log(f'load {self.prefix or "the model"} strictly from: {self.checkpoint}', logger='current')
        if self.prefix:
            return _load_checkpoint_with_prefix(self.prefix, self.checkpoint, map_location=self.map_location)
        loaded = _load_checkpoint(self.checkpoint, map_location=self.map_location)
        return loaded.get('state_dict', loaded) if isinstance(loaded, dict) else loaded

    def check_fits(self, state: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]], target: str) -> None:
        """Raises ``ValueError`` unless ``state`` holds exactly the ``expected`` keys and shapes.

        Args:
            state: from :meth:`read_state`.
            expected: key -> shape of what ``state`` must fill.
            target: what is initialised, for the message (e.g. ``'ResNet'``).
        """
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in expected]
        shapes = [f'{k}: checkpoint {tuple(state[k].shape)}, model {tuple(expected[k])}' for k in expected
                  if k in state and hasattr(state[k], 'shape') and tuple(state[k].shape) != tuple(expected[k])]
        if missing or unexpected or shapes:
            parts = [f'{label} ({len(keys)}): {keys[:3]}' for label, keys in
                     (('missing', missing), ('unexpected', unexpected), ('shape mismatch', shapes)) if keys]
            raise ValueError(f'checkpoint {self.checkpoint} (prefix {self.prefix!r}) does not fit '
                             f'{target}; nothing was loaded: ' + '; '.join(parts))
