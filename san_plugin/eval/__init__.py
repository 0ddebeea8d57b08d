"""Deprecated alias of :mod:`san_plugin.evaluation` (renamed: ``eval`` shadowed the builtin).

Kept for one release (0.1.x) so that ``import san_plugin.eval`` and
``from san_plugin.eval.measure import count_flops`` keep working; it warns once on import.
"""
import sys
import warnings

from san_plugin import evaluation as _evaluation
from san_plugin.evaluation import *  # noqa: F401,F403  (the same objects, not copies)
from san_plugin.core import model_io  # moved from evaluation/ (deploy/ and core/ use it too)
from san_plugin.evaluation import measure, sweep_report, sweep_result

__all__ = _evaluation.__all__

for _module in (measure, model_io, sweep_report, sweep_result):
    sys.modules[f'{__name__}.{_module.__name__.rsplit(".", 1)[1]}'] = _module

warnings.warn('san_plugin.eval is renamed san_plugin.evaluation; the old name goes in the next release',
              DeprecationWarning, stacklevel=2)
