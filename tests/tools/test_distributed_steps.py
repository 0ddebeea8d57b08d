"""Distributed train steps on the CPU (2 gloo processes): a non-finite loss on one rank, and
gradient accumulation."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from san_tools_helpers import REPO, free_port, run_tool, tool_env, write_config
from script_runner import ScriptProcess

pytestmark = pytest.mark.slow

# Far below gloo's 30-minute collective timeout, which is what a rank waiting for a stopped
# peer used to run into.
TIMEOUT_S = 240


def launch_ranks(config: Path, work_dir: Path, world_size: int = 2) -> list[subprocess.CompletedProcess]:
    """Runs tools/train.py once per rank (its own process, exit code and stderr), as torchrun would."""
    port = free_port()
    logs = work_dir.parent / 'rank_logs'
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    for rank in range(world_size):
        env = dict(tool_env(), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                   LOCAL_WORLD_SIZE=str(world_size), MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
        procs.append(ScriptProcess(REPO / 'tools' / 'train.py', [str(config), '--launcher', 'pytorch', '--work-dir',
                                                                   str(work_dir)], env, REPO,
                                   logs / f'rank{rank}.out', logs / f'rank{rank}.err'))
    results = []
    try:
        for rank, proc in enumerate(procs):
            proc.wait(timeout=TIMEOUT_S)  # raises TimeoutExpired if a rank hangs
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, (logs / f'rank{rank}.out').read_text(),
                                                       (logs / f'rank{rank}.err').read_text()))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def stop_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith('training stopped at iteration')]
    assert len(lines) == 1, stderr[-4000:]
    return lines[0]


def test_non_finite_loss_on_one_rank_stops_every_rank_with_the_same_message(image_folder, tmp_path):
    config = write_config(tmp_path / 'config.py', image_folder, max_iters=6, ckpt_interval=2, batch_size=2,
                          custom_hooks=[dict(type='RankPoisonHook', at_iter=5, rank=1)])
    work = tmp_path / 'work'
    ranks = launch_ranks(config, work)
    assert [r.returncode for r in ranks] == [1, 1], [r.stderr[-3000:] for r in ranks]
    message = stop_line(ranks[0].stderr)
    assert stop_line(ranks[1].stderr) == message
    assert message.startswith('training stopped at iteration 5 (epoch 1): the training loss at resolution 32 px '
                              'is nan, at resolution 24 px is nan on rank 1 (of 2 ranks) in iteration 5; the step '
                              'was not applied on any rank (')
    assert message.endswith(f'Newest checkpoint, from before the failure: {work / "iter_4.pth"}')
    assert sorted(p.name for p in work.glob('iter_*.pth')) == ['iter_2.pth', 'iter_4.pth']


ACCUMULATE = """
optim_wrapper.update(accumulative_counts=2)
sync_bn = 'torch'
"""
ITERS = 4


def dumps(root: Path, image_folder: Path, nproc: int, batch_size: int) -> dict:
    root.mkdir()
    dump = root / 'dump'
    config = write_config(root / 'config.py', image_folder, max_iters=ITERS, ckpt_interval=ITERS,
                          batch_size=batch_size, random_crop=False, lr=0.01, extra=ACCUMULATE,
                          custom_hooks=[dict(type='DumpStateHook', out_dir=str(dump))])
    if nproc == 1:
        run_tool('train.py', str(config), '--work-dir', str(root / 'work'))
    else:
        run_tool('dist_train.sh', str(config), str(nproc), '--work-dir', str(root / 'work'))
    return {rank: torch.load(dump / f'rank{rank}.pth') for rank in range(nproc)}


def test_accumulation_all_reduces_once_per_update_and_equals_one_process(image_folder, tmp_path):
    """accumulative_counts=2, 2 ranks x 2 images with SyncBN, against 1 process x 4 images
    with the same accumulation (BN couples the images of a batch, so an accumulated run does
    not equal one without accumulation at twice the batch; it equals the same accumulation
    over the combined per-rank batches)."""
    two = dumps(tmp_path / 'two', image_folder, 2, batch_size=2)
    one = dumps(tmp_path / 'one', image_folder, 1, batch_size=4)
    counts = two[0]['allreduce']
    assert len(counts) == ITERS
    for step, count in enumerate(counts):
        if step % 2 == 0:  # the first iteration of a window: every resolution under no_sync
            assert count == {}, (step, count)
        else:  # the last: every bucket once, though the window ran 2 x 2 backward passes
            assert count and set(count.values()) == {1}, (step, count)
    assert counts[1] == counts[3]
    for key, value in two[0]['state_dict'].items():
        assert torch.equal(two[1]['state_dict'][key], value), key
        if value.is_floating_point():
            # per-rank partial sums and the all-reduce add in another order: float rounding only
            torch.testing.assert_close(value, one[0]['state_dict'][key], rtol=1e-4, atol=1e-5, msg=key)
        else:
            assert torch.equal(value, one[0]['state_dict'][key]), key


SANDWICH = """
model['san']['sampling'] = dict(type='sandwich', num_random=1, seed=3)
"""


def test_a_sampled_step_draws_the_same_resolutions_on_every_rank(image_folder, tmp_path):
    """2 ranks, 4 training sizes, one of the two middle ones drawn per iteration: both ranks train the
    draw of (seed, iteration), their weights stay equal, and the draw is not the same every iteration."""
    from san_plugin.core.sampling import ResolutionSampling
    dump = tmp_path / 'dump'
    sizes = (32, 28, 24, 16)
    config = write_config(tmp_path / 'config.py', image_folder, resolutions=sizes, max_iters=6, ckpt_interval=6,
                          batch_size=2, extra=SANDWICH, custom_hooks=[dict(type='DumpStateHook', out_dir=str(dump))])
    run_tool('dist_train.sh', str(config), '2', '--work-dir', str(tmp_path / 'work'))
    ranks = [torch.load(dump / f'rank{rank}.pth') for rank in range(2)]
    expected = [list(ResolutionSampling('sandwich', 1, seed=3).draw(sizes, i)) for i in range(6)]
    assert ranks[0]['ran'] == ranks[1]['ran'] == expected
    assert len({tuple(r) for r in expected}) == 2
    for key, value in ranks[0]['state_dict'].items():  # BN statistics are per rank (no SyncBN here)
        if not key.endswith(('running_mean', 'running_var', 'num_batches_tracked')):
            assert torch.equal(ranks[1]['state_dict'][key], value), key
