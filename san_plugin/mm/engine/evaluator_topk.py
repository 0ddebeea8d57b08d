"""The evaluators match the head: a top-k above the number of classes is refused at startup.

mmpretrain's ``Accuracy`` fails on it only after a whole test pass (``Top-5 accuracy is
unavailable``), and a metric that left such a k out would report less than the config asks
for. :func:`check_evaluator_topk`, a config step of the runner, refuses it before anything is
built, the same for the validation and the test evaluator, naming the key, the head's number
of classes and the override to give.

Example:
    >>> SANRunner.add_config_step(check_evaluator_topk)   # what ``import san_plugin.mm`` does
"""
from __future__ import annotations

from typing import Any, Iterator

from mmengine.config import Config

EVALUATORS = ('val_evaluator', 'test_evaluator')


class EvaluatorTopkError(ValueError):
    """An evaluator asks for a top-k accuracy with k above the head's number of classes."""


def check_evaluator_topk(cfg: Config) -> None:
    """Refuses an evaluator metric whose ``topk`` exceeds ``model.head.num_classes`` (see the module doc).

    Raises:
        EvaluatorTopkError: naming the metric's key, the head's number of classes and the fix.
    """
    head = _head(cfg.get('model') or {})
    num_classes = head.get('num_classes')
    if not isinstance(num_classes, int):
        return
    for evaluator in EVALUATORS:
        for metric, path in _metrics(cfg.get(evaluator), evaluator):
            topk = metric.get('topk')
            ks = (topk,) if isinstance(topk, int) else tuple(topk or ())
            too_large = [k for k in ks if isinstance(k, int) and k > num_classes]
            if too_large:
                kept = tuple(k for k in ks if k not in too_large) or (1,)
                raise EvaluatorTopkError(
                    f'{path}.topk = {topk!r} asks for top-{max(too_large)} accuracy, but the head has '
                    f'{num_classes} classes (model.head.num_classes = {num_classes}): ask for k of at most '
                    f'{num_classes}, e.g. --cfg-options "{path}.topk={kept!r}"')


def _head(model: dict) -> dict:
    """``model.head``, through test-time wrappers (``dict(module=...)``)."""
    while isinstance(model, dict) and 'head' not in model and isinstance(model.get('module'), dict):
        model = model['module']
    head = model.get('head') if isinstance(model, dict) else None
    return head if isinstance(head, dict) else {}


def _metrics(evaluator: Any, path: str) -> Iterator[tuple[dict, str]]:
    """Every metric config of an evaluator config (a metric, a list of them, or ``dict(metrics=...)``)."""
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        yield from _metrics(evaluator['metrics'], f'{path}.metrics')
    elif isinstance(evaluator, dict):
        yield evaluator, path
    elif isinstance(evaluator, (list, tuple)):
        for index, metric in enumerate(evaluator):
            yield from _metrics(metric, f'{path}.{index}')
