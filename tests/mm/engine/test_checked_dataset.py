"""CheckedCustomDataset: bad datasets are errors naming the folder or the files."""
from __future__ import annotations

from pathlib import Path

import pytest
from mmpretrain.registry import DATASETS

import san_plugin.mm  # noqa: F401  (registers the transforms and datasets)
from image_layouts import write_image_folder
from san_plugin.mm.engine.checked_dataset import CheckedCustomDataset
from san_plugin.mm.engine.load_image import BadImageError


def image_folder(root: Path, bad: dict[str, bytes] | None = None) -> Path:
    """``root/{a,b}/`` with three 48x40 JPEGs each (``a_0.JPEG``...), and the ``bad`` files."""
    write_image_folder(root, classes=('a', 'b'), per_split={'': 3}, sizes=((48, 40),))
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
    (tmp_path / 'ann.txt').write_text('a/a_0.JPEG 0\nb/gone.jpg 1\n')
    with pytest.raises(FileNotFoundError, match=f'ann.txt names 1 image.*{root / "b" / "gone.jpg"}'):
        CheckedCustomDataset(data_root=str(tmp_path), ann_file='ann.txt', data_prefix='train', classes=['a', 'b'],
                             pipeline=[])
    (tmp_path / 'empty.txt').write_text('')
    with pytest.raises(ValueError, match='empty.txt holds no images'):
        CheckedCustomDataset(data_root=str(tmp_path), ann_file='empty.txt', data_prefix='train',
                             classes=['a', 'b'], pipeline=[])
