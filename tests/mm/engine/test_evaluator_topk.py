"""The evaluators match the head: a top-k above its number of classes stops the run when the runner is
built, the same for validation and testing (the shipped demo config with a 3-class head)."""
from __future__ import annotations

from pathlib import Path

import pytest
from mmengine.config import DictAction

from demo_options import tiny_cfg_options
from image_layouts import write_image_folder
from san_plugin.mm.cli.config import load_config
from san_plugin.mm.engine.evaluator_topk import EvaluatorTopkError, check_evaluator_topk
from san_plugin.mm.runner import build_runner

DEMO = str(Path(__file__).resolve().parents[3] / 'configs' / 'demo' / 'san_resnet18_demo.py')


@pytest.fixture
def three_classes(tmp_path):
    """The demo config for a 3-class head on 3 class folders, its evaluators as shipped: topk=(1, 5)."""
    data = write_image_folder(tmp_path / 'data', classes=('a', 'b', 'c'), per_split={'train': 1, 'val': 1})
    parsed = {}
    for item in tiny_cfg_options(data, num_classes=3):
        key, value = item.split('=', 1)
        if not key.endswith('_evaluator.topk'):
            parsed[key] = DictAction._parse_iterable(value)
    return load_config(DEMO, parsed, str(tmp_path / 'work'))


@pytest.mark.parametrize('evaluator', ['val_evaluator', 'test_evaluator'])
def test_a_topk_above_the_heads_classes_is_refused_at_startup_naming_the_key(three_classes, evaluator):
    other = 'test_evaluator' if evaluator == 'val_evaluator' else 'val_evaluator'
    three_classes[other].topk = (1, )
    assert three_classes[evaluator].topk == (1, 5)
    with pytest.raises(EvaluatorTopkError) as info:
        build_runner(three_classes)
    assert str(info.value) == (
        f'{evaluator}.topk = (1, 5) asks for top-5 accuracy, but the head has 3 classes (model.head.num_classes = '
        f'3): ask for k of at most 3, e.g. --cfg-options "{evaluator}.topk=(1,)"')


def test_topk_within_the_heads_classes_is_accepted(three_classes):
    three_classes.val_evaluator.topk = three_classes.test_evaluator.topk = (1, 3)
    build_runner(three_classes)


def test_every_metric_of_an_evaluator_is_checked_through_test_time_wrappers():
    cfg = dict(model=dict(type='MultiResolutionTTA', module=dict(head=dict(num_classes=3))),
               val_evaluator=dict(type='Evaluator', metrics=[dict(type='Accuracy', topk=1),
                                                             dict(type='Accuracy', topk=4)]))
    with pytest.raises(EvaluatorTopkError, match=r'val_evaluator.metrics.1.topk = 4 asks for top-4'):
        check_evaluator_topk(cfg)
