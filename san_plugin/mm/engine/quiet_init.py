"""mmengine's per-parameter initialisation log, kept out of the tools' output unless asked for.

``BaseModule.init_weights`` of mmengine 0.10.7 ends with ``_dump_init_info``: without a log
file (a tool that builds a model outside a Runner, e.g. ``tools/export.py``) it logs about
four lines per parameter at INFO, some 240 lines for a ResNet-18, before the tool's result.
A training run writes them to its log file only, and keeps doing so.

Example:
    >>> with init_logs_hidden(cfg.get('log_level', 'INFO')):
    ...     model = MODELS.build(cfg.model)
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

from mmengine.logging import MMLogger

INIT_INFO_FUNCTION = '_dump_init_info'  # mmengine.model.BaseModule's, the one that logs the lines


class _InitInfoFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.funcName != INIT_INFO_FUNCTION


@contextmanager
def init_logs_hidden(log_level: str | int = 'INFO') -> Iterator[None]:
    """Drops mmengine's initialisation log lines inside the block, unless ``log_level`` is ``'DEBUG'``.

    Args:
        log_level: the config's ``log_level``; at ``'DEBUG'`` (or below) the lines are kept.
    """
    level = logging.getLevelName(log_level) if isinstance(log_level, str) else log_level
    if level <= logging.DEBUG:
        yield
        return
    logger, hidden = MMLogger.get_current_instance(), _InitInfoFilter()
    logger.addFilter(hidden)
    try:
        yield
    finally:
        logger.removeFilter(hidden)
