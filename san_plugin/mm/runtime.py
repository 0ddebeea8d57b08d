"""What tools/train.py and tools/test.py share: config loading and distributed set-up."""
from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.dist import broadcast, init_dist
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner


def add_launch_args(parser: argparse.ArgumentParser, launchers=('none', 'pytorch', 'slurm', 'mpi')) -> None:
    """The arguments every tool shares with MMPretrain's: --cfg-options, --launcher, --local-rank."""
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


def load_config(path: str, cfg_options: dict | None = None, work_dir: str | None = None,
                launcher: str = 'none') -> Config:
    """Reads a config, applies ``--cfg-options`` and ``--work-dir`` as MMPretrain's tools do."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = os.path.join('./work_dirs', os.path.splitext(os.path.basename(path))[0])
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(field) is not None:
            loader = ConfigDict(pin_memory=torch.cuda.is_available(), collate_fn=dict(type='default_collate'))
            loader.update(cfg[field])
            cfg[field] = loader
    return cfg


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


@RUNNERS.register_module()
class SANRunner(Runner):
    """mmengine's ``Runner``, able to start distributed training of a SAN.

    After ``init_weights`` the Runner broadcasts every state-dict entry from rank 0;
    a SAN's state dict also holds its metadata (``san._extra_state``, a dict), which
    mmengine's ``broadcast`` refuses. This runner broadcasts the tensors only (the
    metadata is the same on every rank: it comes from the config).

    Example:
        >>> runner_type = 'SANRunner'  # in a config; tools/train.py uses it by default
    """

    def _init_model_weights(self) -> None:
        model = self.model.module if is_model_wrapper(self.model) else self.model
        if hasattr(model, 'init_weights'):
            model.init_weights()
            for value in model.state_dict().values():
                if isinstance(value, torch.Tensor):
                    broadcast(value)


def build_runner(cfg: Config) -> Runner:
    """The config's ``runner_type`` (default ``SANRunner``), built as MMPretrain's tools do."""
    return RUNNERS.build(cfg) if 'runner_type' in cfg else SANRunner.from_cfg(cfg)


def use_amp(cfg: Config) -> None:
    """``--amp``: fp16 with dynamic loss scaling on GPUs, bf16 autocast on the CPU."""
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    else:
        cfg.optim_wrapper.type = 'CPUAmpOptimWrapper'


def is_image_loader(step: dict) -> bool:
    """Whether a pipeline step decodes the image (mmcv's loader or the plugin's safe one)."""
    return str(step.get('type', '')).endswith('LoadImageFromFile')


def set_model_resolution(cfg: Config, resolution: int, crop_ratio: float) -> None:
    """Rewrites the test pipeline's resize steps for one resolution, with the config's
    ``eval_resize`` options if it has them (``backend``, ``interpolation``, ``rounding``; see
    ``transforms.eval_resize_steps``)."""
    from .transforms import eval_resize_steps
    pipeline = cfg.test_dataloader.dataset.pipeline
    steps = eval_resize_steps(resolution, crop_ratio, **dict(cfg.get('eval_resize') or {}))
    kept = [t for t in pipeline if t['type'] not in ('ResizeEdge', 'CenterCrop', 'Resize', 'MultiResolutionTest')]
    load_index = next((i for i, t in enumerate(kept) if is_image_loader(t)), 0)
    cfg.test_dataloader.dataset.pipeline = kept[:load_index + 1] + steps + kept[load_index + 1:]


