"""Resuming after a crash: a killed run, resumed, ends exactly where an uninterrupted one does."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import torch

from san_tools_helpers import REPO, run_tool, tool_env, write_config
from script_runner import ScriptProcess
from san_plugin.mm.engine.safe_load import safe_load

pytestmark = pytest.mark.slow
MAX_ITERS = 6  # checkpoints every 2 iterations, lr drops after 3


@pytest.fixture(scope='module')
def reference(image_folder, tmp_path_factory) -> dict:
    """The final checkpoint of an uninterrupted run."""
    root = tmp_path_factory.mktemp('reference')
    config = write_config(root / 'config.py', image_folder, max_iters=MAX_ITERS)
    run_tool('train.py', str(config), '--work-dir', str(root / 'work'))
    return safe_load(root / 'work' / f'iter_{MAX_ITERS}.pth', map_location='cpu')


def assert_same_training_state(resumed: dict, reference: dict, iters: int = MAX_ITERS) -> None:
    """Weights, per-resolution BN statistics, optimizer and scheduler state are bitwise equal."""
    assert resumed['meta']['iter'] == reference['meta']['iter'] == iters
    assert resumed['state_dict'].keys() == reference['state_dict'].keys()
    assert any('branches.24.running_var' in k for k in reference['state_dict'])  # per-resolution BN is compared
    for key, value in reference['state_dict'].items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(resumed['state_dict'][key], value), key
        else:
            assert resumed['state_dict'][key] == value, key
    ref_opt, res_opt = reference['optimizer'], resumed['optimizer']
    assert res_opt['param_groups'] == ref_opt['param_groups']
    assert res_opt['state'].keys() == ref_opt['state'].keys() and ref_opt['state']
    for index, state in ref_opt['state'].items():
        for name, value in state.items():
            assert torch.equal(res_opt['state'][index][name], value), (index, name)
    assert resumed['param_schedulers'] == reference['param_schedulers']


def crash_config(path: Path, image_folder: Path, **hook) -> Path:
    return write_config(path, image_folder, max_iters=MAX_ITERS, custom_hooks=[dict(type='CrashHook', **hook)])


def test_self_killed_run_resumes_from_latest_to_identical_state(image_folder, tmp_path, reference):
    work = tmp_path / 'work'
    crashed = run_tool('train.py', str(crash_config(tmp_path / 'crash.py', image_folder, at_iter=3)),
                       '--work-dir', str(work), check=False)
    assert crashed.returncode == -signal.SIGKILL
    assert (work / 'iter_2.pth').is_file() and not (work / 'iter_4.pth').exists()
    config = write_config(tmp_path / 'config.py', image_folder, max_iters=MAX_ITERS)
    resumed = run_tool('train.py', str(config), '--work-dir', str(work), '--resume')
    assert 'resumed epoch: 0, iter: 2' in resumed.stdout + resumed.stderr
    assert_same_training_state(safe_load(work / f'iter_{MAX_ITERS}.pth', map_location='cpu'), reference)


SANDWICH = """
model['san']['sampling'] = dict(type='sandwich', num_random=1)
"""


def test_a_sampled_run_resumes_to_the_state_of_the_uninterrupted_one(image_folder, tmp_path):
    """Each step trains a drawn subset of 4 sizes; a run killed after iteration 3 and resumed from iteration 2
    draws what the uninterrupted run drew (else the weights and BN branches would differ)."""
    sizes = (32, 28, 24, 16)
    config = write_config(tmp_path / 'config.py', image_folder, resolutions=sizes, max_iters=MAX_ITERS, extra=SANDWICH)
    run_tool('train.py', str(config), '--work-dir', str(tmp_path / 'reference'))
    crash = write_config(tmp_path / 'crash.py', image_folder, resolutions=sizes, max_iters=MAX_ITERS, extra=SANDWICH,
                         custom_hooks=[dict(type='CrashHook', at_iter=3)])
    work = tmp_path / 'work'
    assert run_tool('train.py', str(crash), '--work-dir', str(work), check=False).returncode == -signal.SIGKILL
    run_tool('train.py', str(config), '--work-dir', str(work), '--resume')
    reference = safe_load(tmp_path / 'reference' / f'iter_{MAX_ITERS}.pth', map_location='cpu')
    assert any('branches.28.running_var' in k for k in reference['state_dict'])
    assert_same_training_state(safe_load(work / f'iter_{MAX_ITERS}.pth', map_location='cpu'), reference)


def test_externally_killed_run_resumes_from_path(image_folder, tmp_path, reference):
    work, marker = tmp_path / 'work', tmp_path / 'reached'
    config = crash_config(tmp_path / 'crash.py', image_folder, at_iter=4, action='wait', marker=str(marker))
    process = ScriptProcess(REPO / 'tools' / 'train.py', [str(config), '--work-dir', str(work)], tool_env(), REPO,
                            os.devnull, os.devnull)
    try:
        while not marker.exists():  # the run waits there, after writing iter_4.pth, until killed
            assert process.poll() is None, 'the run ended before reaching iteration 4'
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL and (work / 'iter_4.pth').is_file()
    # Resume from an explicit, older checkpoint: iterations 3 and 4 are trained again.
    config = write_config(tmp_path / 'config.py', image_folder, max_iters=MAX_ITERS)
    run_tool('train.py', str(config), '--work-dir', str(tmp_path / 'again'), '--resume', str(work / 'iter_2.pth'))
    assert_same_training_state(safe_load(tmp_path / 'again' / f'iter_{MAX_ITERS}.pth', map_location='cpu'), reference)


def test_kill_during_checkpoint_write_keeps_previous_checkpoint(image_folder, tmp_path):
    work = tmp_path / 'work'
    config = crash_config(tmp_path / 'crash.py', image_folder, at_iter=4, action='kill_mid_write')
    crashed = run_tool('train.py', str(config), '--work-dir', str(work), check=False)
    assert crashed.returncode == -signal.SIGKILL
    partial = [p for p in os.listdir(work) if p.startswith('.iter_4.pth.') and p.endswith('.tmp')]
    assert partial, os.listdir(work)  # the half-written temporary file of iter_4.pth
    assert not (work / 'iter_4.pth').exists()
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'iter_2.pth')
    assert safe_load(work / 'iter_2.pth', map_location='cpu')['meta']['iter'] == 2  # what --resume picks


EPOCHS = """
train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=3, val_interval=1000)
default_hooks = dict(checkpoint=dict(by_epoch=True, interval=1))
log_processor = dict(by_epoch=True)
"""


def test_epoch_based_run_resumes_to_identical_state(image_folder, tmp_path):
    """4 iterations an epoch; killed in epoch 3, resumed from epoch_2.pth. Needs RandomStateHook
    (in the default runtime): the next epoch's crops and flips come from the restored NumPy state."""
    config = write_config(tmp_path / 'config.py', image_folder, extra=EPOCHS)
    run_tool('train.py', str(config), '--work-dir', str(tmp_path / 'reference'))
    crash = write_config(tmp_path / 'crash.py', image_folder, extra=EPOCHS,
                         custom_hooks=[dict(type='CrashHook', at_iter=10)])
    work = tmp_path / 'work'
    assert run_tool('train.py', str(crash), '--work-dir', str(work), check=False).returncode == -signal.SIGKILL
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'epoch_2.pth')
    run_tool('train.py', str(config), '--work-dir', str(work), '--resume')
    assert_same_training_state(safe_load(work / 'epoch_3.pth', map_location='cpu'),
                               safe_load(tmp_path / 'reference' / 'epoch_3.pth', map_location='cpu'), iters=12)
