"""Filling a converted SAN's state dict from the official layout (``ModuleParallel``, ``BatchNorm2dParallel``,
``nn.Linear(1, n)`` meta learners), checking every key and shape before anything is loaded.

The official layout, as read from d-li14/SAN ``models/imagenet/parallel.py`` and the model files:

* a generated convolution is ``<name>.weight`` ``(n, 1)`` and ``<name>.bias`` ``(n,)`` of an
  ``nn.Linear(1, n)``; the kernel for branch ``i`` is ``weight[:, 0] * eps_i + bias`` reshaped to
  ``(out, in / groups, kh, kw)``. That is our affine meta learner (``W``, ``B``) flattened.
* a private batch norm is ``<name>.bn_<i>.{weight,bias,running_mean,running_var,num_batches_tracked}``
  for branch ``i`` (``nn.BatchNorm2d``), branch ``i`` being the ``i``-th training resolution, largest first.
* a shared layer is ``<name>.module.<param>`` (``ModuleParallel``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence

import torch
from torch import nn

from san_plugin.core import MetaConv2d, PrivateBatchNorm2d, ScaleController
from .official_file import OfficialCheckpointError

BN_FIELDS = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
_BRANCH = re.compile(r'\.bn_(\d+)\.')


@dataclass(frozen=True)
class Entry:
    """One official tensor and where it goes.

    Attributes:
        official: the official key (no ``module.`` prefix of DataParallel).
        shape: the shape the official model has for it.
        ours: our state-dict key.
        convert: official tensor -> our tensor.
        optional: may be absent (``num_batches_tracked`` of files written by old PyTorch).
    """

    official: str
    shape: tuple[int, ...]
    ours: str
    convert: Callable[[torch.Tensor], torch.Tensor]
    optional: bool = False


def state_holders(module: nn.Module, prefix: str = '') -> Iterator[tuple[str, nn.Module]]:
    """The modules of a converted model that own state, outermost first: meta convs, private
    norms, and plain modules with parameters or buffers of their own (shared layers)."""
    for name, child in module.named_children():
        qualified = f'{prefix}{name}'
        if isinstance(child, ScaleController):
            continue
        if isinstance(child, (MetaConv2d, PrivateBatchNorm2d)) or child._parameters or child._buffers:
            yield qualified, child
        if not isinstance(child, (MetaConv2d, PrivateBatchNorm2d)):
            yield from state_holders(child, f'{qualified}.')


def _flat_to(shape: torch.Size) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda tensor: tensor.reshape(-1).reshape(shape).clone()


def meta_conv_entries(ours: str, conv: MetaConv2d, official: str) -> list[Entry]:
    """An official ``nn.Linear(1, n)`` meta learner onto our affine one."""
    if not hasattr(conv.meta, 'weight') or conv.meta.weight.shape != conv.meta.bias.shape:
        raise TypeError(f'{ours} has a {type(conv.meta).__name__} meta learner; the official one is affine '
                        f'(convert with meta_hidden=None)')
    kernel = conv.meta.bias.shape
    numel = conv.meta.bias.numel()
    return [Entry(f'{official}.weight', (numel, 1), f'{ours}.meta.weight', _flat_to(kernel)),
            Entry(f'{official}.bias', (numel,), f'{ours}.meta.bias', _flat_to(kernel))]


def private_norm_entries(ours: str, norm: PrivateBatchNorm2d, official: str,
                         resolutions: Sequence[int]) -> list[Entry]:
    """An official ``BatchNorm2dParallel`` (``bn_<i>``) onto our per-resolution branches."""
    entries = []
    for index, resolution in enumerate(resolutions):
        branch = norm.branch(resolution)
        for field in BN_FIELDS:
            tensor = getattr(branch, field, None)
            if tensor is None:
                continue
            entries.append(Entry(f'{official}.bn_{index}.{field}', tuple(tensor.shape),
                                 f'{ours}.branches.{resolution}.{field}', torch.Tensor.clone,
                                 optional=field == 'num_batches_tracked'))
    return entries


def shared_entries(ours: str, module: nn.Module, official: str) -> list[Entry]:
    """An official ``ModuleParallel(layer)`` onto our shared layer."""
    tensors = {**module._parameters, **{n: b for n, b in module._buffers.items()
                                        if n not in module._non_persistent_buffers_set}}
    return [Entry(f'{official}.module.{name}', tuple(tensor.shape), f'{ours}.{name}', torch.Tensor.clone)
            for name, tensor in tensors.items() if tensor is not None]


def official_entries(model: nn.Module, official_name: Callable[[str], str]) -> list[Entry]:
    """Every official tensor a converted model needs, in the model's order.

    Args:
        model: a SAN made by :func:`san_plugin.core.convert` (affine meta learners).
        official_name: our module name -> the official module name.
    """
    resolutions = next(m for m in model.modules() if isinstance(m, ScaleController)).resolutions
    entries: list[Entry] = []
    for name, module in state_holders(model):
        if isinstance(module, MetaConv2d):
            entries += meta_conv_entries(name, module, official_name(name))
            if module.bias is not None:
                raise TypeError(f'{name} has a conv bias; the official generated convolutions have none')
        elif isinstance(module, PrivateBatchNorm2d):
            entries += private_norm_entries(name, module, official_name(name), resolutions)
        else:
            entries += shared_entries(name, module, official_name(name))
    return entries


def branch_count(state: Mapping[str, torch.Tensor]) -> tuple[int, str | None]:
    """The number of BN branches (``bn_<i>``) an official state dict holds, and the key of the
    highest branch index seen (None when there are none)."""
    highest, where = -1, None
    for key in state:
        for found in _BRANCH.finditer(f'.{key}'):
            index = int(found.group(1))
            if index > highest:
                highest, where = index, key
    return highest + 1, where


def check_and_map(state: Mapping[str, torch.Tensor], entries: Sequence[Entry], ignored: set[str],
                  what: str) -> dict[str, torch.Tensor]:
    """Our tensors from an official state dict, refusing the first key or shape that does not fit.

    Checks, in this order: every needed key is present with the official shape (model order),
    then no key is left over except the ``ignored`` ones (the official files' dead modules).
    Nothing is converted before all checks pass.

    Args:
        state: the official state dict (no ``module.`` prefix).
        entries: what the target model needs (:func:`official_entries`).
        ignored: official keys read and dropped (dead modules).
        what: the model's name in messages, e.g. ``'SAN resnet18'``.

    Raises:
        OfficialCheckpointError: naming the first missing key, wrong shape or unexpected key.
    """
    for entry in entries:
        if entry.official not in state:
            if entry.optional:
                continue
            raise OfficialCheckpointError(
                f'the checkpoint has no key {entry.official!r}, which the official {what} has (shape '
                f'{entry.shape}): it is not a checkpoint of the official {what}')
        shape = tuple(state[entry.official].shape)
        if shape != entry.shape:
            raise OfficialCheckpointError(
                f'{entry.official!r} has shape {shape} in the checkpoint but {entry.shape} in the official {what}: '
                f'the checkpoint is of another architecture or width')
    known = {entry.official for entry in entries} | set(ignored)
    for key in state:
        if key not in known:
            raise OfficialCheckpointError(
                f'the checkpoint has a key {key!r} that the official {what} does not have: it is of another '
                f'architecture')
    mapped = {}
    for entry in entries:
        if entry.official in state:
            mapped[entry.ours] = entry.convert(state[entry.official])
        else:  # an optional counter missing from old files
            mapped[entry.ours] = torch.tensor(0, dtype=torch.long)
    return mapped
