"""Safe checkpoint loading and atomic checkpoint writing for mmengine.

mmengine 0.10.7 reads local checkpoints with a bare ``torch.load``. Since
torch 2.6 that means ``weights_only=True`` with torch's default allowlist,
which refuses mmengine's own checkpoints (``HistoryBuffer`` in the message
hub, numpy arrays and scalars in the metadata), so ``resume``/``load_from``
break. This module loads them with ``weights_only=True`` and a narrow
allowlist instead, and never falls back to unrestricted unpickling.

What is hooked (mmengine 0.10.7):

* Loading. ``Runner.resume`` and ``Runner.load_checkpoint`` (used for
  ``load_from``) both call ``mmengine.runner.checkpoint._load_checkpoint``, as
  do ``mmengine.runner.load_checkpoint`` and ``CheckpointHook``'s model
  publishing. It dispatches through ``CheckpointLoader`` on the path prefix;
  local paths match the ``''`` prefix. :func:`register_safe_checkpoint_loader`
  re-registers that one prefix with ``CheckpointLoader.register_scheme(...,
  force=True)``, mmengine's supported extension point, so resume needs no
  further patch. Remote schemes (``http(s)://``, ``open-mmlab://``,
  ``torchvision://``, ``s3://``) are left as they are: they call
  ``torch.load`` without arguments, which is ``weights_only=True`` on
  torch >= 2.6, so they are safe but may refuse mmengine objects.
* Writing. ``mmengine.runner.save_checkpoint`` (called by
  ``Runner.save_checkpoint``, hence by ``CheckpointHook``) serialises into
  memory and hands the bytes to the file backend of the target path.
  :func:`install_atomic_checkpoint_saving` registers :class:`AtomicLocalBackend`
  as mmengine's ``'local'`` file backend (``register_backend(...,
  force=True)``, supported), so every local ``put``/``put_text`` made through
  ``mmengine.fileio`` writes a temporary file in the same directory, fsyncs
  it and renames it over the target. ``CheckpointHook`` writes the
  ``last_checkpoint`` pointer with the builtin ``open`` instead; for that one
  call the module attribute ``mmengine.hooks.checkpoint_hook.open`` is set to
  a function that makes text writes atomic and passes every other mode to
  the builtin ``open``. That attribute is the only monkeypatch.
  Not covered: the deprecated ``file_client_args`` path (``FileClient``) and
  backend instances cached with ``enable_singleton=True`` before the call.

Thread safety: the allowlist is passed through
``torch.serialization.safe_globals``, which edits torch's process-wide set for
the duration of one load.
"""
from __future__ import annotations

import _compat_pickle
import builtins
import contextlib
import errno
import os
import os.path as osp
import pickle
import re
import secrets
import stat
import warnings
import zipfile
from typing import IO, Any, Callable, Iterator, Union

import mmengine.hooks.checkpoint_hook as _checkpoint_hook
import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.fileio.backends import backends as _file_backends
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

__all__ = [
    'UnsafeCheckpointError', 'CorruptCheckpointError', 'safe_load',
    'register_safe_checkpoint_loader', 'atomic_save', 'AtomicLocalBackend',
    'install_atomic_checkpoint_saving'
]

PathOrFile = Union[str, 'os.PathLike[str]', IO[bytes]]


class UnsafeCheckpointError(ValueError):
    """A checkpoint's pickle references a global outside the allowlist.

    Attributes:
        source: The file (path or file object name) that was refused.
        global_name: The offending global, e.g. ``'posix.system'``.

    Example:
        >>> try:
        ...     safe_load('downloaded.pth')
        ... except UnsafeCheckpointError as err:
        ...     print(err.global_name)
    """

    def __init__(self, source: str, global_name: str) -> None:
        self.source = source
        self.global_name = global_name
        super().__init__(
            f'Refused to load checkpoint {source}: its pickle references '
            f'{global_name}, which is not allowed (allowed: tensors, '
            'containers, numpy arrays/scalars/dtypes, mmengine HistoryBuffer). '
            'Unpickling it could run arbitrary code. If you trust the file, '
            're-save just its tensors in an isolated environment, e.g. '
            "torch.save({'state_dict': torch.load(path, weights_only=False)"
            "['state_dict']}, new_path), and load the new file.")


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file is truncated or not a torch checkpoint.

    Example:
        >>> try:
        ...     safe_load('work_dirs/exp/iter_100.pth')
        ... except CorruptCheckpointError as err:
        ...     print(err.source)
    """

    def __init__(self, source: str, reason: BaseException) -> None:
        self.source = source
        detail = (str(reason).strip() or 'no data').splitlines()[0]
        detail = detail.split('. ')[0][:200]
        super().__init__(
            f'Checkpoint {source} is truncated or corrupt and cannot be read '
            f'({type(reason).__name__}: {detail}). It may be the partial '
            'write of an interrupted save: use an earlier checkpoint.')


class _RefusedGetattr(Exception):
    """Raised inside the unpickler; not an UnpicklingError, so torch does
    not rewrap it and :func:`safe_load` can name the lookup."""

    def __init__(self, global_name: str) -> None:
        super().__init__(global_name)
        self.global_name = global_name


# HistoryBuffer pickles its statistics methods by reference; with pickle
# protocol 2 a method is written as ``getattr(HistoryBuffer, name)``.
_HISTORY_BUFFER_METHODS = frozenset({'min', 'max', 'mean', 'current'})
# Dtype classes whose instances may be rebuilt (BUILD needs the exact type).
# ObjectDType and StringDType are left out on purpose.
_EXCLUDED_DTYPES = frozenset({'ObjectDType', 'StringDType'})


def _restricted_getattr(obj: Any, name: str, *default: Any) -> Any:
    """Stands in for ``builtins.getattr`` while unpickling."""
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS \
            and not default:
        return getattr(HistoryBuffer, name)
    owner = getattr(obj, '__qualname__', type(obj).__qualname__)
    module = getattr(obj, '__module__', None) or type(obj).__module__
    raise _RefusedGetattr(f'builtins.getattr({module}.{owner}, {name!r})')


def _build_allowlist() -> list:
    core = np._core if hasattr(np, '_core') else np.core  # numpy 2 / 1
    multiarray = core.multiarray
    entries: list = [np.ndarray, np.dtype, HistoryBuffer,
                     (_restricted_getattr, 'builtins.getattr')]
    # numpy 2 writes numpy._core.*, numpy 1 wrote numpy.core.*.
    for package in ('numpy._core', 'numpy.core'):
        entries += [(multiarray._reconstruct,
                     f'{package}.multiarray._reconstruct'),
                    (multiarray.scalar, f'{package}.multiarray.scalar')]
    for name in sorted(vars(np.dtypes)):
        cls = getattr(np.dtypes, name)
        if isinstance(cls, type) and issubclass(cls, np.dtype) \
                and cls is not np.dtype and name not in _EXCLUDED_DTYPES:
            entries.append(cls)
    return entries


_ALLOWLIST: list = _build_allowlist()

# Patterns of torch's weights-only unpickler errors that name a global.
_GLOBAL_PATTERNS = (
    re.compile(r'GLOBAL (\S+)'),
    re.compile(r'unrecognized function (.+?)(?: which belongs|$)', re.M),
    re.compile(r'(?:Can only build|Can only create new object).*?but got '
               r'(.+?)$', re.M),
)


def _offending_global(message: str) -> str | None:
    """The global named in an error of torch's weights-only unpickler."""
    for pattern in _GLOBAL_PATTERNS:
        match = pattern.search(message)
        if match is None:
            continue
        name = re.sub(r"^<class '(.+)'>$", r'\1', match.group(1).strip())
        if pattern is _GLOBAL_PATTERNS[0]:
            module, _, attr = name.rpartition('.')
            if not module:
                return f'builtins.{attr}'  # torch strips 'builtins.'
            # Protocol 2 writes Python 2 names (subprocess -> commands).
            module, attr = _compat_pickle.NAME_MAPPING.get(
                (module, attr),
                (_compat_pickle.IMPORT_MAPPING.get(module, module), attr))
            return f'{module}.{attr}'
        return name
    return None


# RuntimeError texts of torch's zip reader on damaged archives.
_CORRUPTION_HINTS = ('pytorchstreamreader', 'zip archive', 'corrupt',
                     'record', 'inline_container')


def _is_corruption(err: BaseException) -> bool:
    """Whether an error from ``torch.load`` means unreadable file content."""
    text = str(err)
    if isinstance(err, pickle.UnpicklingError):
        return 'must be imported' not in text
    if isinstance(err, (EOFError, zipfile.BadZipFile, UnicodeDecodeError,
                        KeyError, IndexError, TypeError, ValueError,
                        AssertionError)):
        return True  # damaged pickle or zip records
    if isinstance(err, OSError):  # torch's zip reader on a cut-off archive
        return err.errno == errno.EINVAL
    return isinstance(err, RuntimeError) and any(
        hint in text.lower() for hint in _CORRUPTION_HINTS)


def safe_load(path_or_file: PathOrFile, map_location: Any = None) -> Any:
    """Load a checkpoint with ``weights_only=True`` and a narrow allowlist.

    Beyond torch's defaults (tensors, containers, ``OrderedDict``, ...) only
    numpy arrays, scalars and dtypes, mmengine's ``HistoryBuffer`` and
    ``getattr(HistoryBuffer, 'min'|'max'|'mean'|'current')`` are accepted.

    Args:
        path_or_file: Path (``~`` is expanded) or binary file object.
        map_location: Passed to :func:`torch.load`.

    Returns:
        The unpickled object, e.g. an mmengine checkpoint dict or a state
        dict.

    Raises:
        FileNotFoundError: The path is not a file.
        UnsafeCheckpointError: The pickle references a global that is not
            allowed; nothing outside the allowlist was called.
        CorruptCheckpointError: The file is truncated or not a checkpoint.

    Example:
        >>> ckpt = safe_load('work_dirs/exp/iter_2.pth', map_location='cpu')
        >>> model.load_state_dict(ckpt['state_dict'])
    """
    if isinstance(path_or_file, (str, os.PathLike)):
        source = osp.expanduser(os.fspath(path_or_file))
        if not osp.isfile(source):
            raise FileNotFoundError(errno.ENOENT, 'Checkpoint file not found',
                                    source)
        target: Any = source
    else:
        source = str(getattr(path_or_file, 'name', repr(path_or_file)))
        target = path_or_file
    known = set(torch.serialization.get_safe_globals())
    # Do not add (and then remove on exit) what the user allowlisted already.
    extra = [entry for entry in _ALLOWLIST if entry not in known]
    try:
        with torch.serialization.safe_globals(extra):
            return torch.load(
                target, map_location=map_location, weights_only=True)
    except _RefusedGetattr as err:
        raise UnsafeCheckpointError(source, err.global_name) from None
    except Exception as err:
        name = (_offending_global(str(err))
                if isinstance(err, pickle.UnpicklingError) else None)
        if name is not None:
            raise UnsafeCheckpointError(source, name) from None
        if _is_corruption(err):
            raise CorruptCheckpointError(source, err) from err
        if hasattr(err, 'add_note'):
            err.add_note(f'while loading checkpoint {source}')
        raise


def load_from_safe_local(filename: str, map_location: Any = None) -> Any:
    """mmengine ``CheckpointLoader`` entry for local paths; see
    :func:`safe_load`. The name must start with ``load_from_``: mmengine logs
    ``name[10:]`` as the backend."""
    return safe_load(filename, map_location=map_location)


def register_safe_checkpoint_loader() -> None:
    """Make mmengine load local checkpoints through :func:`safe_load`.

    Idempotent. Covers ``Runner.resume``, ``Runner.load_checkpoint``
    (``load_from``), ``mmengine.runner.load_checkpoint`` and
    ``mmengine.runner.checkpoint._load_checkpoint``.

    Example:
        >>> from san_plugin.mm.checkpoint import (
        ...     register_safe_checkpoint_loader)
        >>> register_safe_checkpoint_loader()
        >>> runner = Runner.from_cfg(cfg)  # cfg.resume = True works again
    """
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_safe_local, force=True)


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
        >>> from san_plugin.mm.checkpoint import (
        ...     install_atomic_checkpoint_saving)
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
