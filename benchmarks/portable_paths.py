"""Recorded commands and paths as a report prints them: no absolute path of the machine that ran them.

The results files record what ran (``timing.json``'s command, a checkpoint's path, the data root)
with the absolute paths of that machine. A report prints them relative to the repository root
instead, so that a reader can run them from a checkout and no machine's layout leaks into the
docs. One rule for every report:

* a Python interpreter (``.../bin/python3.11``) is ``python``;
* a path through one of the repository's top-level folders (``tools/``, ``benchmarks/``,
  ``configs/``, ``work_dirs/``, ``data/``, ...) keeps the part from that folder on:
  ``/any/checkout/tools/train.py`` -> ``tools/train.py``, ``/any/where/data/imagenette`` ->
  ``data/imagenette`` (``make demo``'s and the benchmarks' default data folder);
* a temporary path keeps its name under ``$TMPDIR``: ``/tmp/run_x/small`` -> ``$TMPDIR/run_x/small``;
* any other absolute path is a run's work folder: its last two parts under ``WORK_DIR``
  (``/runs/r18/lr0.2/san/epoch_15.pth`` -> ``WORK_DIR/san/epoch_15.pth``, the ``run.py --work-dir``
  layout of ``<model>/<file>``).

System paths (``/proc/...``, ``/dev/...``, ``/sys/...``) are not a machine's layout and stay.
"""
from __future__ import annotations

import re

REPOSITORY_FOLDERS = ('tools', 'benchmarks', 'configs', 'san_plugin', 'tests', 'work_dirs', 'data')
"""Top-level folders of a checkout: a path through one of them is cut to start there."""

SYSTEM_FOLDERS = ('proc', 'dev', 'sys')
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~$-])/(?:[\w.+@=-]+/)*[\w.+@=-]+")
"""An absolute path inside free text: a ``/`` not preceded by a word, a dot, ``:`` (URLs) or another ``/``."""


def portable_path(path: str) -> str:
    """One absolute path by the rules of the module docstring; a relative one is returned as it is.

    Example:
        >>> portable_path('/home/me/san_plugin/.venv/bin/python3.11')
        'python'
        >>> portable_path('/scratch/exp/r18/lr0.2/san/epoch_15.pth')
        'WORK_DIR/san/epoch_15.pth'
    """
    if not path.startswith('/'):
        return path
    parts = [p for p in path.split('/') if p]
    if not parts or parts[0] in SYSTEM_FOLDERS:
        return path
    if len(parts) >= 2 and parts[-2] == 'bin' and parts[-1].startswith('python'):
        return 'python'
    for i, part in enumerate(parts):
        if part in REPOSITORY_FOLDERS:
            return '/'.join(parts[i:])
    if parts[0] == 'tmp':
        return '/'.join(['$TMPDIR', *parts[1:]])
    return '/'.join(['WORK_DIR', *parts[-2:]])


def portable(text: str) -> str:
    """``text`` (a command line, a sentence naming paths) with every absolute path made portable.

    Example:
        >>> portable('/opt/venv/bin/python /home/me/exp/tools/train.py work_dirs/x --data-root /srv/data/imagenette')
        'python tools/train.py work_dirs/x --data-root data/imagenette'
    """
    return ABSOLUTE_PATH.sub(lambda match: portable_path(match.group(0)), text)
