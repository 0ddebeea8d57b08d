"""Multi-resolution testing (the sweeps and tools/test.py --tta): the views of one decode are the single-resolution test
crops, each runs as the model runs at its size, and a combination's accuracy is that of the mean
of its views' softmax. Checked on a SAN and on a plain model with mmpretrain's own preprocessor."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

from image_layouts import write_image_folder
from san_plugin.evaluation.topk import topk_correct
from san_plugin.mm.cli.config import load_config
from san_plugin.mm.eval_pipeline import set_model_resolution, set_multi_view_test
from san_plugin.mm.model_from_config import model_config
from san_plugin.mm.tta import (MultiResolutionTTA, evaluate_tta, set_multi_resolution_tta, view_probabilities,
                               view_sizes)

ROOT = Path(__file__).resolve().parents[2]
COMBINATIONS = [(32, 24), (40, 32, 24), (28, 24)]


def tiny_config(data: Path, san: bool):
    cfg = load_config(str(ROOT / 'configs' / 'demo' / 'san_resnet18_demo.py'), {
        'test_dataloader.dataset.data_root': str(data), 'test_dataloader.batch_size': 5,
        'test_dataloader.num_workers': 0, 'test_dataloader.persistent_workers': False,
        'model.head.num_classes': 3, 'data_preprocessor.num_classes': 3, 'data_preprocessor.resolutions': [32, 24],
        'model.backbone.base_channels': 8, 'model.backbone.stem_channels': 8, 'model.head.in_channels': 64,
        'model.san.resolutions': [32, 24], 'model.head.resolutions': [32, 24]})
    if not san:
        cfg.model.san = None
        cfg.data_preprocessor = dict(type='ClsDataPreprocessor', num_classes=3, mean=[127.5] * 3, std=[64.0] * 3,
                                     to_rgb=True)
    return cfg


def single_resolution_softmax(model, cfg, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The softmax of every test image at one size, through the single-resolution test pipeline."""
    cfg = copy.deepcopy(cfg)
    set_model_resolution(cfg, size, 0.875)
    scores, labels = [], []
    with torch.no_grad():
        for batch in Runner.build_dataloader(cfg.test_dataloader):
            data = model.data_preprocessor(batch, False)
            scores.append(torch.softmax(model(data['inputs'], mode='tensor'), dim=1))
            labels.append(torch.cat([s.gt_label for s in data['data_samples']]))
    return torch.cat(scores), torch.cat(labels)


def random_readout(model, cfg, size: int = 24) -> None:
    """A random linear head on the centred features at ``size``: predictions that vary from image
    to image and from size to size (a random network alone predicts one class for every image)."""
    cfg = copy.deepcopy(cfg)
    set_model_resolution(cfg, size, 0.875)
    with torch.no_grad():
        feats = torch.cat([model.extract_feat(model.data_preprocessor(batch, False)['inputs'])[-1]
                           for batch in Runner.build_dataloader(cfg.test_dataloader)])
        weight = torch.randn(3, feats.size(1), generator=torch.Generator().manual_seed(1))
        weight = weight / (feats.std(0) + 1e-6) * 2 / feats.size(1) ** 0.5
        model.head.fc.weight.copy_(weight)
        model.head.fc.bias.copy_(-weight @ feats.mean(0))


def readout_model(tmp_path: Path, san: bool, images_per_class: int):
    """The tiny config on a 3-class image folder of mixed sizes, and its model with a random readout."""
    data = write_image_folder(tmp_path / 'data', classes=('a', 'b', 'c'), per_split={'val': images_per_class},
                              sizes=((40, 40), (52, 40), (40, 47)))
    cfg = tiny_config(data, san)
    torch.manual_seed(0)
    model = MODELS.build(model_config(cfg)).eval()
    random_readout(model, cfg)
    return cfg, model


@pytest.mark.parametrize('san', [True, False], ids=['san', 'plain'])
def test_each_combination_scores_the_mean_of_its_single_resolution_softmax(tmp_path, san):
    cfg, model = readout_model(tmp_path, san, images_per_class=4)
    single = {s: single_resolution_softmax(model, cfg, s) for s in view_sizes(COMBINATIONS)}

    # one decode per image: the views equal the single-resolution crops, run the same way
    views_cfg = copy.deepcopy(cfg)
    set_multi_view_test(views_cfg, view_sizes(COMBINATIONS), 0.875)
    batches = [view_probabilities(model, batch) for batch in Runner.build_dataloader(views_cfg.test_dataloader)]
    for size, (scores, labels) in single.items():
        torch.testing.assert_close(torch.cat([probabilities[size] for probabilities, _ in batches]), scores)
        assert torch.equal(torch.cat([labels for _, labels in batches]), labels)

    results = evaluate_tta(model, cfg, [tuple(reversed(c)) for c in COMBINATIONS])
    assert list(results) == COMBINATIONS  # keys largest first, in the given order
    labels = single[32][1]
    for combination, (top1, top5) in results.items():
        mean = torch.stack([single[s][0] for s in combination]).mean(dim=0)
        assert top1 == pytest.approx(100.0 * topk_correct(mean, labels, 1) / len(labels))
        assert top5 == 100.0  # 3 classes
    assert len({top1 for top1, _ in results.values()}) > 1  # the check can tell the combinations apart


def test_combinations_are_checked(tmp_path):
    cfg = tiny_config(tmp_path, san=True)
    with pytest.raises(ValueError, match=r'two or more distinct positive integer sizes, got \[32, 32\]'):
        evaluate_tta(None, cfg, [(32, 32)])
    assert view_sizes([(24, 32), (40, 32)]) == [40, 32, 24]


def test_the_views_pipeline_keeps_the_config_eval_resize():
    from mmengine.config import Config
    from mmpretrain.registry import TRANSFORMS
    pipeline = [dict(type='SafeLoadImageFromFile'), dict(type='ResizeEdge', scale=256, edge='short'),
                dict(type='CenterCrop', crop_size=224), dict(type='PackInputs')]
    cfg = Config(dict(test_dataloader=dict(dataset=dict(pipeline=pipeline)),
                      eval_resize=dict(interpolation='bilinear', rounding='floor')))
    set_multi_view_test(cfg, [160, 96], 0.875)
    load, views, pack = cfg.test_dataloader.dataset.pipeline
    assert (load['type'], pack['type']) == ('SafeLoadImageFromFile', 'PackInputs')
    assert [step.transforms[0].scale for step in TRANSFORMS.build(views).steps.values()] == [182, 109]


@pytest.mark.parametrize('san', [True, False], ids=['san', 'plain'])
def test_the_test_tool_model_predicts_the_mean_softmax_of_its_views(tmp_path, san):
    cfg, model = readout_model(tmp_path, san, images_per_class=3)
    single = {s: single_resolution_softmax(model, cfg, s) for s in (32, 24)}

    tta_cfg = copy.deepcopy(cfg)
    set_multi_resolution_tta(tta_cfg, [24, 32], 0.875)
    assert tta_cfg.model.type == 'MultiResolutionTTA'
    tta = MultiResolutionTTA(module=model)
    samples = [s for batch in Runner.build_dataloader(tta_cfg.test_dataloader) for s in tta.test_step(batch)]
    scores = torch.stack([s.pred_score for s in samples])
    torch.testing.assert_close(scores, (single[32][0] + single[24][0]) / 2)
    assert [int(s.pred_label) for s in samples] == scores.argmax(1).tolist()
    assert torch.equal(torch.cat([s.gt_label for s in samples]), single[32][1])
    with pytest.raises(ValueError, match='two or more distinct positive resolutions'):
        set_multi_resolution_tta(copy.deepcopy(cfg), [32, 32], 0.875)
