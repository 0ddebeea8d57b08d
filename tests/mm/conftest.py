"""Fixtures for the MMPretrain glue: mmpretrain's registry scope and a tiny folder dataset."""
from __future__ import annotations

from pathlib import Path

import pytest
from mmengine.registry import DefaultScope

from image_layouts import write_image_folder


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Registry look-ups in mmpretrain's scope, whatever an earlier test in this worker left."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    """``data/{train,val}/{a,b}/*.JPEG``: 4 + 2 colour-cue images of 40 px per class."""
    return write_image_folder(tmp_path / 'data', classes=('a', 'b'))
