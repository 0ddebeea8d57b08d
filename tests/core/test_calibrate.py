"""BN calibration on data for test resolutions (ideal inference)."""
from __future__ import annotations

import os
import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from san_plugin.core import calibrate_bn, convert, interpolate_bn, private_norms, set_mode
from tiny_models import snapshot, tiny_san

RESOLUTIONS = (32, 16)


def image_batches(count: int = 6, size: int = 32, batch: int = 8, seed: int = 1) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, 3, size, size, generator=generator) * 1.5 + 0.3 for _ in range(count)]


# -- calibration ------------------------------------------------------------------------------
def test_calibration_changes_only_the_new_branch_statistics():
    model = tiny_san().train()
    before = snapshot(model)

    used = calibrate_bn(model, image_batches(), [24])

    assert used == {24: 48}
    after = snapshot(model)
    for key, value in before.items():  # every parameter and buffer that existed is bit-identical
        assert torch.equal(after[key], value), key
    new = sorted(set(after) - set(before))
    assert new and all('branches.24.' in key for key in new)
    for key in new:
        source = before[key.replace('branches.24.', 'branches.32.')]  # S(24) = 32 (a tie goes to the larger)
        if key.endswith(('weight', 'bias')):
            assert torch.equal(after[key], source), key  # affine parameters are copied, not calibrated
        elif key.endswith(('running_mean', 'running_var')):
            assert not torch.allclose(after[key], source), key
        elif key.endswith('num_batches_tracked'):
            assert after[key].item() == 6
    # modes, momenta and the SAN's inference mode are restored
    assert all(m.training for m in model.modules())
    assert all(m.momentum == 0.1 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert model.san.mode == 'proxy' and model.san.calibrated == (24,)


def test_a_source_branch_gives_a_table_2_row():
    """``source``: the new branch copies another training branch's affine parameters (a row S_j of the
    paper's Table 2); its statistics are still measured at T with eps(T)."""
    model = tiny_san().train()
    before = snapshot(model)
    nearest = tiny_san().train()
    calibrate_bn(model, image_batches(), [24], source=16)
    calibrate_bn(nearest, image_batches(), [24])
    after, default = snapshot(model), snapshot(nearest)
    means = []
    for key in sorted(set(after) - set(before)):
        if key.endswith(('weight', 'bias')):
            assert torch.equal(after[key], before[key.replace('branches.24.', 'branches.16.')]), key
        elif key.endswith('running_mean'):
            means.append(torch.allclose(after[key], default[key]))
    # the first BN sees the same conv output either way; the later ones see features that the
    # copied affine parameters of 16 px shaped
    assert means[0] and not all(means[1:]), means
    with pytest.raises(ValueError, match='source 20 px is not a training resolution'):
        calibrate_bn(tiny_san(), image_batches(), [24], source=20)


def test_calibrated_statistics_are_exact_averages_over_all_images():
    model = tiny_san().eval()
    batches = image_batches(count=5)
    calibrate_bn(model, [(b, torch.zeros(len(b))) for b in batches], [24])  # (images, labels) batches

    # the first BN sees conv1(x resized to 24) with the kernel for eps(24)
    kernel = model[0].kernel(model.san.encoding(24)).detach()
    features = torch.cat([F.conv2d(F.interpolate(b, size=(24, 24), mode='bilinear', antialias=True,
                                                 align_corners=False), kernel, padding=1) for b in batches])
    values = features.transpose(0, 1).flatten(1).double()
    branch = model[1].branch(24)
    torch.testing.assert_close(branch.running_mean, values.mean(1).float(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(branch.running_var, values.var(1, unbiased=True).float(), rtol=1e-5, atol=1e-6)
    assert not model.training


def test_callable_source_and_dict_batches_and_num_batches():
    model = tiny_san()
    sizes = []

    def batches_at(resolution):
        sizes.append(resolution)
        return ({'inputs': b} for b in image_batches(count=4, size=resolution))

    used = calibrate_bn(model, batches_at, [28, 20], num_batches=3)
    assert used == {28: 24, 20: 24} and sizes == [28, 20]
    assert model[1].branch(20).num_batches_tracked.item() == 3


def test_training_resolutions_are_skipped_refused_or_recalibrated():
    model = tiny_san()
    before = snapshot(model)
    assert calibrate_bn(model, image_batches(), [32, 16]) == {}
    assert all(torch.equal(v, before[k]) for k, v in snapshot(model).items())
    with pytest.raises(ValueError, match='training resolutions'):
        calibrate_bn(model, image_batches(), [32, 24], on_training='error')
    calibrate_bn(model, image_batches(), [16], on_training='recalibrate')
    assert not torch.equal(model[1].branch(16).running_mean, before['1.branches.16.running_mean'])
    assert torch.equal(model[1].branch(16).weight, before['1.branches.16.weight'])
    assert model.san.calibrated == ()


def test_bad_inputs_are_refused_clearly():
    model = tiny_san()
    with pytest.raises(ValueError, match='no batches'):
        calibrate_bn(model, [], [24])
    with pytest.raises(ValueError, match='float'):
        calibrate_bn(model, [torch.zeros(2, 3, 32, 32, dtype=torch.uint8)], [24])
    with pytest.raises(ValueError, match='on_training'):
        calibrate_bn(model, image_batches(), [24], on_training='maybe')


# -- a case built to need calibration --------------------------------------------------------
def brightness_batches(resolution: int, count: int = 8, batch: int = 32, seed: int = 0):
    """Images whose mean brightness grows with their size (resolution / 8); the label is
    whether an image is brighter (+0.5) or darker (-0.5) than its size's mean."""
    generator = torch.Generator().manual_seed(seed + resolution)
    for _ in range(count):
        labels = torch.randint(0, 2, (batch,), generator=generator)
        signal = (labels.float() * 2 - 1).view(-1, 1, 1, 1) * 0.5
        noise = 0.3 * torch.randn(batch, 1, resolution, resolution, generator=generator)
        yield resolution / 8 + signal + noise, labels


def brightness_san() -> nn.Module:
    """conv (identity) -> BN -> mean -> 'brighter than the BN mean?' classifier."""
    model = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.BatchNorm2d(1), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(1, 2))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[4].weight.copy_(torch.tensor([[-4.0], [4.0]]))
        model[4].bias.zero_()
    model, _ = convert(model, RESOLUTIONS, init='pretrained')
    calibrate_bn(model, brightness_batches, RESOLUTIONS, on_training='recalibrate')  # the "trained" statistics
    return model.eval()


def evaluate(model: nn.Module, resolution: int) -> tuple[float, float]:
    correct, total, loss = 0, 0, 0.0
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for images, labels in brightness_batches(resolution, seed=100):
            logits = model(images)
            correct += (logits.argmax(1) == labels).sum().item()
            loss += F.cross_entropy(logits, labels, reduction='sum').item()
            total += len(labels)
    return correct / total, loss / total


def test_calibration_recovers_accuracy_where_statistics_shift_with_resolution():
    model = brightness_san()
    for resolution in RESOLUTIONS:
        assert evaluate(model, resolution)[0] > 0.95

    proxy_acc, proxy_loss = evaluate(model, 24)  # BN of S(24) = 32 expects brightness 4, sees 3
    set_mode(model, 'ideal')
    interpolate_bn(model, [24])  # data-free: exactly halfway between the two branches here
    interp_acc, _ = evaluate(model, 24)
    model.san.calibrated = ()
    for norm in private_norms(model):
        del norm.branches['24']
    uncalibrated_acc, _ = evaluate(model, 24)  # ideal without a branch falls back to proxy
    calibrate_bn(model, brightness_batches, [24])
    ideal_acc, ideal_loss = evaluate(model, 24)

    assert proxy_acc < 0.6 and uncalibrated_acc < 0.6
    assert ideal_acc > 0.95 and ideal_loss < proxy_loss / 2
    assert interp_acc > 0.95  # the statistics are linear in the size in this toy


# -- distributed ------------------------------------------------------------------------------
def _distributed_worker(rank: int, world_size: int, store: str, out: str) -> None:
    os.environ.setdefault('GLOO_SOCKET_IFNAME', 'lo')
    torch.set_num_threads(1)
    torch.distributed.init_process_group('gloo', init_method=f'file://{store}', rank=rank, world_size=world_size)
    try:
        model = tiny_san()
        used = calibrate_bn(model, image_batches(count=6)[rank::world_size], [24, 20])
        if rank == 0:
            torch.save({'state': model.state_dict(), 'used': used}, out)
    finally:
        torch.distributed.destroy_process_group()


def test_distributed_calibration_equals_single_process_on_all_data(tmp_path):
    out = tmp_path / 'rank0.pt'
    # fork: the workers share this process's imports (spawning would re-import torch and timm twice)
    torch.multiprocessing.start_processes(_distributed_worker, args=(2, str(tmp_path / 'store'), str(out)),
                                          nprocs=2, join=True, start_method='fork')
    distributed = torch.load(out, weights_only=False)
    model = tiny_san()
    used = calibrate_bn(model, image_batches(count=6), [24, 20])

    assert distributed['used'] == used == {24: 48, 20: 48}
    single = model.state_dict()
    stats = [k for k in single if 'branches.24.' in k or 'branches.20.' in k]
    assert stats
    for key in stats:
        torch.testing.assert_close(distributed['state'][key].double(), single[key].double(), rtol=1e-5, atol=1e-5)
