"""PeerWatchdog: heartbeats through a c10d store name a rank that stopped (in one process, a real
TCPStore, a scripted clock); use_dist_watchdog: which runs get the hook."""
from __future__ import annotations

import datetime
import os
import socket

import pytest
import torch.distributed as dist
from mmengine.config import Config

from san_plugin.mm.engine.watchdog import FINISHED, LostRank, PeerWatchdog
from san_plugin.mm.engine.watchdog_hook import DistWatchdogHook, use_dist_watchdog

TIMEOUT = 3600.0  # scripted seconds; the threads wake after `interval` real seconds, long after a test


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store():
    server = dist.TCPStore('127.0.0.1', 0, is_master=True, wait_for_workers=False,
                           timeout=datetime.timedelta(seconds=5))
    yield server
    del server


def client(server) -> dist.Store:
    return dist.PrefixStore('test', dist.TCPStore('127.0.0.1', server.port, is_master=False,
                                                 timeout=datetime.timedelta(seconds=5)))


def dogs(server, clock, world_size=2, start=(0, 1), interval=3000.0, timeout=TIMEOUT, **kwargs):
    """One watchdog per rank; those in ``start`` started (their threads sleep: the test drives ``poll``)."""
    made = [PeerWatchdog(client(server), rank, world_size, timeout_s=timeout, interval_s=interval, clock=clock,
                         store_address=f'127.0.0.1:{server.port}', **kwargs) for rank in range(world_size)]
    for rank in start:
        made[rank].start(wait_for_peers_s=0.5)
    return made


def test_a_silent_rank_is_named_after_the_timeout_not_before(store):
    clock = Clock()
    rank0, rank1 = dogs(store, clock)
    try:
        for clock.now in (10.0, 50.0):
            assert rank1.poll() == [] and rank0.poll() == []
        clock.now = 50.0 + TIMEOUT - 1  # rank 1 beat last at 50 s
        assert rank0.poll() == []
        clock.now = 50.0 + TIMEOUT + 1
        lost = rank0.poll()
        assert lost == [LostRank(1, socket.gethostname(), os.getpid(), TIMEOUT + 1)]
        assert lost[0].describe() == (f'rank 1 ({socket.gethostname()}, pid {os.getpid()}) stopped responding: '
                                      f'no heartbeat for {TIMEOUT + 1:.0f} s')
    finally:
        rank0.stop(), rank1.stop()


def test_a_finished_rank_is_not_watched(store):
    clock = Clock()
    rank0, rank1 = dogs(store, clock)
    rank1.stop()  # the end of training: its counter jumps past FINISHED
    clock.now = 10 * TIMEOUT
    try:
        assert rank0.poll() == []
        assert int(rank0.store.get('beat/1')) >= FINISHED
    finally:
        rank0.stop()


def test_a_rank_that_never_starts_is_named_as_such(store):
    clock = Clock()
    rank0, _ = dogs(store, clock, start=(0,))
    try:
        clock.now = TIMEOUT - 1
        assert rank0.poll() == []
        clock.now = TIMEOUT + 1
        [lost] = rank0.poll()
        assert lost.rank == 1 and lost.describe() == ('rank 1 (host unknown, pid unknown) stopped responding: '
                                                       'it never started its heartbeat')
    finally:
        rank0.stop()


def test_losing_the_store_names_rank_0_after_the_timeout():
    server = dist.TCPStore('127.0.0.1', 0, is_master=True, wait_for_workers=False,
                           timeout=datetime.timedelta(seconds=5))
    port, clock = server.port, Clock()
    rank0, rank1 = dogs(server, clock)
    rank0._stop.set()  # rank 0's process dies with the store it hosts
    del server
    try:
        clock.now = TIMEOUT / 2
        assert rank1.poll() == []  # one failed contact is not yet a loss
        clock.now = TIMEOUT + 1
        [lost] = rank1.poll()
        assert lost.rank == 0 and lost.store == f'127.0.0.1:{port}'
        assert lost.describe() == (f'rank 0 ({socket.gethostname()}, pid {os.getpid()}) stopped responding: the c10d '
                                   f'store at 127.0.0.1:{port}, which lives on rank 0\'s node, has not answered for '
                                   f'{TIMEOUT + 1:.0f} s')
    finally:
        rank1._stop.set()


def test_probe_returns_at_once_for_live_peers_and_names_a_silent_one(store):
    rank0, rank1 = dogs(store, clock=__import__('time').monotonic, interval=0.1, timeout=TIMEOUT)
    try:
        assert rank0.probe(wait_s=5) == []  # rank 1's thread beats every 0.1 s
        rank1._stop.set()  # its thread ends without marking it finished: as if killed
        rank1._thread.join()
        [lost] = rank0.probe(wait_s=0.5)
        assert lost.rank == 1 and lost.pid == os.getpid()
    finally:
        rank0.stop()


def test_interval_must_be_shorter_than_the_timeout(store):
    with pytest.raises(ValueError, match='interval=10 s, timeout=5 s'):
        PeerWatchdog(client(store), 0, 2, timeout_s=5, interval_s=10)
    with pytest.raises(ValueError, match='interval=10, timeout=5'):
        DistWatchdogHook(timeout=5, interval=10)


@pytest.mark.parametrize('launcher, settings, expected', [
    ('pytorch', {}, dict(type='DistWatchdogHook', timeout=180.0, interval=5.0)),
    ('slurm', dict(dist_watchdog=dict(timeout=60)), dict(type='DistWatchdogHook', timeout=60, interval=5.0)),
    ('pytorch', dict(dist_watchdog=None), None),
    ('none', {}, None),
])
def test_distributed_runs_get_the_watchdog_unless_turned_off(launcher, settings, expected):
    cfg = Config(dict(launcher=launcher, custom_hooks=[dict(type='EMAHook')], **settings))
    use_dist_watchdog(cfg)
    assert cfg.custom_hooks == [dict(type='EMAHook')] + ([expected] if expected else [])
    use_dist_watchdog(cfg)  # a config that lists it already keeps one
    assert len(cfg.custom_hooks) == 1 + bool(expected)
