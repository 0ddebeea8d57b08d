"""Calibrated BN branches for test resolutions: exact statistics measured on data.

Ideal inference (the paper's Eqn. 5) runs a test resolution T with its own encoding
``eps(T)`` and batch-norm statistics measured at T. :func:`calibrate_bn` recomputes the
running mean and variance of a branch at T over training images resized to T, with
exact averages (the paper's Table 2 "after BN calibration"). The affine parameters stay
those of S(T), the nearest training resolution. The data-free alternative, branches
interpolated between the two neighbouring training branches, is
:mod:`san_plugin.core.interpolate`.

The SAN's mode is left alone; run the model with ``set_mode(model, 'ideal')`` to use the
new branches.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Mapping, Union

import torch
from torch import nn
from torch.nn import functional as F

from .convert import add_calibrated_branches, get_controller, private_norms
from .inference import model_device
from .scale import validate_resolutions
from .train_modes import train_modes_restored

Batches = Union[Iterable[Any], Callable[[int], Iterable[Any]]]
ON_TRAINING = ('skip', 'error', 'recalibrate')
_IMAGE_KEYS = ('inputs', 'images', 'image', 'img', 'pixel_values')


# -- reading and resizing batches -------------------------------------------------------
def batch_images(batch: Any) -> torch.Tensor:
    """The image tensor of a batch: a tensor, ``(images, labels, ...)`` or a dict.

    A dict is read at the first of the keys ``inputs``, ``images``, ``image``, ``img``,
    ``pixel_values``. The images must be a normalised float ``(N, C, H, W)`` tensor.

    Example:
        >>> batch_images((torch.zeros(2, 3, 8, 8), torch.tensor([0, 1]))).shape
        torch.Size([2, 3, 8, 8])
    """
    images = batch
    if isinstance(batch, Mapping):
        key = next((k for k in _IMAGE_KEYS if k in batch), None)
        if key is None:
            raise ValueError(f'a dict batch needs its images under one of {_IMAGE_KEYS}; got keys {list(batch)}')
        images = batch[key]
    elif isinstance(batch, (tuple, list)) and batch:
        images = batch[0]
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError(f'a calibration batch must hold an (N, C, H, W) image tensor, got {_describe(images)}')
    if not images.is_floating_point():
        raise ValueError(f'calibration images must be normalised float tensors, got dtype {images.dtype}; '
                         f'run the data preprocessor (normalisation) before calibrating')
    return images


def resize_to(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Resizes ``(N, C, H, W)`` images to ``resolution`` x ``resolution``.

    Antialiased bilinear interpolation, as the training pipeline's resize; images
    already of that size are returned as they are.

    Example:
        >>> resize_to(torch.zeros(1, 3, 64, 64), 48).shape
        torch.Size([1, 3, 48, 48])
    """
    if tuple(images.shape[-2:]) == (resolution, resolution):
        return images
    return F.interpolate(images, size=(resolution, resolution), mode='bilinear', align_corners=False,
                         antialias=True)


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f'a tensor of shape {tuple(value.shape)}'
    return f'a {type(value).__name__}'


# -- exact statistics of one BN layer -----------------------------------------------------
class _MomentAccumulator:
    """Per-channel count, sum and sum of squares of a BN layer's inputs, in float64."""

    def __init__(self, norm: nn.Module) -> None:
        device = norm.running_mean.device
        self.norm = norm
        self.count = torch.zeros((), dtype=torch.float64, device=device)
        self.sum = torch.zeros(norm.num_features, dtype=torch.float64, device=device)
        self.sum_sq = torch.zeros(norm.num_features, dtype=torch.float64, device=device)
        self.batches = 0

    def __call__(self, module: nn.Module, args: tuple) -> None:
        x = args[0].detach().to(torch.float64).transpose(0, 1).flatten(1)  # (C, N*H*W)
        self.count += x.shape[1]
        self.sum += x.sum(dim=1)
        self.sum_sq += (x * x).sum(dim=1)
        self.batches += 1

    def all_reduce(self) -> None:
        """Sums the moments of every process (a no-op without torch.distributed)."""
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return
        flat = torch.cat([self.count.view(1), self.sum, self.sum_sq,
                          torch.tensor([float(self.batches)], dtype=torch.float64, device=self.sum.device)])
        torch.distributed.all_reduce(flat)
        channels = self.sum.numel()
        self.count = flat[0]
        self.sum = flat[1:1 + channels]
        self.sum_sq = flat[1 + channels:1 + 2 * channels]
        self.batches = int(flat[-1].item())

    def write(self) -> None:
        """Stores the exact mean and unbiased variance as the layer's running statistics."""
        n = float(self.count.item())
        if n < 2:
            raise ValueError('BN calibration saw fewer than 2 values per channel; give it more images')
        mean = self.sum / n
        var = ((self.sum_sq - n * mean * mean) / (n - 1)).clamp_min(0)
        norm = self.norm
        norm.running_mean.copy_(mean.to(norm.running_mean.dtype))
        norm.running_var.copy_(var.to(norm.running_var.dtype))
        if getattr(norm, 'num_batches_tracked', None) is not None:
            norm.num_batches_tracked.fill_(self.batches)


def _has_running_stats(norm: nn.Module) -> bool:
    return getattr(norm, 'running_mean', None) is not None and getattr(norm, 'running_var', None) is not None


@contextmanager
def _calibration_state(model: nn.Module, resolution: int, norms: list[nn.Module]) -> Iterator[None]:
    """Eval mode and ideal inference at ``resolution``; the given BNs in train mode."""
    controller = get_controller(model)
    saved_mode = controller.mode
    momenta = {norm: norm.momentum for norm in norms}
    with train_modes_restored(model):
        try:
            model.eval()
            controller.mode = 'ideal'
            for norm in norms:
                norm.training = True  # only the layer itself: a BatchNormAct2d's drop stays in eval
                norm.momentum = None  # cumulative average; the exact moments overwrite it at the end
            with controller.resolution(resolution), torch.no_grad():
                yield
        finally:
            for norm, momentum in momenta.items():
                norm.momentum = momentum
            controller.mode = saved_mode


def _requested(model: nn.Module, resolutions: Iterable[int], on_training: str) -> list[int]:
    if on_training not in ON_TRAINING:
        raise ValueError(f'on_training must be one of {ON_TRAINING}, got {on_training!r}')
    controller = get_controller(model)
    wanted = validate_resolutions(resolutions)
    training = [r for r in wanted if r in controller.resolutions]
    if training and on_training == 'error':
        raise ValueError(f'{training} are training resolutions: they run with their own trained BN branch. '
                         f"Pass on_training='skip' to leave them, or 'recalibrate' to recompute their statistics")
    if on_training == 'skip':
        return [r for r in wanted if r not in controller.resolutions]
    return list(wanted)


def _branch_norms(model: nn.Module, resolution: int) -> list[nn.Module]:
    return [norm.branch(resolution) for norm in private_norms(model)
            if _has_running_stats(norm.branch(resolution))]


def calibrate_bn(
    model: nn.Module,
    batches: Batches,
    resolutions: Iterable[int],
    *,
    num_batches: int | None = None,
    on_training: str = 'skip',
    source: int | None = None,
) -> dict[int, int]:
    """Calibrates one BN branch per test resolution on data (ideal inference).

    For each test resolution T a branch is added, copied from S(T), the nearest training
    resolution (:func:`~san_plugin.core.add_calibrated_branches`; an existing calibrated
    branch is reused with its affine parameters). Its running mean and variance are then
    recomputed from scratch, with exact averages over every value each BN layer sees,
    while the model runs ideal
    inference at T (encoding ``eps(T)``) in eval mode, each calibrated BN layer in train
    mode and without autograd. As in precise-BN, a layer sees the activations of the
    layers before it normalised with the current batch's statistics, so use batches of a
    reasonable size (32 or more). Afterwards every parameter (the affine parameters
    included) and every other buffer is unchanged; the modules' train/eval modes, the
    BN momenta and the SAN's mode are restored.

    The moments are accumulated per channel as count, sum and sum of squares in float64;
    mean = sum / n and var = (sum_sq - n * mean^2) / (n - 1), the unbiased estimate that
    BN keeps as ``running_var``. Under an initialised ``torch.distributed`` these sums
    are all-reduced over the processes first, so calibrating with the data split over
    processes equals calibrating in one process on all of it (every process must call
    this with the same resolutions).

    Args:
        model: a SAN (see :func:`~san_plugin.core.convert`); pass the bare model, not a
            ``DistributedDataParallel`` wrapper (new branches add parameters).
        batches: where the images come from, one of
            * an iterable of batches (e.g. a ``DataLoader`` of the training pipeline at
              its usual size): each batch is resized to every T with antialiased
              bilinear interpolation. It is read once for all resolutions, so a one-shot
              generator works too;
            * a callable ``batches_at(T)`` returning an iterable of batches for T (images
              of another size are still resized to T): use it to make the images at T
              the way the data pipeline would, e.g. resize from the originals.
            A batch is an image tensor, a tuple/list whose first item is one, or a dict
            holding one under ``inputs``/``images``/``image``/``img``/``pixel_values``; the
            images must be normalised float ``(N, C, H, W)`` tensors. They are moved to
            the model's device.
        resolutions: the test resolutions to calibrate.
        num_batches: batches read per resolution (per process), all of them if None.
        on_training: what to do with a training resolution among ``resolutions``:
            ``'skip'`` it (its trained branch is already its ideal-inference branch),
            raise an ``'error'``, or ``'recalibrate'`` the statistics of its own trained
            branch in place (precise-BN style).
        source: the training resolution whose branch (affine parameters) each new branch
            copies before its statistics are measured; None: the nearest, S(T). Another
            one gives a row of the paper's Table 2 (BN of S_j, encoding and statistics of T).

    Returns:
        ``{T: number of images used}`` (over all processes) for every calibrated T.

    Example:
        >>> net, _ = convert(timm.create_model('resnet18'), [224, 160, 96])
        >>> calibrate_bn(net, train_loader, [192, 128], num_batches=50)
        {192: 3200, 128: 3200}
        >>> set_mode(net, 'ideal')  # 192 px now runs with eps(192) and its own statistics
    """
    todo = _requested(model, resolutions, on_training)
    if num_batches is not None and (isinstance(num_batches, bool) or num_batches <= 0):
        raise ValueError(f'num_batches must be a positive integer or None, got {num_batches!r}')
    if not todo:
        return {}
    add_calibrated_branches(model, [r for r in todo if r not in get_controller(model).resolutions], source)
    device = model_device(model)
    if callable(batches) and not isinstance(batches, (torch.Tensor, nn.Module)):
        images = {r: 0 for r in todo}
        accumulators = {}
        for resolution in todo:
            accumulators[resolution] = _new_accumulators(model, resolution)
            for batch in _limited(batches(resolution), num_batches):
                images[resolution] += _forward(model, batch, resolution, accumulators[resolution], device)
    else:
        accumulators = {r: _new_accumulators(model, r) for r in todo}
        images = {r: 0 for r in todo}
        for batch in _limited(batches, num_batches):
            for resolution in todo:
                images[resolution] += _forward(model, batch, resolution, accumulators[resolution], device)
    return {r: _finish(accumulators[r], images[r], device) for r in todo}


def _limited(batches: Iterable[Any], num_batches: int | None) -> Iterator[Any]:
    for index, batch in enumerate(batches):
        if num_batches is not None and index >= num_batches:
            return
        yield batch


def _new_accumulators(model: nn.Module, resolution: int) -> list[_MomentAccumulator]:
    return [_MomentAccumulator(norm) for norm in _branch_norms(model, resolution)]


def _forward(model: nn.Module, batch: Any, resolution: int, accumulators: list[_MomentAccumulator],
             device: torch.device) -> int:
    images = resize_to(batch_images(batch).to(device), resolution)
    norms = [acc.norm for acc in accumulators]
    handles = [acc.norm.register_forward_pre_hook(acc) for acc in accumulators]
    try:
        with _calibration_state(model, resolution, norms):
            model(images)
    finally:
        for handle in handles:
            handle.remove()
    return images.shape[0]


def _finish(accumulators: list[_MomentAccumulator], images: int, device: torch.device) -> int:
    total = torch.tensor(float(images), dtype=torch.float64, device=device)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(total)
    if total.item() == 0:
        raise ValueError('BN calibration got no batches: the loader is empty (or num_batches is 0)')
    with torch.no_grad():
        for acc in accumulators:
            acc.all_reduce()
            acc.write()
    return int(total.item())
