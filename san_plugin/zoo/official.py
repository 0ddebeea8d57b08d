"""The paper's released ImageNet models as our SANs (timm models) and its baselines as plain timm models."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import torch
from torch import nn

from san_plugin.core import SANSpec, ScaleController, convert
from . import mobilenetv2, resnet
from .layout import Entry, branch_count, check_and_map, official_entries
from .official_file import Checkpoint, OfficialCheckpointError, official_state_dict

#: the training resolutions of the released SANs, branch ``i`` first (the paper's set, ``SANSpec``'s
#: default); the official encoding of branch ``i``, ``0.7 - 0.1 * i``, is our ``eps(S) = 0.1 * S / 32``
#: for exactly these.
OFFICIAL_RESOLUTIONS = SANSpec().resolutions
NUM_CLASSES = 1000


@dataclass(frozen=True)
class OfficialArch:
    """How one official architecture sits on a timm model.

    Attributes:
        timm_name: the timm host architecture.
        exclude: layers the official model keeps shared (our ``convert(exclude=...)``).
        namer: host model -> (our module name -> official module name).
        dead_keys: (host model, branch count) -> official keys that are read and dropped.
    """

    timm_name: str
    exclude: tuple[str, ...]
    namer: Callable[[nn.Module], Callable[[str], str]]
    dead_keys: Callable[[nn.Module, int], set[str]]


ARCHS = {
    'resnet18': OfficialArch('resnet18', ('conv1',), lambda _: resnet.official_namer('resnet18'), resnet.dead_keys),
    'resnet50': OfficialArch('resnet50', ('conv1',), lambda _: resnet.official_namer('resnet50'), resnet.dead_keys),
    'mobilenetv2': OfficialArch('mobilenetv2_100', (), mobilenetv2.official_namer, lambda model, branches: set()),
}
BASELINE_ARCHS = ('resnet18', 'resnet50')


def _arch(arch: str, known: tuple[str, ...] | dict = ARCHS) -> str:
    if arch not in known:
        raise ValueError(f'unknown official architecture {arch!r}; known: {sorted(known)}')
    return arch


def official_host(arch: str) -> nn.Module:
    """Our SAN with the official model's structure (weights not loaded yet): timm's host,
    converted for the official resolutions with the official shared layers excluded.

    Example:
        >>> official_host('resnet18').san.exclude
        ('conv1',)
    """
    import timm  # here, so that `import san_plugin` works without timm

    spec = ARCHS[_arch(arch)]
    model = timm.create_model(spec.timm_name, pretrained=False, num_classes=NUM_CLASSES)
    model, _ = convert(model, OFFICIAL_RESOLUTIONS, exclude=spec.exclude, init='pretrained')
    return model


def _check_branches(state: Mapping[str, torch.Tensor], arch: str) -> None:
    count, where = branch_count(state)
    if count == 0:
        hint = (f'; a baseline checkpoint (torchvision ResNet keys) loads with baseline_from_official(..., {arch!r})'
                if arch in BASELINE_ARCHS else '')
        raise OfficialCheckpointError(
            f'the checkpoint holds no BatchNorm2dParallel branch (no key with ".bn_<i>."): it is not an official SAN '
            f'checkpoint{hint}')
    if count != len(OFFICIAL_RESOLUTIONS):
        raise OfficialCheckpointError(
            f'the checkpoint holds {count} BN branches (bn_0..bn_{count - 1}, e.g. {where!r}); the official code '
            f'encodes branch i as 0.7 - 0.1 * i, which is our 0.1 * S / 32 only for the {len(OFFICIAL_RESOLUTIONS)} '
            f'branches {OFFICIAL_RESOLUTIONS} of the released models: {count} branches cannot be mapped to resolutions')


def san_state_from_official(state: Mapping[str, torch.Tensor], arch: str, model: nn.Module) -> dict[str, object]:
    """The complete state dict of ``model`` (from :func:`official_host`) filled from an official one.

    Every key and shape is checked before anything is converted; the result loads with
    ``model.load_state_dict(..., strict=True)``.

    Raises:
        OfficialCheckpointError: another architecture, width or branch count, naming the first
            key or shape that does not fit.
    """
    spec = ARCHS[_arch(arch)]
    _check_branches(state, arch)
    entries = official_entries(model, spec.namer(model))
    mapped: dict[str, object] = dict(check_and_map(state, entries, spec.dead_keys(model, len(OFFICIAL_RESOLUTIONS)),
                                                   f'SAN {arch}'))
    for name, module in model.named_modules():
        if isinstance(module, ScaleController):
            mapped[f'{name}._extra_state'] = module.get_extra_state()
    missing = set(model.state_dict()) - set(mapped)
    if missing:  # the host has state the official model does not: a mapping bug, not a bad file
        raise RuntimeError(f'no official counterpart for {sorted(missing)[:3]} of the {arch} host')
    return mapped


def from_official(checkpoint: Checkpoint, arch: str) -> nn.Module:
    """One of the paper's released SANs (d-li14/SAN) as our SAN: a converted timm model in eval mode.

    Its logits equal the official model's at each training resolution (224, 192, 160, 128,
    96 px; branch ``i`` of the official model is the ``i``-th of them), and like any SAN it runs
    other sizes by proxy inference. The official models expect inputs in [0, 1] (``ToTensor()``,
    no mean/std; see docs/model_zoo.md).

    Args:
        checkpoint: the official ``checkpoint.pth.tar`` (a path; read with ``weights_only=True``,
            never unpickled otherwise), the dict ``torch.load`` gave for it, or its state dict
            (with or without DataParallel's ``module.`` prefix).
        arch: ``'resnet18'``, ``'resnet50'`` or ``'mobilenetv2'``.

    Returns:
        timm ``resnet18``/``resnet50`` (stem conv shared) or ``mobilenetv2_100``, converted.

    Raises:
        OfficialCheckpointError: the file cannot be read safely, or it is of another
            architecture, width or branch count (the message names the first key or shape that
            does not fit; nothing is loaded).
        ValueError: an unknown ``arch``.

    Example:
        >>> net = from_official('san_resnet50/checkpoint.pth.tar', 'resnet50')
        >>> logits = net(torch.rand(1, 3, 160, 160))     # BN branch and encoding of 160 px
        >>> plain = san_plugin.bake(net, 128)               # a plain timm resnet50 for 128 px
    """
    _arch(arch)
    state = official_state_dict(checkpoint)
    model = official_host(arch)
    model.load_state_dict(san_state_from_official(state, arch, model), strict=True)
    return model.eval()


def baseline_from_official(checkpoint: Checkpoint, arch: str) -> nn.Module:
    """One of the paper's individually trained baselines (Table 1) as a plain timm model, eval mode.

    The official script trains torchvision's ``resnet18``/``resnet50`` inside DataParallel;
    torchvision's and timm's ResNet state dicts have the same keys and shapes.

    Args:
        checkpoint: the baseline's ``checkpoint.pth.tar`` (path, loaded dict or state dict).
        arch: ``'resnet18'`` or ``'resnet50'``.

    Raises:
        OfficialCheckpointError: naming the first key or shape that does not fit (nothing loaded).

    Example:
        >>> net = baseline_from_official('resnet18_160/checkpoint.pth.tar', 'resnet18')
        >>> logits = net(torch.rand(1, 3, 160, 160))
    """
    _arch(arch, BASELINE_ARCHS)
    state = official_state_dict(checkpoint)
    if branch_count(state)[0]:
        raise OfficialCheckpointError(f'the checkpoint holds BatchNorm2dParallel branches: it is a SAN, load it with '
                                      f'from_official(..., {arch!r})')
    import timm

    model = timm.create_model(arch, pretrained=False, num_classes=NUM_CLASSES)
    entries = [Entry(key, tuple(value.shape), key, torch.Tensor.clone, optional=key.endswith('num_batches_tracked'))
               for key, value in model.state_dict().items()]
    model.load_state_dict(check_and_map(state, entries, set(), f'{arch} baseline (torchvision layout)'), strict=True)
    return model.eval()
