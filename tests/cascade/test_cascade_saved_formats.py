"""Files written by an earlier san_plugin keep loading: a cascade bundle and a thresholds file of
format version 1 (``fixtures/``, written by the code before the cascade had a package of its
own: a tiny SAN's bundle of 16 and 24 px, and the runtime's outcome on six seeded images); a
bundle of another version is refused by name, by the library and by the generated runtime."""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from san_plugin.cascade import BundleError, Cascade, CascadeBundle
from san_plugin.cascade.standalone import write_runtime

FIXTURES = Path(__file__).resolve().parent / 'fixtures'
IMAGE_SIZES = ((30, 30), (37, 28), (26, 33), (40, 40), (29, 31), (33, 27))


def seeded_images() -> list[Image.Image]:
    rng = np.random.RandomState(0)
    return [Image.fromarray(rng.randint(0, 256, size=(h, w, 3), dtype=np.uint8)) for w, h in IMAGE_SIZES]


def test_a_version_1_bundle_loads_and_decides_as_when_it_was_written():
    bundle = CascadeBundle(FIXTURES / 'bundle_v1')
    expected = json.loads((FIXTURES / 'bundle_v1_outcome.json').read_text())
    outcome = bundle.classify(seeded_images())
    assert bundle.sizes == [16, 24] and outcome.exit_stage.tolist() == expected['exit_stage'] == [0, 0, 1, 1, 0, 0]
    torch.testing.assert_close(outcome.probs, torch.tensor(expected['probs']), rtol=1e-4, atol=1e-5)


def test_a_version_1_thresholds_file_loads():
    cascade = Cascade.load(FIXTURES / 'thresholds_v1.json')
    assert (cascade.sizes, cascade.thresholds, cascade.gflops) == ((16, 24), (0.947427,), {16: 0.1, 24: 0.2})
    assert (cascade.score, cascade.combine, cascade.resolutions, cascade.crop_ratio) == ('max_prob', 'last', (24, 16),
                                                                                         0.875)
    assert cascade.checkpoint == 'tiny.pth' and cascade.fingerprint.startswith('sha256:d29d1d83')


def test_a_bundle_of_another_version_is_refused_by_name(tmp_path):
    folder = tmp_path / 'bundle'
    shutil.copytree(FIXTURES / 'bundle_v1', folder)
    runtime = write_runtime(folder)
    spec = importlib.util.spec_from_file_location('cascade_runtime', runtime)
    generated = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generated)
    path = folder / 'cascade.json'
    saved = json.loads(path.read_text())
    for version, shown in ((2, '2'), (None, 'None'), ('1', "'1'")):
        path.write_text(json.dumps({**saved, 'version': version}))
        message = rf'{re.escape(str(path))}: a cascade bundle of version {shown}; this runtime reads version 1'
        with pytest.raises(BundleError, match=message):
            CascadeBundle(folder)
        with pytest.raises(generated.BundleError, match=message):
            generated.CascadeBundle(folder)
    path.write_text(json.dumps({**saved, 'format': 'san_plugin.bundle'}))
    with pytest.raises(BundleError, match=r"format 'san_plugin.bundle', expected 'san_plugin.cascade_bundle'"):
        CascadeBundle(folder)
