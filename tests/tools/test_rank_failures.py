"""A rank that dies or stalls in a 2-process run: the other rank stops within a bound, naming it;
the newest checkpoint is intact; training resumes bit for bit, by hand or by torchrun's restart."""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from cluster_runs import (MAX_ITERS, assert_bitwise_equal_runs, config, run_script, shared_images, start_ranks,
                          stop_all, two_process_reference, wait_all)
from san_plugin.mm.engine.safe_load import safe_load

pytestmark = pytest.mark.slow
BOUND_SLACK_S = 60  # start-up and scheduling on 2 loaded cores, on top of the configured bound


@pytest.fixture(scope='module')
def reference(tmp_path_factory) -> dict:
    """The last checkpoint of an uninterrupted 2-process run (random crops and flips)."""
    root = two_process_reference(tmp_path_factory, deterministic=False)
    return safe_load(root / 'work' / f'iter_{MAX_ITERS}.pth', map_location='cpu')


def watchdog(timeout: float, interval: float = 1.0) -> str:
    return f'dist_watchdog = dict(timeout={timeout}, interval={interval})\n'


def crashing_config(root: Path, tmp_path_factory, action: str, at_iter: int, extra: str) -> Path:
    hook = dict(type='RankCrashHook', at_iter=at_iter, rank=1, action=action, marker=str(root / 'crashed'))
    return config(root / 'crash.py', shared_images(tmp_path_factory), root / 'dump', deterministic=False,
                  hooks=[hook], extra=extra)


def wait_for_exit(proc, since: float, limit: float) -> float:
    """Seconds from ``since`` (a time.time()) until ``proc`` exits; fails after ``limit`` seconds."""
    while proc.poll() is None:
        assert time.time() - since < limit, f'rank still running {limit:.0f} s after its peer was lost'
        time.sleep(0.1)
    return time.time() - since


def crash_and_wait(root: Path, cfg: Path, limit: float) -> tuple[list[int], float, dict, str]:
    """Starts 2 ranks; rank 1 crashes itself: (exit codes, seconds until rank 0 exited, marker, rank 0's log)."""
    procs = start_ranks(cfg, root / 'work', root / 'logs')
    marker = root / 'crashed'
    try:
        started = time.time()
        while not marker.exists():
            assert procs[0].poll() is None and time.time() - started < 300, (root / 'logs/rank0.log').read_text()[-3000:]
            time.sleep(0.1)
        time.sleep(0.2)  # the marker is written just before the signal
        crash = json.loads(marker.read_text())
        elapsed = wait_for_exit(procs[0], crash['time'], limit)
        codes = [procs[0].returncode, procs[1].poll()]
    finally:
        stop_all(procs)
    return codes, elapsed, crash, (root / 'logs' / 'rank0.log').read_text()


def assert_newest_checkpoint_intact(work: Path, iteration: int) -> None:
    assert (work / 'last_checkpoint').read_text().strip() == str(work / f'iter_{iteration}.pth')
    assert safe_load(work / f'iter_{iteration}.pth', map_location='cpu')['meta']['iter'] == iteration
    assert not list(work.glob(f'iter_{iteration + 2}.pth')) and not list(work.glob('.*.tmp'))


def test_killed_rank_is_named_and_the_run_resumes_bitwise(tmp_path, tmp_path_factory, reference):
    """SIGKILL to rank 1 after iteration 3: gloo's next collective fails on rank 0 at once; the
    watchdog's probe names rank 1 (host, pid) within seconds. Then --auto-resume on two processes
    continues from iter_2.pth to the uninterrupted run's final state, bit for bit."""
    cfg = crashing_config(tmp_path, tmp_path_factory, 'kill', at_iter=3, extra=watchdog(timeout=20))
    codes, elapsed, crash, log = crash_and_wait(tmp_path, cfg, limit=20 + BOUND_SLACK_S)
    assert codes == [1, -9], log[-3000:]
    lines = [line for line in log.splitlines() if 'stopped responding' in line]
    assert lines, log[-3000:]
    assert lines[-1].startswith(f'rank 1 ({socket.gethostname()}, pid {crash["pid"]}) stopped responding: '
                                f'no heartbeat for '), lines[-1]
    assert lines[-1].endswith(f'rank 0 of 2 stops at iteration 4. Newest checkpoint: {tmp_path / "work/iter_2.pth"}')
    print(f'rank 0 stopped {elapsed:.1f} s after rank 1 was killed')
    assert_newest_checkpoint_intact(tmp_path / 'work', 2)

    plain = config(tmp_path / 'config.py', shared_images(tmp_path_factory), tmp_path / 'dump2', deterministic=False)
    procs = start_ranks(plain, tmp_path / 'work', tmp_path / 'resumed', 2, '--auto-resume')
    assert wait_all(procs) == [0, 0], (tmp_path / 'resumed' / 'rank0.log').read_text()[-3000:]
    assert 'resumed epoch: 0, iter: 2' in (tmp_path / 'resumed' / 'rank0.log').read_text()
    assert_bitwise_equal_runs(safe_load(tmp_path / 'work' / f'iter_{MAX_ITERS}.pth', map_location='cpu'), reference)


def test_stalled_rank_is_named_within_the_watchdog_timeout(tmp_path, tmp_path_factory):
    """SIGSTOP to rank 1 after iteration 2: its sockets stay open, so gloo waits (as NCCL does for
    a dead peer) and only the heartbeat tells; rank 0 stops after the configured 8 s, not the
    30-minute collective timeout."""
    cfg = crashing_config(tmp_path, tmp_path_factory, 'stop', at_iter=2, extra=watchdog(timeout=8))
    codes, elapsed, crash, log = crash_and_wait(tmp_path, cfg, limit=8 + BOUND_SLACK_S)
    assert codes == [1, None], log[-3000:]  # rank 1 stays stopped until the test kills it
    assert elapsed >= 8 - 1.5, elapsed  # its last heartbeat came at most one interval before the marker
    line = next(line for line in log.splitlines() if line.startswith('rank 1 ('))
    assert line.startswith(f'rank 1 ({socket.gethostname()}, pid {crash["pid"]}) stopped responding: no heartbeat '
                           f'for '), line
    assert '(distributed watchdog, timeout 8 s); rank 0 of 2 stops at iteration 3.' in line, line
    print(f'rank 0 stopped {elapsed:.1f} s after rank 1 stalled')
    assert_newest_checkpoint_intact(tmp_path / 'work', 2)


def test_torchrun_restarts_the_group_which_resumes_by_itself(tmp_path, tmp_path_factory, reference):
    """MAX_RESTARTS=1: rank 1 kills itself once after iteration 3; torchrun stops rank 0, restarts
    both; auto_resume = True (config key) resumes from iter_2.pth; the run ends where an
    uninterrupted one does, bit for bit, and torchrun exits 0."""
    hook = dict(type='RankCrashHook', at_iter=3, rank=1, marker=str(tmp_path / 'crashed'), once=True)
    cfg = config(tmp_path / 'config.py', shared_images(tmp_path_factory), tmp_path / 'dump', deterministic=False,
                 hooks=[hook], extra='auto_resume = True\n')
    code = run_script('dist_train.sh', str(cfg), '2', '--work-dir', str(tmp_path / 'work'), log=tmp_path / 'log',
                      env=dict(MAX_RESTARTS='1'))
    log = (tmp_path / 'log').read_text()
    assert code == 0, log[-4000:]
    assert (tmp_path / 'crashed').exists()
    assert log.count(f'auto-resume: no checkpoint in {tmp_path / "work"}, starting fresh') == 2  # both ranks
    assert log.count(f'auto-resume (torchrun restart 1): resuming from {tmp_path / "work/iter_2.pth"}') == 2
    assert 'resumed epoch: 0, iter: 2' in log
    assert_bitwise_equal_runs(safe_load(tmp_path / 'work' / f'iter_{MAX_ITERS}.pth', map_location='cpu'), reference)
