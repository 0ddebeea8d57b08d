"""Runs ``python SCRIPT ARGS`` in a new process forked from an interpreter that has the stack imported.

A fresh ``python tools/train.py`` spends some 4-5 s of CPU importing torch, timm, mmengine,
mmpretrain and san_plugin before the tool does anything: more than most of the tiny runs the
tests make. Here multiprocessing's fork server imports them once per test process and forks
one new process per run, in which the script runs as ``__main__`` with its own environment,
working directory, ``sys.argv``, stdout and stderr, and ends with its own exit status (negative:
the signal that killed it), as under ``subprocess``. What the fork saves is the imports only:
every module the script itself imports beyond :data:`PRELOADED`, and all of its work, happens
in the new process. Shell scripts (``tools/dist_train.sh``) and tests of a tool's start-up
still use ``subprocess``.

Test modules import it as ``script_runner`` (``tests/`` is on ``sys.path`` through its conftest).
"""
from __future__ import annotations

import multiprocessing
import os
import runpy
import signal
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from multiprocessing import forkserver
from pathlib import Path
from typing import Iterator, Mapping, Sequence

PRELOADED = ['torch', 'torchvision', 'timm', 'mmengine.runner', 'mmpretrain.models', 'san_plugin.mm']
"""What the fork server imports once (what every tool imports first)."""

SERVER_ENV = dict(OMP_NUM_THREADS='1', PYTHONHASHSEED='0', CUDA_VISIBLE_DEVICES='')
"""Read when the server's interpreter starts (hash seed) or imports torch (threads, devices): the
values the tools tests give every tool, fixed for the server."""


def _context() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context('forkserver')
    context.set_forkserver_preload(PRELOADED)
    with _environment(SERVER_ENV):
        forkserver.ensure_running()
    return context


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _run_as_main(script: str, args: list[str], env: dict[str, str], cwd: str, stdout: str, stderr: str) -> None:
    """In the forked process: the environment, directory, argv, sys.path and output files of
    ``python SCRIPT ARGS``, then the script as ``__main__``. Its own session, as with
    ``start_new_session=True``: ``os.killpg(pid, ...)`` reaches it and whatever it starts."""
    os.setsid()
    multiprocessing.set_start_method(None, force=True)  # the platform's default, not the server's
    multiprocessing.current_process().name = 'MainProcess'
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for fd, path in ((1, stdout), (2, stderr)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(target, fd)
        os.close(target)
    import torch
    torch.set_num_threads(int(env.get('OMP_NUM_THREADS') or os.cpu_count()))
    sys.argv = [script, *args]
    python_path = [entry for entry in env.get('PYTHONPATH', '').split(os.pathsep) if entry]
    sys.path[:0] = [os.path.dirname(script), *python_path]
    try:
        runpy.run_path(script, run_name='__main__')
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def stop_server() -> None:
    """Stops the fork server of this process, if it runs, and waits for it (so that the CPU time of
    the runs it forked counts in this process's children, as a ``subprocess``'s would)."""
    forkserver._forkserver._stop()


class ScriptProcess:
    """A started script, with the part of ``subprocess.Popen``'s interface the tests use.

    Example:
        >>> run = ScriptProcess('tools/train.py', ['config.py'], env, cwd, log, log)
        >>> run.wait(timeout=600)
        0
    """

    def __init__(self, script: str | Path, args: Sequence[str], env: Mapping[str, str], cwd: str | Path,
                 stdout: str | Path, stderr: str | Path) -> None:
        script = os.path.join(cwd, script)
        self.args = [sys.executable, script, *map(str, args)]
        self._process = _context().Process(
            target=_run_as_main, args=(script, list(map(str, args)), dict(env), str(cwd), str(stdout), str(stderr)))
        self._process.start()
        self.pid = self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self._process.exitcode

    def send_signal(self, signum: int) -> None:
        if self._process.exitcode is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def run_script(script: str | Path, args: Sequence[str], env: Mapping[str, str], cwd: str | Path,
               timeout: float | None = None) -> subprocess.CompletedProcess:
    """``subprocess.run([sys.executable, script, *args], env=env, cwd=cwd, capture_output=True,
    text=True, timeout=timeout)``, in a process forked from the warm server.

    Raises:
        subprocess.TimeoutExpired: the script ran longer than ``timeout`` (it is killed).
    """
    with tempfile.TemporaryDirectory(prefix='script_runner_') as folder:
        out, err = Path(folder) / 'stdout', Path(folder) / 'stderr'
        process = ScriptProcess(script, args, env, cwd, out, err)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        return subprocess.CompletedProcess(process.args, code, out.read_text(errors='replace'),
                                           err.read_text(errors='replace'))
