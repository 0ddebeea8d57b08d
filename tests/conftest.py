"""Shared test set-up: every test starts from the same random state."""
import gc
import random
import sys

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    torch.manual_seed(0)


def pytest_collection_finish(session):
    """Moves what collection imported (torch, timm, OpenMMLab, the test modules) out of the cyclic
    collector's walk: mmengine calls ``gc.collect()`` for every dataset a test builds, and with all
    of that loaded each call walked some 400k objects (0.1-0.3 s). Objects created by the tests
    are collected as before."""
    gc.collect()
    gc.freeze()


def pytest_sessionfinish(session, exitstatus):
    """No fork server of ``script_runner`` outlives the session."""
    if 'script_runner' in sys.modules:
        sys.modules['script_runner'].stop_server()
