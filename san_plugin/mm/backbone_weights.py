"""The trained weights a SAN's backbone starts from: set aside at build, loaded in ``init_weights()``.

MMPretrain reads ``Pretrained`` weights in ``init_weights()``, never while building, so a
model builds offline and ``tools/test.py`` with a trained checkpoint needs no other file.
``SANClassifier`` converts its backbone while building; the plain model's checkpoint is
mapped onto the converted layers later (:func:`san_plugin.core.san_state_from_plain`:
``B`` = the trained kernel, ``W = 0``, every BN branch a copy of the trained BN), with the
checks of ``StrictPretrained``: every key and shape of the plain model, or nothing.
"""
from __future__ import annotations

from torch import nn

from san_plugin.core import plain_state_shapes, san_state_from_plain
from .engine.strict_pretrained import StrictPretrainedInit

STRICT = 'StrictPretrained'


class PretrainedBackbone:
    """The ``StrictPretrained`` entries of a backbone's ``init_cfg``, loaded onto its SAN conversion.

    Args:
        init_cfgs: ``dict(type='StrictPretrained', checkpoint=..., prefix=...)`` entries.

    Example:
        >>> weights = PretrainedBackbone.take_from(backbone)  # at build: nothing is read
        >>> convert(backbone, [64, 32], init='pretrained')
        >>> weights.load_into(backbone)                         # in init_weights()
    """

    def __init__(self, init_cfgs: list[dict]) -> None:
        self.init_cfgs = list(init_cfgs)

    def __bool__(self) -> bool:
        return bool(self.init_cfgs)

    @classmethod
    def take_from(cls, backbone: nn.Module) -> 'PretrainedBackbone':
        """Removes the pretrained entries from ``backbone.init_cfg`` (its other inits stay) and returns them.

        Raises:
            ValueError: an mmengine ``'Pretrained'`` entry (it loads whatever fits and only logs
                the rest; a SAN backbone loads a checkpoint strictly, with ``'StrictPretrained'``).
        """
        init_cfg = getattr(backbone, 'init_cfg', None)
        entries = [init_cfg] if isinstance(init_cfg, dict) else list(init_cfg or [])
        if any(entry.get('type') == 'Pretrained' for entry in entries):
            raise ValueError(f"the SAN backbone {type(backbone).__name__} has init_cfg type 'Pretrained', which loads "
                             f"what fits and skips the rest; use type='{STRICT}' (same arguments): its checkpoint is "
                             f"loaded after the conversion, every key and shape checked")
        pretrained = [entry for entry in entries if entry.get('type') == STRICT]
        if pretrained:
            backbone.init_cfg = [entry for entry in entries if entry.get('type') != STRICT] or None
        return cls(pretrained)

    def load_into(self, backbone: nn.Module) -> None:
        """Loads every entry's plain checkpoint into the converted ``backbone``, all or nothing each.

        Raises:
            ValueError: the checkpoint does not hold exactly the plain backbone's keys and shapes,
                naming the checkpoint, the prefix and the first missing, unexpected and mis-shaped keys.
        """
        for entry in self.init_cfgs:
            loader = StrictPretrainedInit(**{key: value for key, value in entry.items() if key != 'type'})
            state = loader.read_state()
            loader.check_fits(state, plain_state_shapes(backbone), type(backbone).__name__)
            backbone.load_state_dict(san_state_from_plain(backbone, state), strict=True)
