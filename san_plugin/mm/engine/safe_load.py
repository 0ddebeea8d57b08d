"""Safe checkpoint loading for mmengine: ``weights_only=True`` with a narrow allowlist.

mmengine 0.10.7 reads local checkpoints with a bare ``torch.load``. Since torch 2.6 that
means ``weights_only=True`` with torch's default allowlist, which refuses mmengine's own
checkpoints (``HistoryBuffer`` in the message hub, numpy arrays and scalars in the
metadata), so ``resume``/``load_from`` break. :func:`safe_load` loads them with
``weights_only=True`` and a narrow allowlist instead, and never falls back to
unrestricted unpickling.

What is hooked (mmengine 0.10.7): ``Runner.resume`` and ``Runner.load_checkpoint`` (used
for ``load_from``) both call ``mmengine.runner.checkpoint._load_checkpoint``, as do
``mmengine.runner.load_checkpoint`` and ``CheckpointHook``'s model publishing. It
dispatches through ``CheckpointLoader`` on the path prefix; local paths match the ``''``
prefix. :func:`register_safe_checkpoint_loader` re-registers that one prefix with
``CheckpointLoader.register_scheme(..., force=True)``, mmengine's supported extension
point, so resume needs no further patch. Remote schemes (``http(s)://``,
``open-mmlab://``, ``torchvision://``, ``s3://``) are left as they are: they call
``torch.load`` without arguments, which is ``weights_only=True`` on torch >= 2.6, so they
are safe but may refuse mmengine objects.

Thread safety: the allowlist is passed through ``torch.serialization.safe_globals``, which
edits torch's process-wide set for the duration of one load.
"""
from __future__ import annotations

import _compat_pickle
import errno
import os
import os.path as osp
import pickle
import re
import zipfile
from typing import IO, Any, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

__all__ = ['UnsafeCheckpointError', 'CorruptCheckpointError', 'NotACheckpointError', 'safe_load',
           'register_safe_checkpoint_loader']

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


class NotACheckpointError(CorruptCheckpointError):
    """A file that is not a torch checkpoint at all (an image, a text file), not a damaged one.

    Example:
        >>> safe_load('photo.jpg')
        Traceback (most recent call last):
        NotACheckpointError: photo.jpg is not a PyTorch checkpoint: it is a JPEG image, ...
    """

    def __init__(self, source: str, kind: str) -> None:
        self.source = source
        RuntimeError.__init__(
            self, f'{source} is not a PyTorch checkpoint: it is {kind}, not the zip archive (or pickle) '
            'that torch.save writes. Give the checkpoint file (.pth) a training run saved.')


# The first bytes of files people pass by mistake; a checkpoint starts with b'PK' (zip) or 0x80 (pickle).
_FILE_SIGNATURES = ((b'\xff\xd8\xff', 'a JPEG image'), (b'\x89PNG', 'a PNG image'), (b'GIF8', 'a GIF image'),
                    (b'RIFF', 'a RIFF file (e.g. a WebP image)'), (b'%PDF', 'a PDF document'),
                    (b'\x1f\x8b', 'a gzip archive'), (b'\x89HDF', 'an HDF5 file (e.g. Keras weights)'))


def _not_a_checkpoint(target: Any) -> str | None:
    """What the file is if its first bytes are not those of a checkpoint (zip or pickle) of any length;
    None for a checkpoint, a damaged or empty one, or a file that cannot be read again."""
    try:
        if isinstance(target, str):
            with open(target, 'rb') as file:
                head = file.read(8)
        else:
            target.seek(0)
            head = target.read(8)
    except (OSError, AttributeError, ValueError):
        return None
    if not head or head.startswith(b'PK') or head[:1] == b'\x80':
        return None
    for signature, kind in _FILE_SIGNATURES:
        if head.startswith(signature):
            return kind
    text = all(32 <= byte < 127 or byte in b'\t\n\r' for byte in head)
    return 'a text file' if text else 'neither a zip archive nor a pickle'


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
        CorruptCheckpointError: The file is truncated or damaged.
        NotACheckpointError: The file is something else (an image, a text
            file); a ``CorruptCheckpointError``.

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
            kind = _not_a_checkpoint(target)
            if kind is not None:
                raise NotACheckpointError(source, kind) from err
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
        >>> from san_plugin.mm.engine.safe_load import register_safe_checkpoint_loader
        >>> register_safe_checkpoint_loader()
        >>> runner = Runner.from_cfg(cfg)  # cfg.resume = True works again
    """
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_safe_local, force=True)
