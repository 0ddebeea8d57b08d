"""launch: Slurm's variables mapped to torch's, and the gloo group's collective timeout from the config."""
from __future__ import annotations

import datetime
import socket

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config

from san_plugin.mm.cli.launch import first_slurm_host, setup_distributed, slurm_environment



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


SLURM = dict(SLURM_PROCID='3', SLURM_NTASKS='4', SLURM_LOCALID='1', SLURM_NODELIST='gpu[07-08]')


@pytest.fixture
def scontrol(tmp_path, monkeypatch):
    """A stand-in ``scontrol`` on PATH that expands any node list to gpu07, gpu08 and logs its calls."""
    log = tmp_path / 'calls'
    script = tmp_path / 'scontrol'
    script.write_text(f'#!/usr/bin/env bash\necho "$*" >> {log}\nprintf "gpu07\\ngpu08\\n"\n')
    script.chmod(0o755)
    monkeypatch.setenv('PATH', f'{tmp_path}:/usr/bin:/bin')
    return log


def test_slurm_task_variables_become_torch_variables(scontrol):
    assert slurm_environment(SLURM) == dict(RANK='3', WORLD_SIZE='4', LOCAL_RANK='1', MASTER_ADDR='gpu07',
                                            MASTER_PORT='29500')
    assert scontrol.read_text() == 'show hostnames gpu[07-08]\n'
    assert slurm_environment(dict(SLURM, MASTER_PORT='1234'))['MASTER_PORT'] == '1234'
    assert slurm_environment(dict(SLURM, MASTER_PORT='1234'), port=4321)['MASTER_PORT'] == '4321'  # dist_cfg.port
    assert slurm_environment(dict(SLURM, MASTER_ADDR='head'))['MASTER_ADDR'] == 'head'
    assert scontrol.read_text().count('\n') == 3  # not asked when MASTER_ADDR is set


def test_missing_slurm_variables_and_scontrol_are_named(tmp_path, monkeypatch):
    with pytest.raises(KeyError, match='SLURM_NTASKS, SLURM_NODELIST'):
        slurm_environment(dict(SLURM_PROCID='0'))
    monkeypatch.setenv('PATH', str(tmp_path))
    with pytest.raises(RuntimeError, match=r"scontrol not found on PATH: cannot expand SLURM_NODELIST='gpu\[07-08\]'"):
        first_slurm_host('gpu[07-08]')


def test_slurm_launcher_without_a_gpu_starts_gloo_with_the_configured_timeout(scontrol, monkeypatch):
    """One task of a one-task job: RANK 0 of 1, gloo, the collective timeout from env_cfg.dist_cfg."""
    for name, value in dict(SLURM_PROCID='0', SLURM_NTASKS='1', SLURM_LOCALID='0', SLURM_NODELIST='gpu07',
                            MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port())).items():
        monkeypatch.setenv(name, value)
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = Config(dict(launcher='slurm', env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=7))))
    assert not dist.is_initialized()
    setup_distributed(cfg)
    try:
        assert (dist.get_rank(), dist.get_world_size(), dist.get_backend()) == (0, 1, 'gloo')
        assert cfg.env_cfg.dist_cfg.backend == 'gloo'
        backend = dist.distributed_c10d._get_default_group()._get_backend(torch.device('cpu'))
        assert backend.options._timeout == datetime.timedelta(seconds=7)
    finally:
        dist.destroy_process_group()
