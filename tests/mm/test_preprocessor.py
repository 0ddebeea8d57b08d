"""SANDataPreprocessor: one batch per resolution, labels once, consistent Mixup/CutMix."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import san_plugin.mm  # noqa: F401

SIZES = [32, 16]


def views_batch(n: int = 4) -> dict:
    g = torch.Generator().manual_seed(0)
    big = [torch.randint(0, 256, (3, 32, 32), generator=g, dtype=torch.uint8) for _ in range(n)]
    inputs = [[b, b[:, ::2, ::2].contiguous()] for b in big]  # the small view is the big one subsampled
    return {'inputs': inputs, 'data_samples': [DataSample().set_gt_label(i % 3) for i in range(n)]}


def build(**kwargs):
    return MODELS.build(dict(type='SANDataPreprocessor', num_classes=3, mean=[10.0, 20.0, 30.0],
                             std=[2.0, 3.0, 4.0], to_rgb=True, **kwargs))


def test_one_normalised_batch_per_resolution():
    data = views_batch()
    out = build()(copy.deepcopy(data), training=True)
    assert [tuple(v.shape) for v in out['inputs']] == [(4, 3, 32, 32), (4, 3, 16, 16)]
    raw = data['inputs'][1][1].float().flip(0)
    expected = (raw - torch.tensor([10.0, 20.0, 30.0])[:, None, None]) / torch.tensor([2.0, 3.0, 4.0])[:, None, None]
    assert torch.allclose(out['inputs'][1][1], expected)
    assert [int(s.gt_label) for s in out['data_samples']] == [0, 1, 2, 0]


def test_default_collate_layout_is_accepted():
    data = views_batch()
    collated = {'inputs': [torch.stack([s[i] for s in data['inputs']]) for i in range(2)],
                'data_samples': data['data_samples']}
    a = build()(copy.deepcopy(data), training=False)['inputs']
    b = build()(collated, training=False)['inputs']
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_single_view_behaves_like_cls_data_preprocessor():
    data = {'inputs': [torch.zeros(3, 8, 8, dtype=torch.uint8)] * 2, 'data_samples': [DataSample().set_gt_label(1)] * 2}
    out = build()(data)
    assert out['inputs'].shape == (2, 3, 8, 8)


@pytest.mark.parametrize('augment', [dict(type='Mixup', alpha=1.0), dict(type='CutMix', alpha=1.0)])
def test_batch_augments_mix_every_view_alike(augment):
    np.random.seed(0)
    torch.manual_seed(0)
    pre = build(batch_augments=dict(augments=[augment]))
    out = pre(views_batch(), training=True)
    big, small = out['inputs']
    same = torch.isclose(big[:, :, ::2, ::2], small, atol=1e-4).float().mean()
    assert same > (0.999 if augment['type'] == 'Mixup' else 0.8)  # the same mix, subsampled (box edges aside)
    scores = torch.stack([s.gt_score for s in out['data_samples']])
    assert torch.allclose(scores.sum(1), torch.ones(4))
    assert (scores.max(1).values < 1).any()  # something was mixed


def test_resize_on_device_makes_the_smaller_views():
    pre = build(resize_on_device=True, resolutions=SIZES)
    data = views_batch()
    data['inputs'] = [[views[0]] for views in data['inputs']]
    out = pre(data, training=True)
    assert [v.shape[-1] for v in out['inputs']] == SIZES
    with pytest.raises(ValueError, match='resolutions'):
        build(resize_on_device=True)


# -- on-device views: MultiResolution(largest_only=True) + resize_on_device -------------------------
MEAN, STD = torch.tensor([10.0, 20.0, 30.0]).view(1, 3, 1, 1), torch.tensor([2.0, 3.0, 4.0]).view(1, 3, 1, 1)
DEVICE_SIZES = [32, 24, 16]


def largest_only_batch(n: int = 4, collate: str = 'default', dtype=torch.uint8) -> dict:
    """What the loader gives for ``MultiResolution(largest_only=True)``: a list of one view per sample."""
    g = torch.Generator().manual_seed(1)
    raw = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8).to(dtype)
    samples = [DataSample().set_gt_label(i % 3) for i in range(n)]
    inputs = [raw] if collate == 'default' else [[x] for x in raw]
    return {'inputs': inputs, 'data_samples': samples}


def normalised(raw: torch.Tensor) -> torch.Tensor:
    return (raw.flip(1).float() - MEAN) / STD


def bicubic(x: torch.Tensor, size: int) -> torch.Tensor:
    return torch.nn.functional.interpolate(x, size=(size, size), mode='bicubic', antialias=True, align_corners=False)


@pytest.mark.parametrize('dtype', [torch.uint8, torch.float32])  # uint8: the CPU path; float: a GPU's path
def test_device_views_are_the_largest_resized_then_normalised(dtype):
    data = largest_only_batch(dtype=dtype)
    raw = data['inputs'][0]
    out = build(resize_on_device=True, resolutions=DEVICE_SIZES)(data, training=True)['inputs']
    assert [tuple(v.shape) for v in out] == [(4, 3, s, s) for s in DEVICE_SIZES]  # largest first
    assert all(v.dtype == torch.float32 for v in out)
    assert torch.allclose(out[0], normalised(raw))  # normalised once, channels flipped (to_rgb)
    for size, view in zip(DEVICE_SIZES[1:], out[1:]):
        if dtype == torch.uint8:  # resized in uint8 (rounded, clamped like PIL), then normalised
            expected = normalised(bicubic(raw, size))
        else:  # normalised, then resized in float (normalisation is affine: the same up to rounding)
            expected = bicubic(normalised(raw), size)
        assert torch.allclose(view, expected, atol=1e-5)


def test_device_uint8_and_float_paths_agree():
    pre = build(resize_on_device=True, resolutions=DEVICE_SIZES)
    a = pre(largest_only_batch(dtype=torch.uint8), training=True)['inputs']
    b = pre(largest_only_batch(dtype=torch.float32), training=True)['inputs']
    for x, y in zip(a, b):  # the uint8 kernel rounds (and clamps) after each of its two passes, as PIL does
        diff = ((x - y) * STD).abs()  # grey levels; these are noise images, the worst case for overshoot
        assert diff.mean() < 0.4 and diff.median() <= 0.5


def test_device_views_do_not_depend_on_the_collate_function():
    pre = build(resize_on_device=True, resolutions=DEVICE_SIZES)
    a = pre(largest_only_batch(collate='default'), training=True)['inputs']
    b = pre(largest_only_batch(collate='pseudo'), training=True)['inputs']
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_only_the_largest_uint8_view_is_copied_to_the_device(monkeypatch):
    pre = build(resize_on_device=True, resolutions=DEVICE_SIZES)
    copied = []
    original = pre.cast_data
    monkeypatch.setattr(pre, 'cast_data', lambda data: copied.append(data) or original(data))
    pre(largest_only_batch(), training=True)
    assert len(copied) == 1 and copied[0].dtype == torch.uint8 and tuple(copied[0].shape) == (4, 3, 32, 32)
    copied.clear()
    pre_multi = build()
    monkeypatch.setattr(pre_multi, 'cast_data', lambda data: copied.append(data) or original(data))
    pre_multi(views_batch(), training=True)  # without on-device resizing: every view, each as uint8
    assert [tuple(c.shape[-2:]) for c in copied] == [(32, 32), (16, 16)] and all(c.dtype == torch.uint8 for c in copied)


def test_multi_view_batches_are_used_as_they_come():
    """Validation (MultiResolutionTest) gives every view: on-device resizing must not replace them."""
    data = views_batch()
    pre = build(resize_on_device=True, resolutions=SIZES)
    out = pre(copy.deepcopy(data), training=False)['inputs']
    ref = build()(copy.deepcopy(data), training=False)['inputs']
    assert all(torch.equal(x, y) for x, y in zip(out, ref))


def test_single_view_batches_are_not_resized():
    """tools/test.py at one resolution: plain tensors, no view list."""
    data = {'inputs': [torch.zeros(3, 24, 24, dtype=torch.uint8)] * 2,
            'data_samples': [DataSample().set_gt_label(1)] * 2}
    out = build(resize_on_device=True, resolutions=DEVICE_SIZES)(data)
    assert isinstance(out['inputs'], torch.Tensor) and out['inputs'].shape == (2, 3, 24, 24)


def test_largest_view_of_the_wrong_size_is_refused():
    pre = build(resize_on_device=True, resolutions=[48, 24])
    with pytest.raises(ValueError, match='largest view at 48 px'):
        pre(largest_only_batch(), training=True)


def test_device_views_stay_float32_under_autocast():
    pre = build(resize_on_device=True, resolutions=DEVICE_SIZES)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        for dtype in (torch.uint8, torch.float32):
            out = pre(largest_only_batch(dtype=dtype), training=True)['inputs']
            assert all(v.dtype == torch.float32 for v in out)


@pytest.mark.parametrize('augment', ['Mixup', 'CutMix'])
def test_device_views_are_mixed_with_one_permutation_and_lambda(augment):
    np.random.seed(3)
    torch.manual_seed(3)
    pre = build(resize_on_device=True, resolutions=[32, 16],
                batch_augments=dict(augments=[dict(type=augment, alpha=1.0)]))
    data = largest_only_batch(n=6, dtype=torch.float32)
    raw = data['inputs'][0].clone()
    big, small = pre(data, training=True)['inputs']
    scores = torch.stack([s.gt_score for s in data['data_samples']])
    assert torch.allclose(scores.sum(1), torch.ones(6)) and (scores.max(1).values < 1).any()
    # recover the permutation from the largest view, then check the small view used the same one
    unmixed = normalised(raw)
    if augment == 'Mixup':  # big = lam * x + (1 - lam) * x[index]; resizing is linear, so small = resize(big)
        assert torch.allclose(small, bicubic(big, 16), atol=1e-4)
    else:  # each view: its own pixels outside the (scaled) box, one other image's inside
        changed = (big != unmixed).flatten(1).any(1)
        assert changed.any()
        small_unmixed = bicubic(unmixed, 16)
        for i in torch.nonzero(changed).flatten().tolist():
            inside = (big[i] != unmixed[i]).any(0)
            source = [j for j in range(6) if torch.equal(big[i][:, inside], unmixed[j][:, inside])]
            assert source, 'the box holds another image of the batch'
            inside_small = (small[i] != small_unmixed[i]).any(0)
            assert torch.equal(small[i][:, inside_small], small_unmixed[source[0]][:, inside_small])


def test_mixup_leaves_the_callers_batch_alone():
    np.random.seed(0)
    pre = build(batch_augments=dict(augments=[dict(type='CutMix', alpha=1.0)]))
    data = views_batch()
    before = copy.deepcopy(data['inputs'])
    pre(data, training=True)
    assert all(torch.equal(a, b) for x, y in zip(before, data['inputs']) for a, b in zip(x, y))


def packed_samples(n: int, sizes: list[int]) -> list[dict]:
    """What a dataset gives after ``MultiResolution`` + ``PackInputs``: one list of views per sample."""
    g = torch.Generator().manual_seed(2)
    return [dict(inputs=[torch.randint(0, 256, (3, s, s), generator=g, dtype=torch.uint8) for s in sizes],
                 data_samples=DataSample().set_gt_label(i % 3)) for i in range(n)]


@pytest.mark.parametrize('n', [1, 3, 4])
@pytest.mark.parametrize('sizes', [[32, 16], [32, 24, 16], [32]])
def test_mmengine_collate_functions_give_the_same_views(n, sizes):
    """pseudo_collate (mmengine's Runner default) transposes the view lists; default_collate stacks them."""
    from mmengine.dataset import default_collate, pseudo_collate
    samples = packed_samples(n, sizes)
    resize = sizes == [32]
    pre = build(resize_on_device=True, resolutions=DEVICE_SIZES) if resize else build()
    a = pre(pseudo_collate(copy.deepcopy(samples)), training=True)['inputs']
    b = pre(default_collate(copy.deepcopy(samples)), training=True)['inputs']
    expected = DEVICE_SIZES if resize else sizes
    assert [tuple(v.shape) for v in a] == [(n, 3, s, s) for s in expected]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert torch.equal(a[0][-1], normalised(samples[-1]['inputs'][0][None])[0])  # sample order kept
