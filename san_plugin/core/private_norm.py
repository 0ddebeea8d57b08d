"""PrivateBatchNorm2d: one batch norm per resolution."""
from __future__ import annotations

import copy

import torch
from torch import nn

from .controller import ScaleController
from .scale import branch_key


class PrivateBatchNorm2d(nn.Module):
    """Holds one copy of a batch-norm layer (a *branch*) per training (and calibrated) resolution.

    ``branches`` maps each branch's key (``'224'``) to the layer; the controller's active
    :class:`~san_plugin.core.scale.ResolutionPlan` names the one that runs. Each branch is
    a deep copy of the layer it replaces, so it keeps that layer's class and behaviour:
    timm's ``BatchNormAct2d`` keeps its activation and drop, and a ``SyncBatchNorm``
    stays synchronised. ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``
    reaches the branches as it would any batch norm. GroupNorm and LayerNorm have no
    batch statistics and are left shared by :func:`~san_plugin.core.convert`.

    Args:
        norm: the batch-norm layer to privatise.
        controller: the model's :class:`ScaleController` (its active plan names the branch).

    Example:
        >>> ctrl = ScaleController([64, 32])
        >>> bn = PrivateBatchNorm2d(nn.BatchNorm2d(8), ctrl)
        >>> sorted(bn.branches.keys())
        ['32', '64']
    """

    def __init__(self, norm: nn.Module, controller: ScaleController) -> None:
        super().__init__()
        self.branches = nn.ModuleDict({branch_key(r): copy.deepcopy(norm) for r in controller.bn_resolutions})
        object.__setattr__(self, '_controller', controller)

    @property
    def controller(self) -> ScaleController:
        return self._controller

    def branch(self, resolution: int) -> nn.Module:
        """The batch norm of one resolution."""
        key = branch_key(resolution)
        if key not in self.branches:
            raise KeyError(f'no BN branch for {resolution} px; branches: {list(self.branches.keys())}')
        return self.branches[key]

    def add_branch(self, resolution: int, source: int) -> nn.Module:
        """Adds a branch for ``resolution`` as a copy of the ``source`` branch and returns it."""
        new = copy.deepcopy(self.branch(source))
        self.branches[branch_key(resolution)] = new
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        plan = self._controller.plan
        try:  # plain dict lookups: this runs per layer per call
            norm = self._modules['branches']._modules[plan.bn_key]
        except KeyError:
            norm = self.branch(plan.bn_resolution)  # raises, naming the branches there are
        return norm(x)
