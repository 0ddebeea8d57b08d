"""The cascade's deployment form: baked per-size models, thresholds and a runtime that runs in an
interpreter where san_plugin (and OpenMMLab, timm) cannot be imported, and gives the library's
decisions."""
from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from image_layouts import write_image_folder
from san_plugin.cascade import (BundleError, Cascade, CascadeBundle, CascadeMismatchError, export_cascade,
                                model_fingerprint)
from san_plugin.cascade.fit import threshold_grid
from san_plugin.cascade.rule import confidence
from san_plugin.evaluation import MultiSizeViews
from tiny_models import depthwise_cnn, tiny_san
from toolbox_blocker import OPENMMLAB, run_without

SIZES = (16, 24, 32)
MEAN, STD = (120.0, 115.0, 100.0), (60.0, 58.0, 57.0)
CLASSES = ('tench', 'springer', 'cassette', 'saw', 'church')


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('cascade_bundle')
    images = sorted((write_image_folder(root / 'images', classes=('a', 'b'), per_split={'val': 5},
                                        sizes=((40, 40), (52, 37), (33, 47))) / 'val').rglob('*.JPEG'))
    san = tiny_san((32, 16), depthwise_cnn, w_std=0.3).eval()
    views = MultiSizeViews(SIZES, mean=MEAN, std=STD)
    batch = {s: torch.stack([views(Image.open(p))[s] for p in images]) for s in SIZES}
    with torch.no_grad():
        probs = {s: torch.softmax(san(x), dim=1) for s, x in batch.items()}
    thresholds = [float(threshold_grid(confidence(probs[s]), 1)[0]) for s in SIZES[:-1]]  # medians
    cascade = Cascade(SIZES, thresholds, {16: 0.1, 24: 0.2, 32: 0.4}, resolutions=(32, 16),
                      fingerprint=model_fingerprint(san), checkpoint='tiny.pth')
    with torch.no_grad():
        expected = cascade.run(lambda s, x: san(x), batch)
    assert len(set(expected.exit_stage.tolist())) > 1  # the bundle has decisions to get right
    return root, images, san, cascade, expected


def test_the_bundle_runs_without_san_plugin_and_decides_as_the_library(setup):
    root, images, san, cascade, expected = setup
    formats = ['torchscript'] + (['onnx'] if _has('onnxruntime') else [])
    for fmt in formats:
        spec = export_cascade(san, cascade, root / fmt, fmt, mean=MEAN, std=STD, classes=CLASSES)
        assert sorted(p.name for p in spec.parent.iterdir()) == sorted(
            ['cascade.json', 'cascade_runtime.py', 'manifest.json'] + [
                f'model_{s}px{".pt" if fmt == "torchscript" else ".onnx"}' for s in SIZES])
    done = run_without(OPENMMLAB + ('san_plugin', 'timm', 'torchvision'), f'''
        import runpy, sys
        for fmt in {formats!r}:
            sys.argv = ['cascade_runtime.py', *{[str(p) for p in images]!r}, '--batch-size', '4',
                        '--json', {str(root)!r} + f'/{{fmt}}.json']
            runpy.run_path({str(root)!r} + f'/{{fmt}}/cascade_runtime.py', run_name='__main__')
        assert loaded_blocked() == [], loaded_blocked()
    ''')
    assert 'stopped at 16 px' in done.stdout and 'GFLOPs' in done.stdout
    for fmt in formats:
        results = json.loads((root / f'{fmt}.json').read_text())
        assert [r['path'] for r in results] == [str(p) for p in images]
        assert [r['size'] for r in results] == [SIZES[s] for s in expected.exit_stage.tolist()]
        assert [r['label'] for r in results] == expected.probs.argmax(1).tolist()
        assert [r['class'] for r in results] == [CLASSES[r['label']] for r in results]
        torch.testing.assert_close(torch.tensor([r['probability'] for r in results]),
                                   expected.probs.max(1).values, rtol=1e-4, atol=1e-4)
        assert [r['gflops'] for r in results] == pytest.approx(cascade.image_gflops(expected).tolist())


def test_bundles_refuse_other_weights_changed_files_and_unrunnable_formats(setup, tmp_path):
    root, images, san, cascade, _ = setup
    with pytest.raises(CascadeMismatchError, match=r'fitted for other weights \(tiny.pth'):
        export_cascade(tiny_san((32, 16), depthwise_cnn, seed=1), cascade, tmp_path / 'other', mean=MEAN, std=STD)
    with pytest.raises(ValueError, match='runs .*torchscript.* models without san_plugin, got fmt=.pth.'):
        export_cascade(san, cascade, tmp_path / 'pth', 'pth', mean=MEAN, std=STD)
    spec = export_cascade(san, cascade, tmp_path / 'ts', mean=MEAN, std=STD)
    bundle = CascadeBundle(spec.parent)
    assert [r['label'] for r in bundle.classify_files(images[:3])] == [r['label'] for r in bundle.classify_files(
        images[:3], batch_size=1)]  # batched and one at a time agree
    model_file = spec.parent / 'model_24px.pt'
    model_file.write_bytes(model_file.read_bytes() + b'\0')
    with pytest.raises(BundleError, match=r'model_24px.pt: its sha256 differs from the one in cascade.json'):
        CascadeBundle(spec.parent)


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True
