"""MultiResolution and MultiResolutionTest: one crop and flip, a view per resolution."""
from __future__ import annotations

import numpy as np
import pytest
from mmcv.transforms import Compose
from mmpretrain.registry import TRANSFORMS

import san_plugin.mm  # noqa: F401
from san_plugin.mm.transforms import eval_resize_steps


def image(h: int = 60, w: int = 80) -> np.ndarray:
    """A horizontal ramp: flips and crops are visible in the pixel values."""
    ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    return np.broadcast_to(ramp, (h, w, 3)).astype(np.uint8).copy()


def test_views_have_the_sizes_largest_first():
    t = TRANSFORMS.build(dict(type='MultiResolution', resolutions=[16, 48, 32]))
    out = t({'img': image()})
    assert [v.shape for v in out['img']] == [(48, 48, 3), (32, 32, 3), (16, 16, 3)]
    assert out['resolutions'] == [48, 32, 16] and out['img_shape'] == (48, 48)


@pytest.mark.parametrize('seed', range(6))
def test_all_views_share_the_crop_and_the_flip(seed):
    np.random.seed(seed)
    t = TRANSFORMS.build(dict(type='MultiResolution', resolutions=[48, 24], flip_prob=0.5))
    big, small = t({'img': image()})['img']
    # the same crop of the same (possibly flipped) image: the small view is the big one downsized
    big_down = big.reshape(24, 2, 24, 2, 3).mean(axis=(1, 3))
    assert np.abs(big_down - small.astype(np.float32)).mean() < 6
    big_increasing = big[0, -1, 0] > big[0, 0, 0]
    small_increasing = small[0, -1, 0] > small[0, 0, 0]
    assert big_increasing == small_increasing


def test_flip_probability_extremes():
    never = TRANSFORMS.build(dict(type='MultiResolution', resolutions=[32], flip_prob=0.0,
                                  crop_ratio_range=(1.0, 1.0), aspect_ratio_range=(4 / 3, 4 / 3)))
    always = TRANSFORMS.build(dict(type='MultiResolution', resolutions=[32], flip_prob=1.0,
                                   crop_ratio_range=(1.0, 1.0), aspect_ratio_range=(4 / 3, 4 / 3)))
    a, b = never({'img': image()})['img'][0], always({'img': image()})['img'][0]
    assert a[0, -1, 0] > a[0, 0, 0] and b[0, -1, 0] < b[0, 0, 0]
    assert np.array_equal(a[:, ::-1], b)


def test_largest_only_and_bad_arguments():
    t = TRANSFORMS.build(dict(type='MultiResolution', resolutions=[48, 24], largest_only=True))
    assert [v.shape[0] for v in t({'img': image()})['img']] == [48]
    with pytest.raises(ValueError, match='duplicates'):
        TRANSFORMS.build(dict(type='MultiResolution', resolutions=[48, 48]))
    with pytest.raises(ValueError, match='flip_prob'):
        TRANSFORMS.build(dict(type='MultiResolution', resolutions=[48], flip_prob=2))


def test_small_images_are_upscaled():
    t = TRANSFORMS.build(dict(type='MultiResolution', resolutions=[64, 32]))
    assert t({'img': image(10, 12)})['img'][0].shape == (64, 64, 3)


def test_test_views_equal_the_single_resolution_pipeline():
    img = (np.random.default_rng(0).random((70, 90, 3)) * 255).astype(np.uint8)
    multi = TRANSFORMS.build(dict(type='MultiResolutionTest', resolutions=[40, 24]))({'img': img.copy()})
    for size, view in zip([40, 24], multi['img']):
        single = Compose([TRANSFORMS.build(t) for t in eval_resize_steps(size)])({'img': img.copy()})['img']
        assert view.shape == (size, size, 3) and np.array_equal(view, single)


@pytest.mark.parametrize('views_from', ['crop', 'largest'])
def test_views_come_from_the_named_source(views_from):
    import mmcv
    rng = np.random.default_rng(1)
    img = (rng.random((90, 120, 3)) * 255).astype(np.uint8)
    args = dict(type='MultiResolution', resolutions=[48, 32, 20], flip_prob=0.0, views_from=views_from,
                crop_ratio_range=(1.0, 1.0), aspect_ratio_range=(4 / 3, 4 / 3))
    views = TRANSFORMS.build(args)({'img': img.copy()})['img']
    # full-image crop, no flip: the largest view is the image resized; the others come from the source
    largest = mmcv.imresize(img, (48, 48), interpolation='bicubic', backend='pillow')
    assert np.array_equal(views[0], largest)
    # 'crop': every view from the image with pillow; 'largest': the smaller ones from the largest with OpenCV
    source, backend = (largest, 'cv2') if views_from == 'largest' else (img, 'pillow')
    for size, view in zip([32, 20], views[1:]):
        assert np.array_equal(view, mmcv.imresize(source, (size, size), interpolation='bicubic', backend=backend))
    other, other_backend = (img, 'pillow') if views_from == 'largest' else (largest, 'cv2')
    assert not np.array_equal(views[2], mmcv.imresize(other, (20, 20), interpolation='bicubic',
                                                      backend=other_backend))


def test_unknown_view_source_is_refused():
    with pytest.raises(ValueError, match="views_from must be one of .*'middle'"):
        TRANSFORMS.build(dict(type='MultiResolution', resolutions=[48], views_from='middle'))


def photo(h: int = 90, w: int = 120, seed: int = 0) -> np.ndarray:
    """Smooth colour fields with an edge: photo-like, so resizes of resizes stay close."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([127 + 100 * np.sin(x / 9 + c) * np.cos(y / 13 - c) for c in range(3)], axis=-1)
    img[:, w // 3:w // 3 + 4] = 255
    return np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize('mode', [dict(), dict(views_from='largest'), dict(largest_only=True)])
def test_every_view_is_flipped_together(mode):
    args = dict(type='MultiResolution', resolutions=[48, 32, 20], crop_ratio_range=(1.0, 1.0),
                aspect_ratio_range=(4 / 3, 4 / 3), **mode)
    plain = TRANSFORMS.build(dict(args, flip_prob=0.0))({'img': photo()})['img']
    flipped = TRANSFORMS.build(dict(args, flip_prob=1.0))({'img': photo()})['img']
    assert len(plain) == (1 if mode.get('largest_only') else 3)
    for a, b in zip(plain, flipped):
        assert np.array_equal(a[:, ::-1], b)


@pytest.mark.parametrize('seed', range(4))
def test_largest_only_is_the_crop_modes_largest_view(seed):
    """Same random draws (crop, then flip) as the other modes: the same crop and flip."""
    res = [48, 32, 20]
    views = {}
    for name, extra in (('crop', {}), ('largest', dict(views_from='largest')), ('only', dict(largest_only=True))):
        np.random.seed(seed)
        out = TRANSFORMS.build(dict(type='MultiResolution', resolutions=res, **extra))({'img': photo(seed=seed)})
        views[name] = out['img']
        assert out['resolutions'] == (res[:1] if name == 'only' else res)
    assert np.array_equal(views['only'][0], views['crop'][0]) and np.array_equal(views['largest'][0], views['crop'][0])


@pytest.mark.parametrize('seed', range(4))
def test_on_device_views_match_the_views_from_the_crop(seed):
    """largest_only + SANDataPreprocessor(resize_on_device) against every view resized from the crop."""
    import torch
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    res = [48, 32, 20]
    np.random.seed(seed)
    crop_views = TRANSFORMS.build(dict(type='MultiResolution', resolutions=res))({'img': photo(seed=seed)})['img']
    np.random.seed(seed)
    largest = TRANSFORMS.build(dict(type='MultiResolution', resolutions=res, largest_only=True))(
        {'img': photo(seed=seed)})['img']
    pre = MODELS.build(dict(type='SANDataPreprocessor', resize_on_device=True, resolutions=res))  # no normalisation
    batch = [[torch.from_numpy(np.ascontiguousarray(largest[0].transpose(2, 0, 1)))]]  # as PackInputs
    device_views = pre({'inputs': batch, 'data_samples': [DataSample()]}, True)['inputs']
    for size, ref, view in zip(res, crop_views, device_views):
        assert view.shape == (1, 3, size, size) and view.dtype == torch.float32
        diff = np.abs(view[0].permute(1, 2, 0).numpy() - ref.astype(np.float32))
        assert diff.mean() < 2.0  # a resize of a resize, not bit-equal (figure 9 of the perf results)
