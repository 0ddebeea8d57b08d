"""Launching tools as MMPretrain's do (torchrun, Slurm), also on machines without a GPU.

mmengine's ``pytorch`` and ``slurm`` launchers call ``torch.cuda.set_device``, which fails
without a GPU: :func:`setup_distributed` creates a gloo process group first (the Runner then
skips its own ``init_dist``), and :func:`init_launcher` does the same for tools that run
without a Runner. For ``slurm``, Slurm's variables are mapped to the ones torch reads
(:func:`slurm_environment`), on every machine.
"""
from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.dist import init_dist

DEFAULT_MASTER_PORT = 29500
"""torch's default rendezvous port, also what mmengine's ``slurm`` launcher falls back to."""


def add_launch_args(parser: argparse.ArgumentParser, launchers=('none', 'pytorch', 'slurm', 'mpi')) -> None:
    """The arguments every tool shares with MMPretrain's: --cfg-options, --launcher, --local-rank.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_launch_args(parser)
    """
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries, key=value')
    parser.add_argument('--launcher', choices=list(launchers), default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_launch_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, exporting ``LOCAL_RANK`` as the launchers expect."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def slurm_environment(environ: Mapping[str, str] | None = None, port: int | None = None) -> dict[str, str]:
    """The torch.distributed variables of one Slurm task, from Slurm's own.

    ``RANK`` = ``SLURM_PROCID``, ``WORLD_SIZE`` = ``SLURM_NTASKS``, ``LOCAL_RANK`` =
    ``SLURM_LOCALID``, ``MASTER_ADDR`` = the first host of ``SLURM_NODELIST`` (expanded by
    ``scontrol show hostnames``) unless ``MASTER_ADDR`` is set, ``MASTER_PORT`` = ``port``,
    else ``MASTER_PORT``, else 29500: the mapping of mmengine's ``slurm`` launcher.

    Args:
        environ: the environment to read (default ``os.environ``).
        port: the rendezvous port (``env_cfg.dist_cfg.port`` in a config).

    Returns:
        The variables to export; ``environ`` is not changed.

    Raises:
        KeyError: a Slurm variable is missing (named in the message).
        RuntimeError: ``scontrol`` is missing or cannot expand the node list (both named).

    Example:
        >>> slurm_environment({'SLURM_PROCID': '1', 'SLURM_NTASKS': '2', 'SLURM_LOCALID': '1',
        ...                    'SLURM_NODELIST': 'n1', 'MASTER_ADDR': 'n1'})['RANK']
        '1'
    """
    environ = os.environ if environ is None else environ
    missing = [name for name in ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST') if name not in environ]
    if missing:
        raise KeyError(f'--launcher slurm needs {", ".join(missing)} in the environment (set by srun); '
                       f'run the tool through srun, e.g. tools/slurm_train.sh')
    rank, world_size = environ['SLURM_PROCID'], environ['SLURM_NTASKS']
    local_rank = environ.get('SLURM_LOCALID', str(int(rank) % max(torch.cuda.device_count(), 1)))
    master_port = str(port) if port is not None else environ.get('MASTER_PORT', str(DEFAULT_MASTER_PORT))
    master_addr = environ.get('MASTER_ADDR') or first_slurm_host(environ['SLURM_NODELIST'])
    return dict(RANK=rank, WORLD_SIZE=world_size, LOCAL_RANK=local_rank, MASTER_ADDR=master_addr,
                MASTER_PORT=master_port)


def first_slurm_host(node_list: str) -> str:
    """The first host name of a Slurm node list (``node[01-04]`` -> ``node01``), by ``scontrol``.

    Example:
        >>> first_slurm_host('gpu[3-4]')  # on a Slurm node
        'gpu3'
    """
    scontrol = shutil.which('scontrol')
    if scontrol is None:
        raise RuntimeError(f'scontrol not found on PATH: cannot expand SLURM_NODELIST={node_list!r} to the '
                           f'master host; set MASTER_ADDR')
    result = subprocess.run([scontrol, 'show', 'hostnames', node_list], capture_output=True, text=True,
                            timeout=60)
    hosts = result.stdout.split()
    if result.returncode != 0 or not hosts:
        raise RuntimeError(f'scontrol show hostnames {node_list!r} failed ({result.returncode}): '
                           f'{result.stderr.strip() or "no host names"}')
    return hosts[0]


def start_gloo(timeout_s: float | None = None) -> None:
    """Creates the default gloo process group from ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR/PORT``.

    Args:
        timeout_s: the collective timeout in seconds (``env_cfg.dist_cfg.timeout``, as
            mmengine's ``init_dist`` takes it); torch's default when None.

    Example:
        >>> start_gloo(timeout_s=600)  # in a process started by torchrun
    """
    kwargs = {} if timeout_s is None else dict(timeout=datetime.timedelta(seconds=timeout_s))
    dist.init_process_group(backend='gloo', **kwargs)


def init_launcher(launcher: str, timeout_s: float | None = None) -> str:
    """Starts the process group for tools that run without a Runner; returns the device.

    Example:
        >>> device = init_launcher('none')
        >>> device
        'cpu'
    """
    if launcher == 'slurm':
        os.environ.update(slurm_environment())
    if launcher != 'none' and not dist.is_initialized():
        if torch.cuda.is_available():
            init_dist(launcher, backend='nccl', **({} if timeout_s is None else dict(timeout=timeout_s)))
        else:
            start_gloo(timeout_s)
    return f'cuda:{torch.cuda.current_device()}' if torch.cuda.is_available() else 'cpu'


def setup_distributed(cfg: Config) -> None:
    """Prepares ``launcher='pytorch'`` and ``'slurm'``, with or without a GPU.

    ``slurm``: Slurm's variables are mapped to ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR`` and ``MASTER_PORT`` (:func:`slurm_environment`; ``env_cfg.dist_cfg.port``
    is the port). Without a GPU mmengine's launchers fail in ``torch.cuda.set_device``: the
    process group is created here with gloo and ``env_cfg.dist_cfg.timeout`` (seconds), the
    Runner then skips its own ``init_dist``, and ``SANDistributedDataParallel`` drops
    ``device_ids``. With a GPU the Runner's ``init_dist`` does it (nccl, the same timeout).

    Example:
        >>> cfg = load_config('configs/demo/san_resnet18_demo.py', launcher='pytorch')
        >>> setup_distributed(cfg)  # in a process started by tools/dist_train.sh
    """
    if cfg.launcher == 'none':
        return
    dist_cfg = cfg.env_cfg.setdefault('dist_cfg', {})
    if cfg.launcher == 'slurm':
        os.environ.update(slurm_environment(port=dist_cfg.get('port')))
    if torch.cuda.is_available():
        return
    dist_cfg['backend'] = 'gloo'
    if not dist.is_initialized():
        start_gloo(dist_cfg.get('timeout'))
