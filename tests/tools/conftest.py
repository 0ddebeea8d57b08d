"""Fixtures of the tools tests (helpers in san_tools_helpers.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from image_layouts import write_image_folder
from san_tools_helpers import IMAGE_FOLDER


@pytest.fixture(scope='session')
def image_folder(tmp_path_factory) -> Path:
    return write_image_folder(tmp_path_factory.mktemp('images'), **IMAGE_FOLDER)
