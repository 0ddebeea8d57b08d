"""A config states its training sizes once; every other setting is derived from that statement.

The one statement:

* a SAN config: ``model.san.resolutions`` (default: ``SANSpec``'s);
* a single-resolution baseline: the top-level ``train_resolution``.

Derived from it, when ``SANRunner`` builds a runner (MMPretrain's tools and ours, after
``--cfg-options``), by :func:`apply_training_sizes`:

* ``resolutions`` of every ``MultiResolution`` and ``MultiResolutionTest`` step of the
  train and val loaders (a SAN), and of the test loader's steps that state none (views the
  test loader states are a test choice, e.g. ``tools/test.py --cascade``'s sizes, and are kept);
* the ``scale`` of the train loader's ``RandomResizedCrop`` (a baseline);
* the standard test crop of the val and test loaders: a ``ResizeEdge`` without ``scale``
  gets ``S / 0.875`` (rounded as the config's ``eval_resize`` says), a ``CenterCrop``
  without ``crop_size`` gets ``S``, for ``S`` the largest training size.

and, when ``SANClassifier`` is built (so also by ``MODELS.build(cfg.model)``), the
``resolutions`` of its ``SANClsHead`` and ``SANDataPreprocessor``. A setting that states
a training size itself must agree with the statement: two that disagree stop the run at
startup with an error naming both keys. A stated test crop is a test choice and is kept.

Example:
    >>> cfg = Config.fromfile('configs/san_resnet50_imagenet.py')
    >>> cfg.merge_from_dict({'model.san.resolutions': [160, 128]})   # --cfg-options
    >>> apply_training_sizes(cfg)
    >>> cfg.train_dataloader.dataset.pipeline[1].resolutions
    [160, 128]
"""
from __future__ import annotations

from typing import Any, Iterator

from mmengine.config import Config

from san_plugin.core import SANSpec, validate_resolutions
from .transforms import TEST_CROP_RATIO, eval_resize_steps

SAN_KEY = 'model.san'
SAN_SOURCE = f'{SAN_KEY}.resolutions'
BASELINE_SOURCE = 'train_resolution'
LIST_STEPS = ('MultiResolution', 'MultiResolutionTest')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
EVAL_LOADERS = ('val_dataloader', 'test_dataloader')
DOCS = 'docs/configs.md'


class ConflictingResolutionsError(ValueError):
    """A config states its training sizes in two places that disagree."""


def _stated(value: Any, name: str, single: bool) -> tuple[int, ...]:
    """A stated list (validated) or single size (an int, or a square ``(S, S)``), largest first."""
    if not single:
        return validate_resolutions(value, name)
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] == value[1]:
        value = value[0]
    return (value, ) if isinstance(value, int) else tuple(value)


def _show(sizes: tuple[int, ...], single: bool) -> Any:
    return sizes[0] if single else list(sizes)


def fill_or_check(holder: dict, key: str, sizes: tuple[int, ...], name: str, source: str, single: bool = False) -> None:
    """Sets ``holder[key]`` to ``sizes`` (one int with ``single``) unless it is set; refuses a different value.

    Args:
        holder: a config dict (a pipeline step, the head, the data preprocessor).
        key: its key that states the sizes.
        sizes: the training sizes from the config's one statement, largest first.
        name: ``holder[key]``'s config path, for the error (e.g. ``'model.head.resolutions'``).
        source: the statement's config path (e.g. ``'model.san.resolutions'``).
        single: the key takes one size (``RandomResizedCrop.scale``), the largest.

    Raises:
        ConflictingResolutionsError: naming both keys and values.

    Example:
        >>> head = dict(type='SANClsHead', num_classes=10, in_channels=512)
        >>> fill_or_check(head, 'resolutions', (64, 32), 'model.head.resolutions', 'model.san.resolutions')
        >>> head['resolutions']
        [64, 32]
    """
    if holder.get(key) is None:
        holder[key] = _show(sizes, single)
        return
    stated = _stated(holder[key], name, single)
    if stated != (sizes[:1] if single else sizes):
        raise ConflictingResolutionsError(
            f'the config states its training resolutions in two places that disagree: {source} = '
            f'{_show(sizes, source == BASELINE_SOURCE)} but {name} = {_show(stated, single)}. State them once, in '
            f'{source} (override it with --cfg-options {source}=...); every other setting takes them from '
            f'there ({DOCS})')


def _model(cfg: Config) -> dict:
    """``cfg.model``, unwrapped from test-time-augmentation wrappers (``dict(module=...)``)."""
    model = cfg.get('model') or {}
    while model.get('san') is None and isinstance(model.get('module'), dict):
        model = model['module']
    return model


def training_sizes(cfg: Config) -> tuple[tuple[int, ...], str] | None:
    """The config's statement of its training sizes, largest first, and its key; None if it has none.

    Example:
        >>> training_sizes(Config.fromfile('configs/imagenette/baseline_resnet18_imagenette_32.py'))
        ((32,), 'train_resolution')
    """
    san = _model(cfg).get('san')
    if san is not None:
        stated = san.get('resolutions')
        return validate_resolutions(SANSpec().resolutions if stated is None else stated, SAN_SOURCE), SAN_SOURCE
    if cfg.get(BASELINE_SOURCE) is not None:
        return validate_resolutions([cfg[BASELINE_SOURCE]], BASELINE_SOURCE), BASELINE_SOURCE
    return None


def _steps(node: Any, path: str) -> Iterator[tuple[dict, str, str]]:
    """Every ``(step, its type name, its config path)`` below ``node`` (nested lists and dicts)."""
    if isinstance(node, dict):
        kind = node.get('type')
        if isinstance(kind, str):
            yield node, kind.rsplit('.', 1)[-1], path
        elif isinstance(kind, type):
            yield node, kind.__name__, path
        for key, value in node.items():
            yield from _steps(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from _steps(value, f'{path}.{index}')


def apply_training_sizes(cfg: Config) -> None:
    """Derives every training-size setting of ``cfg`` from its one statement, in place (see the module doc).

    A config with neither ``model.san`` nor ``train_resolution`` is left as it is.

    Raises:
        ConflictingResolutionsError: a setting states other sizes, naming both keys.
    """
    found = training_sizes(cfg)
    if found is None:
        return
    sizes, source = found
    if cfg.get('resolutions') is not None:  # the variable older configs and the README's first try used
        fill_or_check(cfg, 'resolutions', sizes, 'resolutions (top level)', source)
    test_crop = {step['type']: step for step in eval_resize_steps(sizes[0], TEST_CROP_RATIO,
                                                                   **dict(cfg.get('eval_resize') or {}))}
    for loader in LOADERS:
        for step, kind, path in _steps(cfg.get(loader), loader):
            if kind in LIST_STEPS and source == SAN_SOURCE:
                if loader == 'test_dataloader' and step.get('resolutions') is not None:
                    continue  # stated test views are a test choice (a cascade's sizes, a sweep)
                fill_or_check(step, 'resolutions', sizes, f'{path}.resolutions', source)
            elif kind == 'RandomResizedCrop' and source == BASELINE_SOURCE and loader == 'train_dataloader':
                fill_or_check(step, 'scale', sizes, f'{path}.scale', source, single=True)
            elif kind == 'ResizeEdge' and loader in EVAL_LOADERS and step.get('scale') is None:
                step['scale'] = test_crop['ResizeEdge']['scale']
            elif kind == 'CenterCrop' and loader in EVAL_LOADERS and step.get('crop_size') is None:
                step['crop_size'] = test_crop['CenterCrop']['crop_size']
