"""``--cfg-options``: every override is read by the run or refused naming the key that does the job.

The last test walks every shipped config's top-level keys: overriding each one either changes what
the Runner is given (or what the key's reader does) or is refused.
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

import san_plugin.mm  # noqa: F401  (registers SANRunner and its config steps)
from san_plugin.mm.cli.config import load_config, merge_options
from san_plugin.mm.cli.config_keys import MMENGINE_KEYS, UnusedConfigKeyError
from san_plugin.mm.eval_pipeline import set_model_resolution
from san_plugin.mm.runner import build_runner

REPO = Path(__file__).resolve().parents[3]
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)
SAN = str(REPO / 'configs' / 'san_resnet50_imagenet.py')
BASELINE = str(REPO / 'configs' / 'imagenette' / 'baseline_resnet18_imagenette_32.py')
FINETUNES = [str(REPO / 'configs' / 'san_resnet50_imagenet_finetune.py'),
             str(REPO / 'configs' / 'imagenette' / 'san_resnet18_imagenette_finetune.py')]


def test_train_resolution_on_a_san_config_is_refused_naming_the_sans_key():
    with pytest.raises(UnusedConfigKeyError, match=r"--cfg-options train_resolution: 'train_resolution' is the "
                                                   r'training size of a single-resolution model; this config builds '
                                                   r'a SAN, whose training sizes are model.san.resolutions'):
        load_config(SAN, {'train_resolution': 160})


@pytest.mark.parametrize('path', FINETUNES, ids=lambda p: Path(p).name)
def test_pretrained_checkpoint_on_a_finetune_config_is_refused_naming_the_init_cfg_keys(path):
    with pytest.raises(UnusedConfigKeyError) as info:
        load_config(path, {'pretrained_checkpoint': 'other.pth'})
    assert "'pretrained_checkpoint' is a variable of " + path in str(info.value)
    assert ('override the setting(s) that hold its value instead: model.backbone.init_cfg.checkpoint, '
            'model.head.init_cfg.checkpoint') in str(info.value)
    cfg = load_config(path, {'model.backbone.init_cfg.checkpoint': 'other.pth', 'model.head.init_cfg.checkpoint':
                             'other.pth'})
    assert cfg.model.backbone.init_cfg.checkpoint == cfg.model.head.init_cfg.checkpoint == 'other.pth'


def test_a_made_up_key_is_refused_and_a_misspelt_one_names_the_likely_key():
    with pytest.raises(UnusedConfigKeyError, match="nothing reads a top-level key 'made_up_key' in a run of "):
        load_config(SAN, {'made_up_key': 1})
    with pytest.raises(UnusedConfigKeyError, match="'train_dataloder'.*did you mean 'train_dataloader'"):
        load_config(SAN, {'train_dataloder.batch_size': 2})


def test_keys_the_tool_sets_itself_are_refused_naming_its_argument():
    with pytest.raises(UnusedConfigKeyError, match="'launcher' is set by --launcher"):
        load_config(SAN, {'launcher': 'pytorch'})
    with pytest.raises(UnusedConfigKeyError, match="'work_dir' is set by --work-dir"):
        load_config(SAN, {'work_dir': 'a'}, work_dir='b')
    with pytest.raises(UnusedConfigKeyError, match="'load_from' is set by the CHECKPOINT argument"):
        load_config(SAN, {'load_from': 'a.pth'}, set_by={'load_from': 'the CHECKPOINT argument'})
    assert load_config(SAN, {'work_dir': 'a'}).work_dir == 'a'


def test_keys_the_run_reads_are_accepted_and_reach_the_config():
    cfg = load_config(SAN, {'model.san.resolutions': [160, 128], 'train_dataloader.batch_size': 3,
                            'log_level': 'DEBUG', 'sync_bn': 'torch'})
    assert (cfg.model.san.resolutions, cfg.train_dataloader.batch_size, cfg.log_level, cfg.sync_bn) == (
        [160, 128], 3, 'DEBUG', 'torch')
    assert load_config(BASELINE, {'train_resolution': 40}).train_resolution == 40


def test_an_overridden_custom_imports_is_imported(tmp_path, monkeypatch):
    (tmp_path / 'san_probe_module.py').write_text('IMPORTED = True\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, 'san_probe_module', raising=False)
    load_config(SAN, {'custom_imports': dict(imports=['san_plugin.mm', 'san_probe_module'])})
    assert sys.modules['san_probe_module'].IMPORTED


# -- every shipped config, every top-level key ------------------------------------------------------

class Received(Exception):
    """What ``Runner.__init__`` was given: raised instead of building anything."""

    def __init__(self, runner_type: type, arguments: dict) -> None:
        super().__init__()
        self.value = (runner_type.__name__, {k: v for k, v in arguments.items() if k != 'cfg'},
                      {k: arguments['cfg'].get(k) for k in sorted(MMENGINE_KEYS - {'runner_type', 'custom_imports'})})


def runner_inputs(cfg: Config) -> tuple:
    try:
        build_runner(copy.deepcopy(cfg))
    except Received as received:
        return received.value
    raise AssertionError('the runner was built without Runner.__init__')


def changed(key: str, value):
    """Another valid value of the top-level ``key`` (``value`` is the config's)."""
    if key == 'eval_resize':
        return {'rounding': 'round' if value.get('rounding') == 'floor' else 'floor'}
    special = {'runner_type': 'Runner', 'default_scope': 'mmengine', 'log_level': 'DEBUG'}
    if key in special:
        return special[key]
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 8
    if isinstance(value, str):
        return value + '_other'
    if value is None:
        return 'other'
    if isinstance(value, (list, tuple)):
        return list(value) + list(value[-1:])
    return {'other_key': 1}


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.relative_to(REPO / 'configs').as_posix())
def test_every_top_level_key_of_every_config_is_honoured_when_overridden_or_refused(path, monkeypatch):
    def receive(self, **arguments):
        raise Received(type(self), arguments)

    monkeypatch.setattr(Runner, '__init__', receive)
    shipped = load_config(str(path))
    before = runner_inputs(shipped)
    for key in shipped.keys():
        if key == 'custom_imports':
            continue  # test_an_overridden_custom_imports_is_imported
        cfg = copy.deepcopy(shipped)
        try:
            merge_options(cfg, {key: changed(key, shipped[key])}, str(path), {'launcher': '--launcher'})
        except UnusedConfigKeyError as error:
            assert f'--cfg-options {key}: ' in str(error)
            continue
        reference = before
        if key == 'eval_resize':  # read where a test size is set: tools/test.py --resolution, the sweeps
            unchanged = copy.deepcopy(shipped)
            for each in (cfg, unchanged):
                set_model_resolution(each, 160, 0.875)
            reference = runner_inputs(unchanged)
        assert runner_inputs(cfg) != reference, f'{key} was accepted but changed nothing'
