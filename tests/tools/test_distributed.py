"""Distributed training on the CPU: tools/dist_train.sh with 2 processes (gloo, DDP)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from san_tools_helpers import run_tool, write_config

pytestmark = pytest.mark.slow
ITERS = 3


def train(root: Path, image_folder: Path, nproc: int, batch_size: int, extra: str = '') -> dict:
    """Trains ITERS iterations on a deterministic pipeline; returns every rank's dump (and the work dir)."""
    dump = root / 'dump'
    config = write_config(root / 'config.py', image_folder, max_iters=ITERS, ckpt_interval=ITERS,
                          batch_size=batch_size, random_crop=False, lr=0.01,
                          custom_hooks=[dict(type='DumpStateHook', out_dir=str(dump))], extra=extra)
    if nproc == 1:
        run_tool('train.py', str(config), '--work-dir', str(root / 'work'))
    else:
        run_tool('dist_train.sh', str(config), str(nproc), '--work-dir', str(root / 'work'))
    dumps = {rank: torch.load(dump / f'rank{rank}.pth') for rank in range(nproc)}
    dumps['work_dir'] = root / 'work'
    return dumps


@pytest.fixture(scope='module')
def single(image_folder, tmp_path_factory) -> dict[int, dict]:
    return train(tmp_path_factory.mktemp('single'), image_folder, 1, batch_size=4)


@pytest.fixture(scope='module')
def synced(image_folder, tmp_path_factory) -> dict[int, dict]:
    """2 processes x 2 images, per-resolution BN converted to SyncBatchNorm."""
    return train(tmp_path_factory.mktemp('synced'), image_folder, 2, batch_size=2, extra="sync_bn = 'torch'\n")


def buffers(state: dict) -> dict:
    return {k: v for k, v in state.items() if 'running_' in k or 'num_batches' in k}


def params(state: dict) -> dict:
    return {k: v for k, v in state.items() if k not in buffers(state)}


def test_ranks_hold_identical_weights_and_synced_bn_statistics(synced):
    rank0, rank1 = synced[0]['state_dict'], synced[1]['state_dict']
    assert any('branches.24.running_mean' in k for k in buffers(rank0))
    for key, value in rank0.items():
        assert torch.equal(rank1[key], value), key


def test_each_rank_reads_its_own_shard(synced, single):
    for step, batch in enumerate(single[0]['images']):
        shard0, shard1 = synced[0]['images'][step], synced[1]['images'][step]
        assert not set(shard0) & set(shard1)
        assert sorted(shard0 + shard1) == sorted(batch)  # 2 x B/2 is the single process's batch B


def test_gradients_all_reduced_once_per_iteration(synced):
    counts = synced[0]['allreduce']
    assert len(counts) == ITERS
    for step in counts:  # every bucket once, though each iteration runs two backward passes
        assert step and set(step.values()) == {1}, step


def test_two_processes_equal_one_process_on_the_combined_batch(synced, single):
    reference = single[0]['state_dict']
    for key, value in synced[0]['state_dict'].items():
        if value.is_floating_point():
            # Same maths, other summation order (per-rank partial sums, all-reduce): float rounding only.
            torch.testing.assert_close(value, reference[key], rtol=1e-4, atol=1e-5, msg=key)
        else:
            assert torch.equal(value, reference[key]), key


def test_without_sync_bn_weights_agree_but_bn_statistics_are_per_rank(image_folder, tmp_path):
    dumps = train(tmp_path, image_folder, 2, batch_size=2)
    rank0, rank1 = dumps[0]['state_dict'], dumps[1]['state_dict']
    for key, value in params(rank0).items():
        assert torch.equal(rank1[key], value), key
    assert any(not torch.equal(rank1[k], v) for k, v in buffers(rank0).items() if 'running_mean' in k)


MULTI_RESOLUTION_TEST = """
test_dataloader['dataset'].update(pipeline=val_pipeline, indices=7)
test_evaluator = dict(_delete_=True, type='ResolutionAccuracy', topk=(1, ))
"""


def accuracies(output: str) -> dict[str, float]:
    found = dict(re.findall(r'(accuracy/top1_\w+): ([0-9.]+)', output))
    assert set(found) == {'accuracy/top1_32', 'accuracy/top1_24', 'accuracy/top1_mean'}, output[-2000:]
    return found


def test_test_metrics_under_two_processes_equal_one_process(synced, image_folder, tmp_path):
    """Every resolution's top-1 on 7 images: rank 1's shard is padded with a repeat, which
    mmengine drops when it gathers the results."""
    checkpoint = synced['work_dir'] / f'iter_{ITERS}.pth'
    config = write_config(tmp_path / 'test.py', image_folder, extra=MULTI_RESOLUTION_TEST)
    one = run_tool('test.py', str(config), str(checkpoint), '--work-dir', str(tmp_path / 'one'))
    two = run_tool('dist_test.sh', str(config), str(checkpoint), '2', '--work-dir', str(tmp_path / 'two'))
    assert accuracies(two.stdout + two.stderr) == accuracies(one.stdout + one.stderr)


def _sync_bn_rank(rank: int, port: int, out: str) -> None:
    import torch.distributed as dist
    from san_plugin.mm.engine.sync_bn import CPUSyncBatchNorm
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=2)
    try:
        x, weight, upstream = _sync_bn_inputs()
        bn = CPUSyncBatchNorm(3)
        with torch.no_grad():
            bn.weight.copy_(weight)
        part = x[rank * 2:(rank + 1) * 2].clone().requires_grad_()
        (bn(part) * upstream[rank * 2:(rank + 1) * 2]).sum().backward()
        torch.save({'x_grad': part.grad, 'w_grad': bn.weight.grad,
                    'b_grad': bn.bias.grad, 'mean': bn.running_mean, 'var': bn.running_var}, f'{out}/{rank}.pth')
        dist.barrier()  # neither rank tears gloo down while the other still communicates (it aborted once under load)
    finally:
        dist.destroy_process_group()


def _sync_bn_inputs():
    gen = torch.Generator().manual_seed(0)
    return (torch.randn(4, 3, 5, 5, generator=gen) * 3 + 1, torch.rand(3, generator=gen) + 0.5,
            torch.randn(4, 3, 5, 5, generator=gen))


def test_cpu_sync_batchnorm_equals_batchnorm_on_the_whole_batch(tmp_path):
    """2 ranks x 2 images == 1 x 4: activations' gradients, summed parameter gradients, running stats."""
    from torch.multiprocessing import spawn
    from san_tools_helpers import free_port
    spawn(_sync_bn_rank, args=(free_port(), str(tmp_path)), nprocs=2)
    ranks = [torch.load(tmp_path / f'{r}.pth') for r in range(2)]
    x, weight, upstream = _sync_bn_inputs()
    bn = torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.weight.copy_(weight)
    x.requires_grad_()
    (bn(x) * upstream).sum().backward()
    torch.testing.assert_close(torch.cat([r['x_grad'] for r in ranks]), x.grad)
    torch.testing.assert_close(ranks[0]['w_grad'] + ranks[1]['w_grad'], bn.weight.grad)
    torch.testing.assert_close(ranks[0]['b_grad'] + ranks[1]['b_grad'], bn.bias.grad)
    for rank in ranks:
        torch.testing.assert_close(rank['mean'], bn.running_mean)
        torch.testing.assert_close(rank['var'], bn.running_var)
