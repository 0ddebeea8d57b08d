"""Beyond one machine: tools/dist_train.sh across "nodes" and tools/slurm_train.sh / slurm_test.sh
under a stand-in srun, on the CPU with gloo (two processes on this machine)."""
from __future__ import annotations

import json
import re
import sys

import pytest
import torch

from cluster_runs import (MAX_ITERS, config, dumps, fake_slurm, free_port, run_script, shared_images, start,
                          two_process_reference, wait_all)
from san_tools_helpers import REPO, tool_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    """One node of two processes (tools/dist_train.sh CONFIG 2), 2 x 2 images, center crops, SyncBN."""
    return two_process_reference(tmp_path_factory, deterministic=True)


def assert_same_ranks(run: list[dict], reference: list[dict]) -> None:
    """Every rank read the same images and holds the same parameters and statistics, bit for bit."""
    for rank, (mine, theirs) in enumerate(zip(run, reference)):
        assert mine['images'] == theirs['images'], rank
        assert mine['state_dict'].keys() == theirs['state_dict'].keys()
        for key, value in theirs['state_dict'].items():
            assert torch.equal(mine['state_dict'][key], value), (rank, key)


def test_two_nodes_of_one_process_train_as_one_node_of_two(tmp_path, tmp_path_factory, reference):
    """NNODES=2, NODE_RANK=0/1: two launcher invocations rendezvous on node 0's MASTER_ADDR:PORT."""
    cfg = config(tmp_path / 'config.py', shared_images(tmp_path_factory), tmp_path / 'dump', deterministic=True)
    env = {**tool_env(), 'NNODES': '2', 'MASTER_ADDR': '127.0.0.1', 'PORT': str(free_port()), 'PYTHON': sys.executable}
    nodes = [start(['bash', str(REPO / 'tools' / 'dist_train.sh'), str(cfg), '1', '--work-dir', str(tmp_path / 'work')],
                   dict(env, NODE_RANK=str(node)), tmp_path / f'node{node}.log') for node in (0, 1)]
    codes = wait_all(nodes)
    assert codes == [0, 0], [(tmp_path / f'node{n}.log').read_text()[-3000:] for n in (0, 1)]
    assert_same_ranks(dumps(tmp_path / 'dump', 2), dumps(reference / 'dump', 2))
    assert (tmp_path / 'work' / f'iter_{MAX_ITERS}.pth').is_file()


def srun_calls(log) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith('{')]


def test_slurm_scripts_run_under_srun_with_the_slurm_launcher(tmp_path, tmp_path_factory, reference):
    """tools/slurm_train.sh, then tools/slurm_test.sh, through a stand-in srun that starts two tasks
    on two "nodes" of one task each and sets SLURM_PROCID/NTASKS/LOCALID/NODELIST as Slurm does;
    --launcher slurm maps them (MASTER_ADDR through a stand-in scontrol) and starts gloo. Training
    ends bitwise equal to tools/dist_train.sh; no real Slurm is involved."""
    slurm = fake_slurm(tmp_path / 'slurm')
    env = dict(slurm, GPUS='2', GPUS_PER_NODE='1', CPUS_PER_TASK='1', SRUN_ARGS='--time=10 --exclusive')
    cfg = config(tmp_path / 'config.py', shared_images(tmp_path_factory), tmp_path / 'dump', deterministic=True)
    work = tmp_path / 'work'
    code = run_script('slurm_train.sh', 'debug', 'san_job', str(cfg), str(work), log=tmp_path / 'train.log', env=env)
    assert code == 0, (tmp_path / 'train.log').read_text()[-4000:]
    assert_same_ranks(dumps(tmp_path / 'dump', 2), dumps(reference / 'dump', 2))

    checkpoint = work / f'iter_{MAX_ITERS}.pth'
    code = run_script('slurm_test.sh', 'debug', 'san_eval', str(cfg), str(checkpoint), '--work-dir',
                      str(tmp_path / 'test'), log=tmp_path / 'test.log', env=env)
    output = (tmp_path / 'test.log').read_text()
    assert code == 0, output[-4000:]
    assert len(re.findall(r'accuracy/top1: [0-9.]+', output)) == 1, output[-3000:]  # rank 0 reports it once

    train, test = srun_calls(tmp_path / 'slurm' / 'calls.log')
    options = ['--partition=debug', '--gres=gpu:1', '--ntasks=2', '--ntasks-per-node=1', '--cpus-per-task=1',
               '--kill-on-bad-exit=1', '--time=10', '--exclusive']
    assert train['srun'] == options[:1] + ['--job-name=san_job'] + options[1:]
    assert test['srun'] == options[:1] + ['--job-name=san_eval'] + options[1:]
    assert train['command'] == [sys.executable, '-u', str(REPO / 'tools' / 'train.py'), str(cfg), f'--work-dir={work}',
                                '--launcher=slurm']
    assert test['command'] == [sys.executable, '-u', str(REPO / 'tools' / 'test.py'), str(cfg), str(checkpoint),
                               '--work-dir', str(tmp_path / 'test'), '--launcher=slurm']
    scontrol = [line for line in (tmp_path / 'slurm' / 'calls.log').read_text().splitlines()
                if line.startswith('scontrol')]
    assert scontrol and set(scontrol) == {'scontrol show hostnames sanfake[1-2]'}, scontrol
