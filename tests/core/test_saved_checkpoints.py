"""Checkpoints saved by an earlier version keep loading: the committed tiny SANs of
``tests/fixtures/checkpoints`` (metadata version 1, written by ``make_san_v1.py`` there) load into
freshly converted models, give the outputs they gave when saved, and are refused by a model
converted with other settings, naming the setting."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from san_plugin.core import SANMetadataError, convert, get_controller, san_resolution, set_mode
from tiny_models import tiny_cnn

FIXTURES = Path(__file__).resolve().parents[1] / 'fixtures' / 'checkpoints'
RECIPES = json.loads((FIXTURES / 'san_v1_recipes.json').read_text())
#: a setting changed per checkpoint, and the metadata field the refusal must name
OTHER_SETTINGS = {'san_v1_meta': [('encoding', 'paper', 'encoding'), ('meta_hidden', 8, 'meta_hidden'),
                                  ('exclude', ['4'], 'exclude'), ('resolutions', [40, 24], 'resolutions')],
                  'san_v1_shared': [('convs', 'meta', 'convs'), ('encoding', dict(factor=0.2, base=32.0), 'encoding')]}


def fresh_san(name: str, **changes) -> torch.nn.Module:
    settings = {**RECIPES[name]['convert'], **changes}
    torch.manual_seed(5)  # other weights than the saved ones
    model, _ = convert(tiny_cnn(), settings.pop('resolutions'), **settings)
    return model


def saved_state(name: str) -> dict:
    return torch.load(FIXTURES / f'{name}.pth', weights_only=True)


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_a_version_1_checkpoint_loads_and_gives_its_outputs(name):
    state = saved_state(name)
    assert state['san._extra_state']['version'] == 1
    model = fresh_san(name)
    model.load_state_dict(state)
    model.eval()
    assert get_controller(model).calibrated == tuple(RECIPES[name]['calibrated'])
    expected = torch.load(FIXTURES / 'san_v1_outputs.pth', weights_only=True)
    for key, logits in expected[name].items():
        mode, size = key.split('_')
        set_mode(model, mode)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # sizes outside the training range run by proxy inference
            with torch.no_grad(), san_resolution(model, int(size)):
                out = model(F.interpolate(expected['inputs'], size=(int(size),) * 2, mode='bilinear',
                                          align_corners=False))
        torch.testing.assert_close(out, logits, rtol=1e-5, atol=1e-6, msg=f'{name} at {key}')


@pytest.mark.parametrize('name, setting, value, field', [(name, *change) for name, changes in OTHER_SETTINGS.items()
                                                          for change in changes])
def test_a_version_1_checkpoint_is_checked(name, setting, value, field):
    model = fresh_san(name, **{setting: value})
    with pytest.raises(SANMetadataError, match=f'{field}: checkpoint has'):
        model.load_state_dict(saved_state(name))
