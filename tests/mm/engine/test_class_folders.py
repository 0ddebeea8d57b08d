"""One class list per run: every split's class folders checked against it when the runner is built,
on generated folders in the layouts users have (the shipped demo config, the ImageNet config)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mmengine.config import DictAction
from mmengine.runner import Runner

from demo_options import tiny_cfg_options
from image_layouts import IMAGENET_LABELS, write_image_folder, write_imagenet
from san_plugin.mm.cli.config import load_config
from san_plugin.mm.engine.checked_dataset import CheckedCustomDataset
from san_plugin.mm.engine.class_folders import ClassFolderError
from san_plugin.mm.runner import build_runner

REPO = Path(__file__).resolve().parents[3]
DEMO = str(REPO / 'configs' / 'demo' / 'san_resnet18_demo.py')
IMAGENET = str(REPO / 'configs' / 'san_resnet18_imagenet.py')
CLASSES = ('a', 'b', 'c')


def demo_config(data: Path, work: Path, **options):
    """The shipped demo config on ``data`` (a seconds-long run of a narrow SAN with 3 classes)."""
    parsed = {}
    for item in tiny_cfg_options(data, num_classes=len(CLASSES)):
        key, value = item.split('=', 1)
        parsed[key] = DictAction._parse_iterable(value)
    return load_config(DEMO, {**parsed, **options}, str(work))


def folders(tmp_path: Path) -> Path:
    return write_image_folder(tmp_path / 'data', classes=CLASSES, per_split={'train': 2, 'val': 1})


def labels_by_class(runner, loader: str) -> dict[str, set[int]]:
    """``{class folder: labels its images get}`` of the runner's (checked) ``loader`` dataset."""
    dataset = Runner.build_dataloader(dict(runner.cfg[loader], persistent_workers=False)).dataset
    found: dict[str, set[int]] = {}
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        found.setdefault(Path(info['img_path']).parent.name, set()).add(int(info['gt_label']))
    return found


def test_an_empty_class_folder_under_train_is_refused_naming_it(tmp_path):
    data = folders(tmp_path)
    (data / 'train' / 'd').mkdir()
    (data / 'val' / 'd').mkdir()
    with pytest.raises(ClassFolderError, match=f'the train split .*class folder.s. without images: '
                                               f'{data / "train" / "d"}'):
        build_runner(demo_config(data, tmp_path / 'work'))


def test_a_class_missing_from_val_is_refused_naming_the_folder_and_the_split(tmp_path):
    data = folders(tmp_path)
    shutil.rmtree(data / 'val' / 'b')
    with pytest.raises(ClassFolderError) as info:
        build_runner(demo_config(data, tmp_path / 'work'))
    assert str(info.value).startswith(
        f"the val split ({data / 'val'}) does not hold the run's 3 classes (from the class folders of the train "
        f"split, {data / 'train'}): class folder(s) missing: {data / 'val' / 'b'}.")


def test_an_extra_class_folder_in_val_is_refused_naming_it(tmp_path):
    data = folders(tmp_path)
    write_image_folder(data, classes=('z',), per_split={'val': 1})
    with pytest.raises(ClassFolderError, match=f'the val split .*class folder.s. not in the class list: '
                                               f'{data / "val" / "z"}'):
        build_runner(demo_config(data, tmp_path / 'work'))


def test_consistent_folders_give_every_split_the_same_labels(tmp_path):
    runner = build_runner(demo_config(folders(tmp_path), tmp_path / 'work'))
    expected = {name: {label} for label, name in enumerate(CLASSES)}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert labels_by_class(runner, loader) == expected


def test_classes_stated_for_one_split_label_every_split_in_their_order(tmp_path):
    stated = ['c', 'a', 'b']
    runner = build_runner(demo_config(folders(tmp_path), tmp_path / 'work',
                                      **{'train_dataloader.dataset.classes': stated}))
    expected = {name: {label} for label, name in enumerate(stated)}
    for loader in ('train_dataloader', 'val_dataloader'):
        assert labels_by_class(runner, loader) == expected


def test_classes_stated_out_of_sorted_order_are_refused_where_a_split_labels_sorted_folders(tmp_path):
    cfg = demo_config(folders(tmp_path), tmp_path / 'work', **{'train_dataloader.dataset.classes': ['c', 'a', 'b']})
    cfg.val_dataloader.dataset.type = 'CustomDataset'
    with pytest.raises(ClassFolderError, match='the val split .*CustomDataset labels class folders in sorted order'):
        build_runner(cfg)


def test_the_imagenet_meta_layout_is_read_as_its_annotation_files_say(tmp_path):
    data = write_imagenet(tmp_path / 'imagenet')
    options = {f'{loader}.dataset.data_root': str(data) for loader in ('train_dataloader', 'val_dataloader',
                                                                        'test_dataloader')}
    options.update({f'{loader}.{key}': value for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
                    for key, value in (('num_workers', 0), ('persistent_workers', False))})
    runner = build_runner(load_config(IMAGENET, options, str(tmp_path / 'work')))
    for loader in ('train_dataloader', 'val_dataloader'):
        dataset = Runner.build_dataloader(dict(runner.cfg[loader], persistent_workers=False)).dataset
        assert sorted({int(dataset.get_data_info(i)['gt_label']) for i in range(len(dataset))}) == sorted(
            IMAGENET_LABELS.values())


def test_checked_dataset_refuses_folders_other_than_its_stated_classes(tmp_path):
    data = folders(tmp_path)
    with pytest.raises(ValueError, match=f'class folder.s. missing: {data / "train" / "d"}; class folder.s. not in '
                                         f'the class list: {data / "train" / "c"}'):
        CheckedCustomDataset(data_root=str(data), data_prefix='train', classes=['a', 'b', 'd'], pipeline=[])
