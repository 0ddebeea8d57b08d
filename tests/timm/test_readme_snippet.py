"""README's "For timm users" block runs as written (on resnet18 at small sizes, to stay fast)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

pytest.importorskip('timm')
README = Path(__file__).resolve().parents[2] / 'README.md'


def timm_block() -> str:
    section = README.read_text().split('## For timm users', 1)[1].split('\n## ', 1)[0]
    blocks = re.findall(r'```python\n(.*?)```', section, flags=re.S)
    assert len(blocks) == 1, 'README\'s "For timm users" section should hold one python block'
    return blocks[0]


def test_the_timm_users_block_runs():
    code = timm_block().replace("'resnet50'", "'resnet18'").replace("'san_resnet50'", "'san_resnet18'")
    code = code.replace('[224, 192, 160, 128, 96]', '[64, 48, 32]').replace('176, 176', '56, 56')
    code = code.replace('160', '48').replace('170, 150', '50, 46')
    namespace = {'images': torch.randn(2, 3, 64, 64), 'targets': torch.tensor([0, 1]), 'i': 0}
    exec(compile(code, str(README), 'exec'), namespace)  # noqa: S102  (our own README)
    assert list(namespace['losses']) == [64, 48, 32]  # a sandwich of 3 sizes with 1 random runs all three
    assert namespace['plain'] is not namespace['net']
