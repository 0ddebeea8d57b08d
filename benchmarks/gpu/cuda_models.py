"""The classifiers, optimizer wrappers and device batches the CUDA benchmark compares.

Every training variant is a ``SANClassifier`` around the same timm backbone with the same
head, data preprocessor and training step, built as the ImageNet configs build it:

- ``san``: the SAN (generated convolutions, private BN), kernels regenerated in the backward;
- ``san_kept``: the same with ``regenerate_kernels=False`` (faster step, one more copy of the
  conv weights at the peak);
- ``shared``: shared convolutions, private BN (``convs='shared'``), same resolutions;
- ``plain``: the unconverted network trained at the largest resolution alone.

The SAN variants take one uint8 view per sample (``MultiResolution(largest_only=True)``) and
make the smaller views on the device (``SANDataPreprocessor(resize_on_device=True)``).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from benchmarks.perf_common import NUM_CLASSES, build_classifier

VARIANTS = ('san', 'san_kept', 'shared', 'plain')


def build_variant(variant: str, model_name: str, resolutions: Sequence[int], device: str,
                  channels_last: bool) -> nn.Module:
    """One training variant (see the module docstring) on ``device``, in train mode: the CPU
    benchmark's classifier with the images resized on the device."""
    if variant not in VARIANTS:
        raise ValueError(f'unknown variant {variant!r}; known: {VARIANTS}')
    resolutions = sorted(resolutions, reverse=True)
    preprocessor = dict(to_rgb=True, non_blocking=True)
    if variant == 'plain':
        resolutions, convs = resolutions[:1], None
    else:
        convs = 'shared' if variant == 'shared' else 'meta'
        preprocessor.update(resize_on_device=True, resolutions=resolutions)
    model = build_classifier(model_name, resolutions, convs, regenerate_kernels=variant != 'san_kept',
                             preprocessor=preprocessor, channels_last=channels_last)
    return model.to(device).train()


def optim_wrapper(model: nn.Module, device: str, amp: bool, loss_scale: str | float = 'dynamic'):
    """SGD (momentum 0.9, wd 1e-4) in the wrapper ``tools/train.py`` picks: ``OptimWrapper`` for fp32;
    with ``amp``, mmengine's ``AmpOptimWrapper`` (fp16, ``loss_scale``: dynamic by default) on a GPU
    or ``CPUAmpOptimWrapper`` (bf16, no scaling) on the CPU."""
    from mmengine.optim import AmpOptimWrapper, OptimWrapper
    from san_plugin.mm import CPUAmpOptimWrapper
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    if not amp:
        return OptimWrapper(optimizer=optimizer)
    if device == 'cuda':
        return AmpOptimWrapper(optimizer=optimizer, loss_scale=loss_scale)
    return CPUAmpOptimWrapper(optimizer=optimizer)


def amp_name(device: str, amp: bool) -> str:
    if not amp:
        return 'fp32'
    return 'fp16 autocast + dynamic loss scale (AmpOptimWrapper)' if device == 'cuda' else \
        'bf16 autocast (CPUAmpOptimWrapper)'


def device_batch(size: int, batch: int, device: str, seed: int = 0) -> dict:
    """One uint8 ``(N, 3, size, size)`` view already on ``device`` (as ``default_collate`` gives it) and labels.

    Kept on the device so that the step times measure the model, not the host-to-device copy
    (the loader figure measures that side).
    """
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(seed)
    view = torch.randint(0, 256, (batch, 3, size, size), generator=gen, dtype=torch.uint8).to(device)
    return {'inputs': [view], 'data_samples': [DataSample().set_gt_label(i % NUM_CLASSES) for i in range(batch)]}


def state_bytes(model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the parameters, buffers and optimizer state (what a step's peak sits on)."""
    tensors = list(model.parameters()) + list(model.buffers())
    for state in optimizer.state.values():
        tensors += [v for v in state.values() if isinstance(v, torch.Tensor)]
    return sum(t.numel() * t.element_size() for t in tensors)


def plain_timm(model_name: str, device: str, channels_last: bool) -> nn.Module:
    """The original timm network (1000 classes), eval mode, for the latency figures."""
    import timm
    model = timm.create_model(model_name, pretrained=False, num_classes=NUM_CLASSES).to(device).eval()
    return model.to(memory_format=torch.channels_last) if channels_last else model
