"""Launching tools as MMPretrain's do, also on machines without a GPU.

mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device``, which fails without a
GPU: :func:`setup_distributed` creates a gloo process group first (the Runner then skips
its own ``init_dist``), and :func:`init_launcher` does the same for tools that run
without a Runner.
"""
from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.dist import init_dist


def add_launch_args(parser: argparse.ArgumentParser, launchers=('none', 'pytorch', 'slurm', 'mpi')) -> None:
    """The arguments every tool shares with MMPretrain's: --cfg-options, --launcher, --local-rank.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_launch_args(parser)
    """
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries, key=value')
    parser.add_argument('--launcher', choices=list(launchers), default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_launch_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """``parser.parse_args()``, exporting ``LOCAL_RANK`` as the launchers expect."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def init_launcher(launcher: str) -> str:
    """Starts the process group for tools that run without a Runner; returns the device."""
    if launcher != 'none':
        init_dist(launcher, backend='nccl' if torch.cuda.is_available() else 'gloo')
    return f'cuda:{torch.cuda.current_device()}' if torch.cuda.is_available() else 'cpu'


def setup_distributed(cfg: Config) -> None:
    """Prepares ``launcher='pytorch'`` on machines without a GPU.

    mmengine's launcher calls ``torch.cuda.set_device``, which fails without a GPU. On
    such a machine the process group is created here with gloo (the Runner then skips
    its own ``init_dist``), and ``SANDistributedDataParallel`` drops ``device_ids``.
    """
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
