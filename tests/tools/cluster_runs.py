"""Runs of the cluster tests: ranks started by hand (as torchrun or srun would), two-process
reference runs computed once per test session, a fake Slurm.

Every process is started in its own session, so that ``stop_all`` can kill it with
everything it started (torchrun's workers) and no test leaves a process behind.
"""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from image_layouts import write_image_folder
from script_runner import ScriptProcess
from san_tools_helpers import IMAGE_FOLDER, REPO, free_port, tool_env, write_config

RUN_TIMEOUT_S = 300
"""Wall-clock limit of one run on 2 loaded cores (a 2-process run of 6 iterations takes about 30 s)."""

MAX_ITERS = 6  # checkpoints every 2 iterations, lr halved after 3

DETERMINISTIC = "sync_bn = 'torch'\n"
"""With the center-crop pipeline: 2 processes x 2 images equal 1 process x 4 images up to float rounding."""


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen | ScriptProcess:
    """Starts ``command`` in the repo, in its own session, stdout and stderr to ``log`` (``python
    SCRIPT ...`` forked from the warm interpreter of ``script_runner``)."""
    with open(log, 'w') as out:
        if command[0] == sys.executable:
            return ScriptProcess(command[1], command[2:], env, REPO, log, log)
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop_all(procs: list[subprocess.Popen | ScriptProcess]) -> None:
    """SIGKILLs every process group still running (a stopped process dies too)."""
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def wait_all(procs: list[subprocess.Popen | ScriptProcess], timeout: float = RUN_TIMEOUT_S) -> list[int]:
    """Exit codes; raises ``TimeoutError`` (after killing them) if any runs past ``timeout``."""
    deadline = time.monotonic() + timeout
    try:
        for proc in procs:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired as error:
        raise TimeoutError(f'a process ran past {timeout} s: {error.cmd}') from error
    finally:
        stop_all(procs)
    return [proc.returncode for proc in procs]


def rank_env(rank: int, world_size: int, port: int, **extra: str) -> dict[str, str]:
    return dict(tool_env(), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                LOCAL_WORLD_SIZE=str(world_size), MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), **extra)


def start_ranks(config: Path, work_dir: Path, logs: Path, world_size: int = 2, *args: str) -> list[ScriptProcess]:
    """``tools/train.py --launcher pytorch`` once per rank, as torchrun would start them (no agent)."""
    port = free_port()
    logs.mkdir(parents=True, exist_ok=True)
    return [start([sys.executable, str(REPO / 'tools' / 'train.py'), str(config), '--launcher', 'pytorch',
                   '--work-dir', str(work_dir), *args], rank_env(rank, world_size, port), logs / f'rank{rank}.log')
            for rank in range(world_size)]


def run_script(script: str, *args: str, log: Path, env: dict[str, str] | None = None,
               timeout: float = RUN_TIMEOUT_S) -> int:
    """``bash tools/<script> args`` (a torchrun or srun wrapper), on a free port; its exit code."""
    env = {**tool_env(), 'PORT': str(free_port()), 'PYTHON': sys.executable, **(env or {})}
    return wait_all([start(['bash', str(REPO / 'tools' / script), *args], env, log)], timeout)[0]


def run_train(*args: str, log: Path, timeout: float = RUN_TIMEOUT_S) -> int:
    """``python tools/train.py args`` (one process); its exit code."""
    return wait_all([start([sys.executable, str(REPO / 'tools' / 'train.py'), *args], tool_env(), log)], timeout)[0]


def dumps(dump_dir: Path, world_size: int) -> list[dict]:
    """Every rank's ``DumpStateHook`` file."""
    return [torch.load(dump_dir / f'rank{rank}.pth') for rank in range(world_size)]


def config(path: Path, images: Path, dump: Path, *, deterministic: bool, batch_size: int = 2,
           hooks: list | None = None, extra: str = '') -> Path:
    """The cluster tests' config: 6 iterations, checkpoints every 2, a state dump at the end.

    ``deterministic``: center crops, SyncBN and lr 0.01 (runs over different world sizes agree up
    to rounding); else random crops and flips, lr 0.1 (a resumed run must replay their draws).
    """
    hooks = [dict(type='DumpStateHook', out_dir=str(dump))] + list(hooks or [])
    if deterministic:
        return write_config(path, images, max_iters=MAX_ITERS, ckpt_interval=2, batch_size=batch_size,
                            random_crop=False, lr=0.01, custom_hooks=hooks, extra=DETERMINISTIC + extra)
    return write_config(path, images, max_iters=MAX_ITERS, ckpt_interval=2, batch_size=batch_size,
                        custom_hooks=hooks, extra=extra)


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def shared_dir(tmp_path_factory) -> Path:
    """A folder all pytest-xdist workers of this session share (the session's own without xdist)."""
    run = os.environ.get('PYTEST_XDIST_TESTRUNUID')
    base = tmp_path_factory.getbasetemp()
    return base.parent / f'cluster-{run}' if run else base / 'cluster'


def shared_run(tmp_path_factory, name: str, make) -> Path:
    """``make(folder)`` once per test session, whichever worker or module asks first; returns the folder.

    Two-process reference runs cost about 30 s each on the 2 cores: computed once, not once per
    module and xdist worker.
    """
    root = shared_dir(tmp_path_factory)
    folder, done = root / name, root / f'{name}.done'
    with _locked(root / f'{name}.lock'):
        if not done.exists():
            folder.mkdir(parents=True, exist_ok=True)
            make(folder)
            done.touch()
    return folder


def shared_images(tmp_path_factory) -> Path:
    """The tests' image folder (``IMAGE_FOLDER``), shared like the reference runs that read it."""
    return shared_run(tmp_path_factory, 'images', lambda folder: write_image_folder(folder, **IMAGE_FOLDER))


def two_process_reference(tmp_path_factory, deterministic: bool) -> Path:
    """An uninterrupted ``tools/dist_train.sh CONFIG 2`` run (2 x 2 images): ``work/``, ``dump/``."""
    images = shared_images(tmp_path_factory)

    def make(root: Path) -> None:
        cfg = config(root / 'config.py', images, root / 'dump', deterministic=deterministic)
        code = run_script('dist_train.sh', str(cfg), '2', '--work-dir', str(root / 'work'), log=root / 'train.log')
        assert code == 0, (root / 'train.log').read_text()[-4000:]

    return shared_run(tmp_path_factory, f'reference_2x2_{"det" if deterministic else "random"}', make)


def one_process_reference(tmp_path_factory) -> Path:
    """An uninterrupted deterministic ``tools/train.py`` run of 1 process x 4 images."""
    images = shared_images(tmp_path_factory)

    def make(root: Path) -> None:
        cfg = config(root / 'config.py', images, root / 'dump', deterministic=True, batch_size=4)
        code = run_train(str(cfg), '--work-dir', str(root / 'work'), log=root / 'train.log')
        assert code == 0, (root / 'train.log').read_text()[-4000:]

    return shared_run(tmp_path_factory, 'reference_1x4_det', make)


FAKE_SRUN = r'''#!{python}
"""A stand-in for Slurm's srun on one machine: records its arguments, starts --ntasks copies of
the command with the variables srun gives every task, and with --kill-on-bad-exit=1 kills the
others when one fails."""
import json, os, signal, subprocess, sys, time
args = sys.argv[1:]
options, command = {{}}, []
for i, arg in enumerate(args):
    if not arg.startswith('-'):
        command = args[i:]
        break
    key, _, value = arg.lstrip('-').partition('=')
    options[key] = value
with open(os.environ['FAKE_SLURM_LOG'], 'a') as log:
    log.write(json.dumps({{'srun': args[:len(args) - len(command)], 'command': command}}) + '\n')
ntasks, per_node = int(options['ntasks']), int(options['ntasks-per-node'])
nodes = -(-ntasks // per_node)
procs = []
for task in range(ntasks):
    env = dict(os.environ, SLURM_PROCID=str(task), SLURM_NTASKS=str(ntasks), SLURM_LOCALID=str(task % per_node),
               SLURM_NODEID=str(task // per_node), SLURM_NNODES=str(nodes), SLURM_JOB_NAME=options['job-name'],
               SLURM_NODELIST='sanfake[1-%d]' % nodes)
    procs.append(subprocess.Popen(command, env=env))
while any(p.poll() is None for p in procs):
    if options.get('kill-on-bad-exit') == '1' and any(p.returncode not in (None, 0) for p in procs):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
    time.sleep(0.2)
sys.exit(next((p.returncode for p in procs if p.returncode), 0))
'''

FAKE_SCONTROL = r'''#!/usr/bin/env bash
# A stand-in for Slurm's scontrol: "scontrol show hostnames LIST" prints localhost once per node.
echo "scontrol $*" >> "$FAKE_SLURM_LOG"
[ "$1 $2" = "show hostnames" ] || exit 2
echo localhost
echo localhost
'''


def fake_slurm(folder: Path) -> dict[str, str]:
    """Writes ``srun`` and ``scontrol`` stand-ins into ``folder``; the environment that uses them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (('srun', FAKE_SRUN.format(python=sys.executable)), ('scontrol', FAKE_SCONTROL)):
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    return dict(PATH=os.pathsep.join([str(folder), tool_env()['PATH']]), FAKE_SLURM_LOG=str(folder / 'calls.log'))


def assert_bitwise_equal_runs(run: dict, reference: dict) -> None:
    """Two checkpoints hold the same iteration, weights, BN statistics, optimizer and scheduler state, bit for bit."""
    assert run['meta']['iter'] == reference['meta']['iter'] and run['meta']['epoch'] == reference['meta']['epoch']
    assert run['state_dict'].keys() == reference['state_dict'].keys()
    for key, value in reference['state_dict'].items():
        assert (torch.equal(run['state_dict'][key], value) if isinstance(value, torch.Tensor)
                else run['state_dict'][key] == value), key
    assert run['optimizer']['param_groups'] == reference['optimizer']['param_groups']
    for index, state in reference['optimizer']['state'].items():
        for name, value in state.items():
            assert torch.equal(run['optimizer']['state'][index][name], value), (index, name)
    assert run['param_schedulers'] == reference['param_schedulers']
