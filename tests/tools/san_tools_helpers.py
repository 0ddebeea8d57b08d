"""Tiny image folders, tiny configs and subprocess runners for the tools tests.

Not named conftest: test modules import it, and other test folders have their own conftest.

Every run trains a narrow ResNet-18 SAN (8 base channels) at 32 and 24 px on a few
generated JPEGs, with a fixed seed, deterministic settings and no dataloader workers.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from script_runner import run_script

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DEMO_CONFIG = REPO / 'configs' / 'demo' / 'san_resnet18_demo.py'


IMAGE_FOLDER = dict(classes=('classA', 'classB'), per_split={'train': 8, 'val': 4}, sizes=((48, 40),))
"""``image_layouts.write_image_folder`` arguments of the tools tests' data: 8 train and 4 val
colour-cue JPEGs of 48x40 px per class."""


CONFIG = '''
_base_ = [{demo!r}]
custom_imports = dict(imports=['san_plugin.mm', 'san_test_hooks'], allow_failed_imports=False)
data_root = {data_root!r}
model = dict(
    backbone=dict(depth=18, base_channels=8, stem_channels=8),
    san=dict(resolutions={resolutions!r}),  # the one statement: the head, preprocessor and views follow it
    head=dict(num_classes=2, in_channels=64, topk=(1, )))
data_preprocessor = dict(num_classes=2)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    {train_views},
    dict(type='PackInputs'),
]
val_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiResolutionTest'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=37, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='PackInputs'),
]
loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(batch_size={batch_size}, **loader, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=4, **loader, dataset=dict(data_root=data_root, pipeline=val_pipeline))
test_dataloader = dict(batch_size=4, **loader, dataset=dict(data_root=data_root, pipeline=test_pipeline))
val_evaluator = dict(topk=(1, ))
test_evaluator = dict(topk=(1, ))
optim_wrapper = dict(optimizer=dict(lr={lr}))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, milestones=[3], gamma=0.5)]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters={max_iters}, val_interval={val_interval})
log_processor = dict(by_epoch=False)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(by_epoch=False, interval={ckpt_interval}, max_keep_ckpts=10, save_best=None))
randomness = dict(seed=0, deterministic=True)
custom_hooks = {custom_hooks!r}
'''


def write_config(path: Path, data_root: Path, *, resolutions=(32, 24), max_iters: int = 6, ckpt_interval: int = 2,
                 val_interval: int = 1000, batch_size: int = 4, lr: float = 0.1, random_crop: bool = True,
                 custom_hooks: list | None = None, extra: str = '') -> Path:
    """A tiny iteration-based config (``extra`` is appended as config text)."""
    views = ("dict(type='MultiResolution', crop_ratio_range=(0.35, 1.0))" if random_crop
             else "dict(type='MultiResolutionTest')")
    path.write_text(CONFIG.format(demo=str(DEMO_CONFIG), resolutions=list(resolutions), data_root=str(data_root),
                                  train_views=views, batch_size=batch_size, lr=lr, max_iters=max_iters,
                                  val_interval=val_interval, ckpt_interval=ckpt_interval,
                                  custom_hooks=custom_hooks or []) + extra)
    return path


def tool_env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONHASHSEED='0', CUDA_VISIBLE_DEVICES='')
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(HERE), str(REPO), env.get('PYTHONPATH')]))
    env['PATH'] = os.pathsep.join([str(Path(sys.executable).parent), env.get('PATH', '')])
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_tool(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs ``python tools/<script> ...`` (forked from a warm interpreter: ``script_runner``) or
    ``bash tools/<script>.sh`` (a subprocess, on a free port) in the repo."""
    script = str(REPO / 'tools' / args[0])
    env = tool_env()
    if script.endswith('.sh'):  # parallel test workers and other users must not share torchrun's port
        env.update(PORT=str(free_port()), PYTHON=sys.executable)
        result = subprocess.run(['bash', script, *args[1:]], cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=timeout)
    else:
        result = run_script(script, args[1:], env, REPO, timeout)
    if check and result.returncode != 0:
        raise AssertionError(f'{" ".join(result.args)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n'
                             f'{result.stderr[-6000:]}')
    return result
