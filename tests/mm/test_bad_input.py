"""Bad images and bad datasets: clear errors naming the path, or an opt-in skip."""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import san_plugin.mm  # noqa: F401  (registers the transforms and datasets)
from mmpretrain.registry import DATASETS, MODELS, TRANSFORMS
from san_plugin.mm.loading import BadImageError, CheckedCustomDataset, SafeLoadImageFromFile

PIXELS = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)  # RGB


def jpeg_bytes(path: Path) -> bytes:
    Image.fromarray(PIXELS).save(path)
    return path.read_bytes()


def bad_files(folder: Path) -> dict[str, Path]:
    good = jpeg_bytes(folder / 'good.jpg')
    files = {'corrupt_jpeg': good[:20] + bytes(range(256)) * 4, 'truncated_jpeg': good[:len(good) // 2],
             'zero_bytes': b'', 'text_as_jpeg': b'name,label\ncat,1\n'}
    for name, data in files.items():
        (folder / f'{name}.jpg').write_bytes(data)
    return {name: folder / f'{name}.jpg' for name in files}


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
@pytest.mark.parametrize('kind', ['corrupt_jpeg', 'truncated_jpeg', 'zero_bytes', 'text_as_jpeg', 'missing'])
def test_bad_image_error_names_the_file(tmp_path, kind, backend):
    path = tmp_path / 'missing.jpg' if kind == 'missing' else bad_files(tmp_path)[kind]
    with pytest.raises(BadImageError, match=str(path)) as error:
        SafeLoadImageFromFile(imdecode_backend=backend)(dict(img_path=str(path)))
    assert error.value.path == str(path)


@pytest.fixture
def logged(monkeypatch) -> list[str]:
    messages: list[str] = []
    monkeypatch.setattr('san_plugin.mm.loading.print_log', lambda message, **kwargs: messages.append(message))
    return messages


def test_skip_bad_images_logs_the_file_and_returns_none(tmp_path, logged):
    path = bad_files(tmp_path)['zero_bytes']
    load = SafeLoadImageFromFile(skip_bad_images=True)
    assert load(dict(img_path=str(path))) is None and load(dict(img_path=str(path))) is None
    assert logged == [f'skipping bad image {path}: the file is empty (0 bytes)']  # once per file


def image_folder(root: Path, bad: dict[str, bytes] | None = None) -> Path:
    for name in ('a', 'b'):
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(PIXELS).save(root / name / f'{i}.jpg')
    for relative, data in (bad or {}).items():
        (root / relative).write_bytes(data)
    return root


def test_dataset_with_skip_draws_another_image_in_training(tmp_path):
    root = image_folder(tmp_path / 'train', {'a/broken.jpg': b'', 'b/fake.jpg': b'not an image'})
    dataset = DATASETS.build(dict(type='CheckedCustomDataset', data_root=str(root), data_prefix='',
                                  pipeline=[dict(type='SafeLoadImageFromFile', skip_bad_images=True),
                                            dict(type='PackInputs')]))
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    for bad in ('broken.jpg', 'fake.jpg'):
        sample = dataset[next(i for i, p in enumerate(paths) if p.endswith(bad))]
        assert sample['inputs'].shape == (3, 40, 48)
        assert not sample['data_samples'].img_path.endswith(bad)


def test_dataset_without_skip_fails_naming_the_file(tmp_path):
    root = image_folder(tmp_path / 'train', {'a/broken.jpg': b''})
    dataset = DATASETS.build(dict(type='CheckedCustomDataset', data_root=str(root), data_prefix='',
                                  pipeline=[dict(type='SafeLoadImageFromFile'), dict(type='PackInputs')]))
    index = next(i for i in range(len(dataset)) if dataset.get_data_info(i)['img_path'].endswith('broken.jpg'))
    with pytest.raises(BadImageError, match=str(root / 'a' / 'broken.jpg')):
        dataset[index]


def write_formats(folder: Path) -> dict[str, Path]:
    gray = PIXELS[:, :, 0]
    Image.fromarray(gray).save(folder / 'gray.png')
    Image.fromarray(np.dstack([PIXELS, np.full_like(gray, 128)])).save(folder / 'rgba.png')
    Image.fromarray(PIXELS).convert('CMYK').save(folder / 'cmyk.jpg')
    Image.fromarray(gray.astype(np.uint16) * 257).save(folder / 'gray16.png')
    cv2.imwrite(str(folder / 'rgb16.png'), PIXELS[:, :, ::-1].astype(np.uint16) * 257)
    Image.fromarray(PIXELS).convert('P').save(folder / 'palette.png')
    return {p.stem: p for p in folder.iterdir()}


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
@pytest.mark.parametrize('kind', ['gray', 'rgba', 'cmyk', 'gray16', 'rgb16', 'palette'])
def test_any_stored_format_becomes_hxwx3_uint8(tmp_path, kind, backend):
    results = SafeLoadImageFromFile(imdecode_backend=backend)(dict(img_path=str(write_formats(tmp_path)[kind])))
    img = results['img']
    assert img.shape == (40, 48, 3) and img.dtype == np.uint8 and results['img_shape'] == (40, 48)
    rgb = img[:, :, ::-1].astype(int)  # BGR, as LoadImageFromFile gives
    expected = PIXELS[:, :, :1] if kind.startswith('gray') else PIXELS
    tolerance = {'cmyk': 12, 'palette': 40}.get(kind, 1)  # lossy JPEG / 256-colour palette
    assert np.abs(rgb - expected).mean() < tolerance  # the values survive, e.g. 16 bits are not clipped


def test_images_smaller_than_the_crop_are_upscaled_with_one_warning(tmp_path, logged):
    Image.fromarray(PIXELS[:10, :12]).save(tmp_path / 'tiny.png')
    load = TRANSFORMS.build(dict(type='SafeLoadImageFromFile', warn_smaller_than=32))
    views = TRANSFORMS.build(dict(type='MultiResolution', resolutions=[32, 24]))
    for _ in range(3):
        results = views(load(dict(img_path=str(tmp_path / 'tiny.png'))))
    assert [v.shape for v in results['img']] == [(32, 32, 3), (24, 24, 3)]
    assert len(logged) == 1 and 'tiny.png is 12x10 px, smaller than the resolution 32 px' in logged[0]


def test_empty_dataset_folder_is_an_error_naming_it(tmp_path):
    (tmp_path / 'train').mkdir()
    with pytest.raises((RuntimeError, ValueError), match=str(tmp_path / 'train')):
        CheckedCustomDataset(data_root=str(tmp_path), data_prefix='train', pipeline=[])
    with pytest.raises(FileNotFoundError, match=str(tmp_path / 'nowhere')):
        CheckedCustomDataset(data_root=str(tmp_path), data_prefix='nowhere', pipeline=[])


def test_empty_class_folder_is_an_error_naming_it(tmp_path):
    root = image_folder(tmp_path / 'train')
    (root / 'c').mkdir()
    with pytest.raises(ValueError, match=f'without images: {root / "c"}'):
        CheckedCustomDataset(data_root=str(root), data_prefix='', pipeline=[])
    dataset = CheckedCustomDataset(data_root=str(root), data_prefix='', pipeline=[], allow_empty_classes=True)
    assert len(dataset) == 6 and len(dataset.CLASSES) == 3


def test_annotation_file_naming_missing_images_is_an_error_naming_them(tmp_path):
    root = image_folder(tmp_path / 'train')
    (tmp_path / 'ann.txt').write_text('a/0.jpg 0\nb/gone.jpg 1\n')
    with pytest.raises(FileNotFoundError, match=f'ann.txt names 1 image.*{root / "b" / "gone.jpg"}'):
        CheckedCustomDataset(data_root=str(tmp_path), ann_file='ann.txt', data_prefix='train', classes=['a', 'b'],
                             pipeline=[])
    (tmp_path / 'empty.txt').write_text('')
    with pytest.raises(ValueError, match='empty.txt holds no images'):
        CheckedCustomDataset(data_root=str(tmp_path), ann_file='empty.txt', data_prefix='train',
                             classes=['a', 'b'], pipeline=[])


def san_model(resolutions=(32, 24), head_resolutions=(32, 24), backbone: dict | None = None):
    backbone = backbone or dict(type='ResNet', depth=18, base_channels=8, stem_channels=8)
    return MODELS.build(dict(type='SANClassifier', backbone=backbone, san=dict(resolutions=list(resolutions)),
                             neck=dict(type='GlobalAveragePooling'),
                             head=dict(type='SANClsHead', num_classes=2, in_channels=64,
                                       resolutions=list(head_resolutions))))


@pytest.mark.parametrize('resolutions, message', [
    ([], 'is empty'), ([32, 32], 'duplicates: [32]'), ([32, 24.5], 'got 24.5 of type float'),
    ([32, 0], 'positive integers, got 0'), ([32, -24], 'positive integers, got -24')])
def test_bad_resolution_sets_in_configs_are_refused_naming_the_value(resolutions, message):
    """The same sets as in tests/core, through each registered component that takes one."""
    with pytest.raises(ValueError, match=re.escape(message)):
        san_model(resolutions=resolutions)  # the backbone's set (head valid)
    with pytest.raises(ValueError, match=re.escape(message)):
        san_model(head_resolutions=resolutions)
    for transform in ('MultiResolution', 'MultiResolutionTest'):
        with pytest.raises(ValueError, match=f'{transform} resolutions .*{re.escape(message)}'):
            TRANSFORMS.build(dict(type=transform, resolutions=resolutions))
    with pytest.raises(ValueError, match=re.escape(message)):
        MODELS.build(dict(type='SANDataPreprocessor', resize_on_device=True, resolutions=resolutions))


@MODELS.register_module(name='SANTestUnknownConv', force=True)
class UnknownConv(torch.nn.Conv2d):
    """A convolution type the converter has never been taught (it could compute anything)."""


@pytest.mark.parametrize('backbone, layer', [
    (dict(type='ResNet', depth=18, base_channels=8, stem_channels=8, conv_cfg=dict(type='SANTestUnknownConv')),
     'conv1'),
    (dict(type='MobileNetV2', widen_factor=0.25, conv_cfg=dict(type='SANTestUnknownConv')), 'conv1.conv'),
])
def test_unconvertible_backbone_is_refused_naming_layer_and_type(backbone, layer):
    with pytest.raises(TypeError) as error:
        san_model(backbone=backbone)
    message = str(error.value)
    assert f'cannot convert backbone {backbone["type"]} to a SAN' in message
    assert f"layer '{layer}' is a {UnknownConv.__module__}.UnknownConv" in message
