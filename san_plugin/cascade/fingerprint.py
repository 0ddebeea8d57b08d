"""A fingerprint of a model's weights: which checkpoint a thresholds file was fitted for."""
from __future__ import annotations

import hashlib
from typing import Mapping

import torch
from torch import nn


def state_fingerprint(state_dict: Mapping[str, object]) -> str:
    """``'sha256:<hex>'`` of every tensor of a state dict (names, dtypes, shapes and bytes, in name order).

    Entries that are not tensors (a SAN's ``san._extra_state`` metadata) are left out. A model
    and the checkpoint it was loaded from (``strict=True``) give the same fingerprint.

    Example:
        >>> state_fingerprint(nn.Linear(2, 2).state_dict())[:7]
        'sha256:'
    """
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name]
        if not isinstance(tensor, torch.Tensor):
            continue
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f'{name}|{tensor.dtype}|{tuple(tensor.shape)}|'.encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return f'sha256:{digest.hexdigest()}'


def model_fingerprint(model: nn.Module) -> str:
    """:func:`state_fingerprint` of ``model.state_dict()``.

    Example:
        >>> model_fingerprint(san) == model_fingerprint(copy.deepcopy(san))
        True
    """
    return state_fingerprint(model.state_dict())
