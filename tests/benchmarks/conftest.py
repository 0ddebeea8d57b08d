"""Fixtures of the benchmark tests: the Imagenette scripts imported as modules."""
import importlib
import sys
from pathlib import Path

import pytest

IMAGENETTE = Path(__file__).resolve().parents[2] / 'benchmarks' / 'imagenette'


@pytest.fixture(scope='module')
def imagenette_scripts():
    """``import_module`` with ``benchmarks/imagenette/`` on ``sys.path`` for one test module (the
    scripts import each other by plain name)."""
    sys.path.insert(0, str(IMAGENETTE))
    try:
        yield importlib.import_module
    finally:
        sys.path.remove(str(IMAGENETTE))
