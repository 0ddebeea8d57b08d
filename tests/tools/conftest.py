"""Fixtures of the tools tests (helpers in san_tools_helpers.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from san_tools_helpers import make_image_folder


@pytest.fixture(scope='session')
def image_folder(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp('images'))
