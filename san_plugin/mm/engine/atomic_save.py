"""Atomic checkpoint writing for mmengine: the newest checkpoint on disk is always whole.

``mmengine.runner.save_checkpoint`` (called by ``Runner.save_checkpoint``, hence by
``CheckpointHook``) serialises into memory and hands the bytes to the file backend of the
target path. :func:`install_atomic_checkpoint_saving` registers
:class:`AtomicLocalBackend` as mmengine's ``'local'`` file backend
(``register_backend(..., force=True)``, supported), so every local ``put``/``put_text``
made through ``mmengine.fileio`` writes a temporary file in the same directory, fsyncs it
and renames it over the target. ``CheckpointHook`` writes the ``last_checkpoint`` pointer
with the builtin ``open`` instead; for that one call the module attribute
``mmengine.hooks.checkpoint_hook.open`` is set to a function that makes text writes
atomic and passes every other mode to the builtin ``open``. That attribute is the only
monkeypatch. Not covered: the deprecated ``file_client_args`` path (``FileClient``) and
backend instances cached with ``enable_singleton=True`` before the call.
"""
from __future__ import annotations

import builtins
import contextlib
import os
import os.path as osp
import secrets
import stat
import warnings
from typing import IO, Any, Callable, Iterator, Union

import mmengine.hooks.checkpoint_hook as _checkpoint_hook
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.fileio.backends import backends as _file_backends

__all__ = ['atomic_save', 'AtomicLocalBackend', 'install_atomic_checkpoint_saving']


def _fsync_dir(directory: str) -> None:
    if os.name != 'posix':
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _atomic_open(path: Union[str, 'os.PathLike[str]'],
                 mode: str = 'wb',
                 encoding: str | None = None) -> Iterator[IO]:
    """Yield a file that replaces ``path`` only if the block succeeds."""
    path = os.fspath(path)
    if osp.islink(path):
        path = osp.realpath(path)  # keep the link, replace its target
    directory = osp.dirname(osp.abspath(path))
    base = osp.basename(path)
    for _ in range(100):
        tmp = osp.join(directory,
                       f'.{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp')
        try:
            # 'x' creates it (O_EXCL) with the usual umask-derived mode.
            file = builtins.open(tmp, mode.replace('w', 'x'),
                                 encoding=encoding)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f'Could not create a temporary file for {path}')
    try:
        with file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        if osp.exists(path):
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def atomic_save(obj: Any, path: Union[str, 'os.PathLike[str]'],
                **torch_save_kwargs: Any) -> None:
    """``torch.save`` to ``path`` atomically.

    The object is written to a temporary file beside ``path``, flushed,
    fsynced and renamed over ``path``. On any error (or a kill) the previous
    ``path`` stays as it was; on an error the temporary file is removed.

    Args:
        obj: Object to save.
        path: Destination file.
        **torch_save_kwargs: Passed to :func:`torch.save`.

    Example:
        >>> atomic_save({'state_dict': model.state_dict()}, 'model.pth')
    """
    with _atomic_open(path, 'wb') as file:
        torch.save(obj, file, **torch_save_kwargs)


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic ``put`` and ``put_text``.

    Registered as the ``'local'`` backend by
    :func:`install_atomic_checkpoint_saving`; can also be chosen per call
    with ``backend_args=dict(backend='local')`` after that.

    Example:
        >>> AtomicLocalBackend().put(b'bytes', 'work_dirs/exp/iter_2.pth')
    """

    def put(self, obj: bytes, filepath: Union[str, 'os.PathLike[str]']) -> None:
        """Write bytes to ``filepath`` atomically, creating its directory."""
        os.makedirs(osp.dirname(osp.abspath(filepath)), exist_ok=True)
        with _atomic_open(filepath, 'wb') as file:
            file.write(obj)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, 'os.PathLike[str]'],
                 encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically, creating its directory."""
        os.makedirs(osp.dirname(osp.abspath(filepath)), exist_ok=True)
        with _atomic_open(filepath, 'w', encoding=encoding) as file:
            file.write(obj)


def _checkpoint_hook_open(file: Any, mode: str = 'r', *args: Any,
                          **kwargs: Any) -> Any:
    """``open`` as seen by ``mmengine.hooks.checkpoint_hook``: text writes to
    a path (the ``last_checkpoint`` pointer) become atomic."""
    if mode in ('w', 'wt') and not args and isinstance(file,
                                                       (str, os.PathLike)):
        return _atomic_open(file, 'w', encoding=kwargs.get('encoding'))
    return builtins.open(file, mode, *args, **kwargs)


def install_atomic_checkpoint_saving() -> None:
    """Make mmengine's checkpoint and ``last_checkpoint`` writes atomic.

    Idempotent. Registers :class:`AtomicLocalBackend` as mmengine's
    ``'local'`` file backend (for the ``''`` prefix, i.e. plain paths) and
    sets ``mmengine.hooks.checkpoint_hook.open`` so that ``CheckpointHook``
    writes ``last_checkpoint`` atomically. A custom ``'local'`` backend
    registered by someone else is left in place, with a warning.

    Example:
        >>> from san_plugin.mm.engine.atomic_save import install_atomic_checkpoint_saving
        >>> install_atomic_checkpoint_saving()
        >>> runner.train()  # a kill mid-save keeps the previous checkpoint
    """
    current = _file_backends.get('local')
    if current is LocalBackend:
        register_backend(
            'local', AtomicLocalBackend, force=True, prefixes='')
    elif not (isinstance(current, type)
              and issubclass(current, AtomicLocalBackend)):
        warnings.warn(
            f"mmengine's 'local' file backend is {current!r}, not "
            'LocalBackend; checkpoint files are not made atomic.')
    hook_open: Callable = getattr(_checkpoint_hook, 'open', builtins.open)
    if hook_open is not _checkpoint_hook_open:
        _checkpoint_hook.open = _checkpoint_hook_open
