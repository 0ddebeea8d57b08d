"""PrivateBatchNorm2d: one batch norm per resolution, reached through the controller."""
import copy

import pytest
import torch
from torch import nn

from san_plugin.core import PrivateBatchNorm2d, ResolutionPlan, ScaleController, convert, private_norms
from tiny_models import randomize_bn_

RES = (64, 48, 32)


def private(norm=None):
    ctrl = ScaleController(RES)
    return PrivateBatchNorm2d(norm if norm is not None else randomize_bn_(nn.BatchNorm2d(6)), ctrl), ctrl


def test_one_copy_per_training_resolution():
    original = randomize_bn_(nn.BatchNorm2d(6, momentum=0.3, eps=1e-3))
    norm, _ = private(original)
    assert sorted(norm.branches.keys(), key=int) == ['32', '48', '64']
    for size in RES:
        branch = norm.branch(size)
        assert type(branch) is nn.BatchNorm2d and branch is not original
        assert (branch.momentum, branch.eps) == (0.3, 1e-3)
        for name, tensor in original.state_dict().items():
            assert torch.equal(branch.state_dict()[name], tensor)
    assert norm.branch(64).weight is not norm.branch(32).weight


def test_forward_uses_the_active_branch():
    norm, ctrl = private()
    for size in RES:
        randomize_bn_(norm.branch(size))
    norm.eval()
    x = torch.randn(2, 6, 5, 5)
    outputs = {}
    for size in RES:
        ctrl.activate(size)
        outputs[size] = norm(x)
        torch.testing.assert_close(outputs[size], norm.branch(size)(x))
    assert not torch.allclose(outputs[64], outputs[32])


def test_training_updates_only_the_active_branch_statistics():
    norm, ctrl = private()
    before = {size: norm.branch(size).running_mean.clone() for size in RES}
    ctrl.activate(48)
    norm.train()(torch.randn(4, 6, 5, 5) + 3.0)
    assert not torch.equal(norm.branch(48).running_mean, before[48])
    assert torch.equal(norm.branch(64).running_mean, before[64])
    assert torch.equal(norm.branch(32).running_mean, before[32])
    assert int(norm.branch(48).num_batches_tracked) == 1 and int(norm.branch(64).num_batches_tracked) == 0


def test_add_branch_copies_the_source_and_unknown_branch_is_a_key_error():
    norm, _ = private()
    new = norm.add_branch(56, 64)
    assert new is norm.branch(56) and new is not norm.branch(64)
    assert torch.equal(new.running_var, norm.branch(64).running_var)
    with pytest.raises(KeyError, match='40 px'):
        norm.branch(40)


def test_calibrated_resolutions_get_a_branch_at_construction():
    ctrl = ScaleController(RES)
    ctrl.calibrated = (56,)
    assert sorted(PrivateBatchNorm2d(nn.BatchNorm2d(3), ctrl).branches.keys(), key=int) == ['32', '48', '56', '64']


def test_sync_batchnorm_conversion_reaches_every_branch():
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), randomize_bn_(nn.BatchNorm2d(6)), nn.ReLU(),
                        nn.Conv2d(6, 6, 3, padding=1), randomize_bn_(nn.BatchNorm2d(6)))
    net, _ = convert(net, RES)
    for norm in private_norms(net):
        for size in RES:
            randomize_bn_(norm.branch(size))
    net.eval()
    reference = copy.deepcopy(net)
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    norms = list(private_norms(synced))
    assert len(norms) == 2
    assert all(type(branch) is nn.SyncBatchNorm for norm in norms for branch in norm.branches.values())
    for size in RES:
        x = torch.randn(2, 3, size, size)
        torch.testing.assert_close(synced(x), reference(x))


def test_forward_without_a_branch_for_the_active_resolution_names_it():
    norm, ctrl = private()
    ctrl.plan = ResolutionPlan.of(40, ctrl.encoding)  # e.g. a branch deleted after the plan was made
    with pytest.raises(KeyError, match='40 px'):
        norm(torch.randn(2, 6, 4, 4))


def test_the_active_plan_names_the_branch():
    norm, ctrl = private()
    x = torch.randn(2, 6, 4, 4)
    for size in RES:
        ctrl.activate(size)
        assert ctrl.plan.bn_key == str(size)
        torch.testing.assert_close(norm.eval()(x), norm.branch(size)(x))
