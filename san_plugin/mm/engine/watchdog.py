"""PeerWatchdog: a rank that dies or stalls is named, and its peers stop within a bounded time.

When one process of a distributed run dies, the others wait in their next collective:
gloo usually fails at once ("Connection closed by peer", naming no rank), NCCL waits for
its timeout (30 minutes by default), and so does gloo when the peer is stalled rather than
dead. Every rank here runs a daemon thread that stamps a counter in the run's c10d store
(the TCP store of ``MASTER_ADDR:MASTER_PORT``, through its own client connection) every
``interval_s`` seconds and reads every peer's counter back: a peer whose counter has not
moved for ``timeout_s`` seconds is reported by rank, host and pid, and ``on_lost`` runs
(by default: the message on stderr, then ``os._exit(1)``). A healthy step pays nothing:
no collective, no work in the training loop; per interval one ``add`` and one
``multi_get`` of ``world_size`` small keys per rank.

Nothing here imports mmengine; ``DistWatchdogHook`` (``watchdog_hook.py``) runs it in training.
"""
from __future__ import annotations

import datetime
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch.distributed as dist

FINISHED = 10 ** 15
"""Added to a rank's counter when it finishes: its peers stop watching it."""

EXIT_CODE = 1
"""Exit status of a process stopped by the watchdog."""


@dataclass(frozen=True)
class LostRank:
    """A rank whose heartbeat stopped (or, ``store`` set, the store that lives with it).

    Example:
        >>> LostRank(1, 'node2', 4242, 12.0).describe()
        'rank 1 (node2, pid 4242) stopped responding: no heartbeat for 12 s'
    """

    rank: int
    host: str
    pid: int | None
    silent_s: float
    store: str | None = None

    def describe(self) -> str:
        who = f'rank {self.rank} ({self.host}, pid {self.pid if self.pid is not None else "unknown"})'
        if self.store is not None:
            return (f'{who} stopped responding: the c10d store at {self.store}, which lives on rank '
                    f'{self.rank}\'s node, has not answered for {self.silent_s:.0f} s')
        if self.silent_s == float('inf'):
            return f'{who} stopped responding: it never started its heartbeat'
        return f'{who} stopped responding: no heartbeat for {self.silent_s:.0f} s'


def describe_lost(lost: list[LostRank]) -> str:
    """One line naming every lost rank."""
    return '; '.join(item.describe() for item in lost)


def _exit_with(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(EXIT_CODE)


class PeerWatchdog:
    """Heartbeats of every rank through a c10d store; names the ranks that stop.

    Args:
        store: a store shared by all ranks (keys are written under ``san_watchdog/``).
        rank: this process's rank.
        world_size: the number of ranks.
        timeout_s: a peer silent this long is lost (the bound on the wait).
        interval_s: seconds between two heartbeats (and checks).
        on_lost: called once, from the watchdog thread, with the lost ranks; default:
            the message on stderr and ``os._exit(1)``.
        store_address: ``host:port`` of the store, for messages.
        clock: seconds, monotonic (tests pass a fake one).

    Example:
        >>> dog = PeerWatchdog.connect(timeout_s=120, interval_s=5)  # after init_process_group
        >>> dog.start()
        >>> ...  # training
        >>> dog.stop()
    """

    def __init__(self, store: dist.Store, rank: int, world_size: int, *, timeout_s: float = 180.0,
                 interval_s: float = 5.0, on_lost: Callable[[list[LostRank]], None] | None = None,
                 store_address: str = 'the c10d store', clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < interval_s < timeout_s:
            raise ValueError(f'the watchdog needs 0 < interval < timeout, got interval={interval_s} s, '
                             f'timeout={timeout_s} s')
        self.store, self.rank, self.world_size = store, rank, world_size
        self.timeout_s, self.interval_s, self.store_address, self.clock = timeout_s, interval_s, store_address, clock
        self.on_lost = on_lost or (lambda lost: _exit_with(f'rank {rank}: {describe_lost(lost)}'))
        self.peers = [r for r in range(world_size) if r != rank]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._registered: set[int] = set()
        self._who: dict[int, tuple[str, int | None]] = {}
        self._last_value: dict[int, int] = {}
        self._last_change: dict[int, float] = {}
        self._finished: set[int] = set()
        self._store_ok = self._started = clock()

    @classmethod
    def connect(cls, *, timeout_s: float = 180.0, interval_s: float = 5.0, namespace: str | None = None,
                **kwargs) -> 'PeerWatchdog':
        """A watchdog on its own client of the run's store (``MASTER_ADDR:MASTER_PORT``).

        Call after ``init_process_group``. Keys live under ``san_watchdog/<run>/attempt_<n>``
        (torchrun's run id and restart count), so a restarted group starts afresh.

        Raises:
            KeyError: ``MASTER_ADDR`` or ``MASTER_PORT`` is not set (named).
        """
        missing = [name for name in ('MASTER_ADDR', 'MASTER_PORT') if not os.environ.get(name)]
        if missing:
            raise KeyError(f'the distributed watchdog needs {" and ".join(missing)} (the process group\'s store)')
        host, port = os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT'])
        client = dist.TCPStore(host, port, is_master=False, wait_for_workers=False,
                               timeout=datetime.timedelta(seconds=max(2 * interval_s, 5.0)))
        if namespace is None:
            namespace = (f'san_watchdog/{os.environ.get("TORCHELASTIC_RUN_ID", "run")}/'
                         f'attempt_{os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")}')
        return cls(dist.PrefixStore(namespace, client), dist.get_rank(), dist.get_world_size(),
                   timeout_s=timeout_s, interval_s=interval_s, store_address=f'{host}:{port}', **kwargs)

    # -- keys ---------------------------------------------------------------------------
    @staticmethod
    def _beat_key(rank: int) -> str:
        return f'beat/{rank}'

    @staticmethod
    def _who_key(rank: int) -> str:
        return f'who/{rank}'

    # -- life cycle -----------------------------------------------------------------------
    def start(self, wait_for_peers_s: float = 30.0) -> None:
        """Registers this rank (host, pid), beats once and starts the daemon thread.

        Args:
            wait_for_peers_s: how long to wait for every peer's host and pid (the ranks start
                together), so that even a rank lost right after the start is named with them.
        """
        self.store.set(self._who_key(self.rank), f'{socket.gethostname()} {os.getpid()}')
        self.store.add(self._beat_key(self.rank), 1)
        self._store_ok = self._started = self.clock()
        self._learn_peers(min(self.timeout_s, wait_for_peers_s))
        with self._lock:
            for peer in self.peers:
                self._last_change[peer] = self._started
        self._thread = threading.Thread(target=self._run, name=f'san-watchdog-rank{self.rank}', daemon=True)
        self._thread.start()

    def _learn_peers(self, wait_s: float) -> None:
        try:
            self.store.wait([self._who_key(r) for r in self.peers], datetime.timedelta(seconds=wait_s))
            self._read_counters()
        except Exception:  # noqa: BLE001 - a peer that never starts is reported by poll()
            pass

    def stop(self) -> None:
        """Marks this rank finished (its peers stop watching it) and ends the thread."""
        self._stop.set()
        try:
            self.store.add(self._beat_key(self.rank), FINISHED)
        except Exception:  # noqa: BLE001 - the store may be gone at the end of the run
            pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.interval_s + 10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            lost = self.poll()
            if lost and not self._stop.is_set():
                self.on_lost(lost)
                return

    # -- checks ---------------------------------------------------------------------------
    def poll(self) -> list[LostRank]:
        """One heartbeat and one check: the peers silent for longer than ``timeout_s``."""
        now = self.clock()
        try:
            self.store.add(self._beat_key(self.rank), 1)
            counters = self._read_counters()
        except Exception:  # noqa: BLE001 - DistNetworkError, DistStoreError: the store is unreachable
            if self._finished:  # a peer finished and the store went with it: the run ended
                self._stop.set()
                return []
            if now - self._store_ok > self.timeout_s:
                return [self._store_lost(now - self._store_ok)]
            return []
        self._store_ok = now
        with self._lock:
            for rank, value in counters.items():
                if value >= FINISHED:
                    self._finished.add(rank)
                elif value != self._last_value.get(rank):
                    self._last_value[rank], self._last_change[rank] = value, now
            return [self._lost(rank, now) for rank in self.peers
                    if rank not in self._finished and now - self._last_change[rank] > self.timeout_s]

    def probe(self, wait_s: float | None = None) -> list[LostRank]:
        """The peers whose heartbeat does not move within ``wait_s`` seconds (default: two intervals + 1 s).

        For the moment a collective failed: returns ``[]`` as soon as every peer has beaten
        once (they are alive), else the silent ones after ``wait_s``.
        """
        wait_s = 2 * self.interval_s + 1 if wait_s is None else wait_s
        deadline = self.clock() + wait_s
        first: dict[int, int] | None = None
        moved: set[int] = set()
        while True:
            try:
                values = self._read_counters()
            except Exception:  # noqa: BLE001 - the store is unreachable (for now)
                values = None
            if values is not None:
                first = values if first is None else first
                moved |= {r for r, v in values.items() if v >= FINISHED or v != first.get(r, v)}
                if moved >= set(self.peers):
                    return []
            if self.clock() >= deadline:
                break
            time.sleep(min(0.2, self.interval_s / 4) if values is not None else self.interval_s / 2)
        now = self.clock()
        if first is None:
            return [self._store_lost(now - self._store_ok)]
        with self._lock:
            return [self._lost(rank, now) for rank in self.peers if rank not in moved]

    def _read_counters(self) -> dict[int, int]:
        for rank in self.peers:
            if rank not in self._registered and self.store.check([self._beat_key(rank)]):
                host, _, pid = self.store.get(self._who_key(rank)).decode().partition(' ')
                self._who[rank] = (host, int(pid) if pid else None)
                self._registered.add(rank)
        ranks = sorted(self._registered)
        values = self.store.multi_get([self._beat_key(r) for r in ranks]) if ranks else []
        return {rank: int(value) for rank, value in zip(ranks, values)}

    def _lost(self, rank: int, now: float) -> LostRank:
        host, pid = self._who.get(rank, ('host unknown', None))
        silent = now - self._last_change[rank] if rank in self._registered else float('inf')
        return LostRank(rank, host, pid, silent)

    def _store_lost(self, silent_s: float) -> LostRank:
        host, pid = self._who.get(0, (self.store_address.rsplit(':', 1)[0], None))
        return LostRank(0, host, pid, silent_s, store=self.store_address)
