"""A ``--cfg-options`` key is either read by the run or refused: never accepted and left unused.

mmengine resolves a config file's top-level variables (``num_classes = 10``, a
``pretrained_checkpoint`` path) into every value that uses them while it reads the file. An
override of such a variable afterwards changes the variable and nothing that used it, and a
top-level key that nothing reads changes nothing at all. :func:`check_overrides` accepts an
override only under a top-level key the run reads when it is built:

* the arguments of mmengine's ``Runner`` and the keys it reads from its config
  (:data:`MMENGINE_KEYS`), and ``custom_imports`` (imported again by ``load_config``);
* the keys the plugin and the tools read (:data:`PLUGIN_KEYS`), where they apply: a
  baseline's ``train_resolution`` is not read on a SAN config.

Anything else is refused, naming the key that does the job: for a variable, the settings that
hold its value (e.g. ``model.backbone.init_cfg.checkpoint`` for ``pretrained_checkpoint``).

Example:
    >>> cfg = Config.fromfile('configs/san_resnet50_imagenet_finetune.py')
    >>> check_overrides(cfg, {'pretrained_checkpoint': 'r50.pth'}, 'configs/san_resnet50_imagenet_finetune.py')
    Traceback (most recent call last):
    UnusedConfigKeyError: --cfg-options pretrained_checkpoint: ... model.backbone.init_cfg.checkpoint, ...
"""
from __future__ import annotations

import copy
import difflib
import inspect
from typing import Any, Iterator, Mapping

from mmengine.config import Config
from mmengine.runner import Runner

from ..resolutions import BASELINE_SOURCE, SAN_SOURCE, training_sizes

DOCS = 'docs/configs.md#overrides-that-would-change-nothing-are-refused'

RUNNER_ARGUMENTS = frozenset(inspect.signature(Runner.__init__).parameters) - {'self', 'cfg'}
"""The top-level keys ``Runner.from_cfg`` passes to the ``Runner``."""

MMENGINE_KEYS = frozenset({
    'runner_type',  # which runner builds the run (san_plugin.mm.runner.build_runner, mmengine's RUNNERS)
    'model_wrapper_cfg', 'sync_bn', 'find_unused_parameters',  # Runner.wrap_model
    'compile', 'activation_checkpointing', 'efficient_conv_bn_eval',  # Runner.train
    'custom_imports',  # imported by Config.fromfile, and again by load_config when overridden
})
"""The top-level keys mmengine reads from a config besides the ``Runner``'s arguments."""

PLUGIN_KEYS = {
    BASELINE_SOURCE: "a single-resolution model's training size (san_plugin.mm.resolutions)",
    'resolutions': 'checked against the training sizes (san_plugin.mm.resolutions)',
    'eval_resize': 'the test crop options (san_plugin.mm.transforms.eval_resize_steps)',
    'auto_resume': 'tools/train.py',
    'dist_watchdog': 'tools/train.py, distributed runs (san_plugin.mm.engine.watchdog_hook)',
}
"""The top-level keys the plugin and the tools read, and who reads them."""

MAX_HOLDERS = 6


class UnusedConfigKeyError(ValueError):
    """An override of a top-level config key that the run would not read."""


def read_keys(cfg: Config) -> set[str]:
    """Every top-level key a run built from ``cfg`` reads (:data:`RUNNER_ARGUMENTS`, :data:`MMENGINE_KEYS`,
    the :data:`PLUGIN_KEYS` that apply to ``cfg``)."""
    return set(RUNNER_ARGUMENTS | MMENGINE_KEYS) | {key for key in PLUGIN_KEYS if _unread_because(key, cfg) is None}


def check_overrides(loaded: Config, options: Mapping[str, Any], path: str,
                    set_by: Mapping[str, str] | None = None) -> None:
    """Refuses every ``--cfg-options`` key whose top-level key the run would not read.

    Args:
        loaded: the config as read from ``path``, before the options are merged.
        options: ``{dotted key: value}`` as ``--cfg-options`` gives them.
        path: the config file, for the messages.
        set_by: top-level keys the tool sets itself, and what sets them (e.g. ``{'launcher': '--launcher'}``).

    Raises:
        UnusedConfigKeyError: naming the key and the one that does the job.
    """
    merged = copy.deepcopy(loaded)
    merged.merge_from_dict(dict(options))
    known = read_keys(merged)
    for key in options:
        top = key.split('.', 1)[0]
        reason = _refusal(top, loaded, merged, known, path, set_by or {})
        if reason is not None:
            raise UnusedConfigKeyError(f'--cfg-options {key}: {reason} ({DOCS})')


def _refusal(top: str, loaded: Config, merged: Config, known: set[str], path: str,
             set_by: Mapping[str, str]) -> str | None:
    """Why an override under the top-level key ``top`` would change nothing; None if the run reads it."""
    if top in set_by:
        return f'{top!r} is set by {set_by[top]}: give it there'
    if top in known:
        return None
    if top in PLUGIN_KEYS:
        return _unread_because(top, merged)
    if top in loaded:
        holders = _holders(loaded, top, known)
        where = (f'override the setting(s) that hold its value instead: {holders}' if holders
                 else 'nothing the run reads holds its value')
        return (f'{top!r} is a variable of {path} (or of its _base_ files), already used where those files were '
                f'read, so changing it now would change nothing; {where}')
    close = difflib.get_close_matches(top, sorted(known | set(loaded)), n=1)
    hint = f'; did you mean {close[0]!r}?' if close else ''
    return f'nothing reads a top-level key {top!r} in a run of {path}, so it would change nothing{hint}'


def _unread_because(key: str, cfg: Config) -> str | None:
    """Why a :data:`PLUGIN_KEYS` key is not read in a run of ``cfg``; None where it is."""
    found = training_sizes(cfg)
    if key == BASELINE_SOURCE and found is not None and found[1] == SAN_SOURCE:
        return (f'{key!r} is the training size of a single-resolution model; this config builds a SAN, whose '
                f'training sizes are {SAN_SOURCE} (e.g. --cfg-options "{SAN_SOURCE}=[160,128]")')
    return None


def _holders(loaded: Config, variable: str, read: set[str]) -> str:
    """The read settings whose value equals the variable's (those named like it, if any), as dotted keys."""
    value = _plain(loaded[variable])
    equal = [path for top in sorted(read & set(loaded.keys())) for path, found in _leaves(loaded[top], top)
             if found == value]
    named = [path for path in equal if path.rsplit('.', 1)[-1] == variable]
    chosen = sorted(named or equal)
    more = f' and {len(chosen) - MAX_HOLDERS} more' if len(chosen) > MAX_HOLDERS else ''
    return ', '.join(chosen[:MAX_HOLDERS]) + more


def _leaves(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    """``(dotted path, plain value)`` of ``node`` and of every setting below it."""
    yield path, _plain(node)
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _leaves(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)) and any(isinstance(item, (Mapping, list, tuple)) for item in node):
        for index, value in enumerate(node):  # a list of settings (a pipeline); not a value such as topk=(1, 5)
            yield from _leaves(value, f'{path}.{index}')


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists and config dicts as dicts, for comparing."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
