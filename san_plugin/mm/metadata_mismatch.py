"""A checkpoint of another SAN, refused naming the file and the ``model.san`` settings it was made for.

The core's :class:`~san_plugin.core.SANMetadataError` compares the two SANs' metadata while a
state dict loads, and knows neither the file nor the config. The tools and the runner
(``tools/test.py``, ``load_from``, ``--resume``, the tools that build a model from a checkpoint)
raise it again through :func:`explain_metadata_error`, which adds both: the checkpoint's path and
the ``--cfg-options`` that build the model the checkpoint holds.

Example:
    >>> try:
    ...     load_checkpoint(model, 'epoch_6.pth')
    ... except SANMetadataError as error:
    ...     raise explain_metadata_error(error, 'epoch_6.pth', model) from error
"""
from __future__ import annotations

from typing import Any

import torch
from mmengine.runner import CheckpointLoader

from san_plugin.core import SANMetadataError, find_controller
from san_plugin.core.convert import CONTROLLER_NAME

NOT_SETTINGS = ('version', 'calibrated')  # metadata that no config states


def explain_metadata_error(error: SANMetadataError, checkpoint: str, model: torch.nn.Module) -> SANMetadataError:
    """``error`` naming ``checkpoint`` and, where both SANs' metadata can be read, the options to give."""
    overrides = _overrides(checkpoint, model)
    hint = (f' To build the SAN this checkpoint holds, give the config its settings: --cfg-options '
            f'{" ".join(overrides)}' if overrides else '')
    return SANMetadataError(f'{checkpoint}: {error}{hint}')


def _overrides(checkpoint: str, model: torch.nn.Module) -> list[str]:
    """``"model.san.KEY=VALUE"`` for every setting in which the checkpoint's SAN differs from ``model``."""
    controller = find_controller(model)
    try:
        loaded = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    except Exception:  # noqa: BLE001  (the hint is optional; the error itself is raised anyway)
        return []
    state = loaded.get('state_dict', loaded) if isinstance(loaded, dict) else {}
    found = [value for key, value in state.items() if key.endswith(f'{CONTROLLER_NAME}._extra_state')]
    if controller is None or not found or not isinstance(found[0], dict):
        return []
    theirs, ours = found[0], controller.metadata()
    overrides = []
    for key in sorted(set(theirs) & set(ours) - set(NOT_SETTINGS)):
        if _plain(theirs[key]) == _plain(ours[key]):
            continue
        if isinstance(theirs[key], dict):  # the encoding: one option per field
            overrides += [f'"model.san.{key}.{field}={_cli(value)}"' for field, value in theirs[key].items()]
        else:
            overrides.append(f'"model.san.{key}={_cli(theirs[key])}"')
    return overrides


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _cli(value: Any) -> str:
    """``value`` as ``--cfg-options`` reads it back (mmengine's ``DictAction``)."""
    if isinstance(value, (list, tuple)):
        return '[' + ','.join(_cli(item) for item in value) + ']'
    return str(value)
