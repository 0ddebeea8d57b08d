"""Reading a checkpoint of the official SAN training script (d-li14/SAN) without running its code.

The official ``imagenet.py`` saves ``{'epoch', 'arch', 'state_dict', 'best_prec1', 'optimizer'}``
with ``torch.save``; its models run inside ``nn.DataParallel``, so every weight name starts
with ``module.``. Files are read with ``torch.load(..., weights_only=True)``: a released file
holds tensors and plain values only, and one that references anything else is refused
rather than unpickled (unpickling could run arbitrary code).
"""
from __future__ import annotations

import os
import pickle
import zipfile
from typing import Any, Mapping, Union

import torch

DATA_PARALLEL_PREFIX = 'module.'
Checkpoint = Union[str, 'os.PathLike[str]', Mapping[str, Any]]


class OfficialCheckpointError(ValueError):
    """An official SAN checkpoint cannot be used as asked; the message names the file, key, shape
    or value that does not fit.

    Example:
        >>> try:
        ...     from_official('resnet50/checkpoint.pth.tar', 'resnet18')
        ... except OfficialCheckpointError as error:
        ...     print(error)  # names the first key whose shape differs
    """


def load_weights_only(path: str | os.PathLike) -> Any:
    """``torch.load(path, map_location='cpu', weights_only=True)`` with errors that say what happened.

    Raises:
        FileNotFoundError: no such file.
        OfficialCheckpointError: the pickle references something other than tensors and
            plain containers (refused, never unpickled), or the file is not a torch checkpoint.

    Example:
        >>> checkpoint = load_weights_only('checkpoint.pth.tar')
        >>> sorted(checkpoint)
        ['arch', 'best_prec1', 'epoch', 'optimizer', 'state_dict']
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as error:
        detail = str(error).strip().splitlines()
        reason = next((line.strip() for line in detail if 'GLOBAL' in line or 'global' in line), detail[0] if detail
                      else 'unsupported content')
        raise OfficialCheckpointError(
            f'refused to load {path}: {reason.rstrip(".")}. Only tensors and plain containers are read from a released '
            f'checkpoint (weights_only=True): anything else could run code when unpickled') from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as error:
        first = (str(error).strip() or type(error).__name__).splitlines()[0][:200]
        raise OfficialCheckpointError(f'{path} is not a readable torch checkpoint ({first})') from error


def official_state_dict(checkpoint: Checkpoint) -> dict[str, torch.Tensor]:
    """The model weights of an official checkpoint, with DataParallel's ``module.`` prefix removed.

    Args:
        checkpoint: a path to the official ``checkpoint.pth.tar`` / ``model_best.pth.tar``, the
            dict ``torch.load`` gives for it (its ``'state_dict'`` is used), or a state dict.

    Returns:
        ``{name: tensor}`` in the file's order.

    Raises:
        OfficialCheckpointError: the file cannot be read safely, or an entry is not a tensor.

    Example:
        >>> state = official_state_dict('checkpoint.pth.tar')
        >>> next(iter(state))
        'conv1.module.weight'
    """
    if isinstance(checkpoint, (str, os.PathLike)):
        checkpoint = load_weights_only(checkpoint)
    if not isinstance(checkpoint, Mapping):
        raise OfficialCheckpointError(f'expected a checkpoint dict or a state dict, got {type(checkpoint).__name__}')
    state = checkpoint['state_dict'] if 'state_dict' in checkpoint else checkpoint
    if not isinstance(state, Mapping) or not state:
        raise OfficialCheckpointError(f"the checkpoint's state dict is empty or not a dict ({type(state).__name__})")
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise OfficialCheckpointError(f'state dict entry {key!r} is a {type(value).__name__}, not a tensor')
    if all(key.startswith(DATA_PARALLEL_PREFIX) for key in state):
        return {key[len(DATA_PARALLEL_PREFIX):]: value for key, value in state.items()}
    return dict(state)
