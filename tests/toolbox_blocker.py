"""Runs Python code in a fresh interpreter in which some top-level packages cannot be imported.

The tests of optional dependencies import it as ``toolbox_blocker`` (``tests/`` is on
``sys.path`` through its conftest).
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
OPENMMLAB = ('mmengine', 'mmcv', 'mmpretrain')

_BLOCKER = '''
import importlib.abc
import sys

BLOCKED = {blocked!r}


class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ModuleNotFoundError(f'No module named {{name!r}} (blocked by the test)', name=name)
        return None


sys.meta_path.insert(0, _Blocked())


def loaded_blocked():
    return sorted(name for name in sys.modules if name.split('.')[0] in BLOCKED)

'''


def run_without(blocked: Sequence[str], code: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs ``code`` with every package in ``blocked`` (and its submodules) unimportable.

    ``code`` sees ``BLOCKED`` and ``loaded_blocked()`` (the blocked modules in ``sys.modules``).
    Raises AssertionError with the output if the code fails.
    """
    script = _BLOCKER.format(blocked=tuple(blocked)) + textwrap.dedent(code)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join(
        filter(None, [str(REPO), os.environ.get('PYTHONPATH')])))
    done = subprocess.run([sys.executable, '-c', script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f'failed without {blocked}:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}')
    return done
