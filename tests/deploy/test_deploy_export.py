"""Baked exports (pth, ONNX, TorchScript) reproduce the SAN; bundles list every artefact."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings

import pytest
import timm
import torch
from torch import nn

from san_plugin.core import convert, interpolate_bn, san_resolution, set_mode
from san_plugin.deploy import ExportMismatchError, export_baked, export_bundle, select_artifact
from san_plugin.deploy import formats
from tiny_models import depthwise_cnn, randomise_san_, tiny_san

RESOLUTIONS = (32, 16)


@pytest.fixture
def san() -> nn.Module:
    return tiny_san(RESOLUTIONS, depthwise_cnn, w_std=0.2).eval()


def san_output(model: nn.Module, x: torch.Tensor, resolution: int) -> torch.Tensor:
    with torch.no_grad(), san_resolution(model, resolution), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return model(x)


@pytest.mark.parametrize('resolution', [32, 24])
def test_pth_loads_into_the_unconverted_model(san, tmp_path, resolution):
    path = export_baked(san, resolution, tmp_path / 'm.pth', 'pth')
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint['meta']['resolution'] == resolution and checkpoint['meta']['input_size'] == [3, resolution,
                                                                                                   resolution]
    assert checkpoint['meta']['branch'] == 32  # proxy: S(24) = 32
    plain = depthwise_cnn().eval()
    plain.load_state_dict(checkpoint['state_dict'], strict=True)
    x = torch.randn(3, 3, resolution, resolution)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), san_output(san, x, resolution), rtol=1e-5, atol=1e-5)


def test_onnx_matches_the_san_with_any_batch(san, tmp_path):
    ort = pytest.importorskip('onnxruntime')
    path = export_baked(san, 24, tmp_path / 'm.onnx', 'onnx', example_batch=2)
    x = torch.randn(5, 3, 24, 24)
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    (got,) = session.run(None, {'input': x.numpy()})
    torch.testing.assert_close(torch.from_numpy(got), san_output(san, x, 24), rtol=1e-4, atol=1e-4)
    onnx = pytest.importorskip('onnx')
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(meta['san_plugin'])['resolution'] == 24


def test_torchscript_matches_the_san(san, tmp_path):
    path = export_baked(san, 16, tmp_path / 'm.pt', 'torchscript')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        loaded = torch.jit.load(str(path))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), san_output(san, x, 16), rtol=1e-5, atol=1e-5)


def test_ideal_mode_export_uses_the_calibrated_branch(san, tmp_path):
    proxy = torch.load(export_baked(san, 24, tmp_path / 'proxy.pth'), weights_only=True)
    interpolate_bn(san, [24])
    set_mode(san, 'ideal')
    path = export_baked(san, 24, tmp_path / 'ideal.onnx', 'onnx')
    ideal = torch.load(export_baked(san, 24, tmp_path / 'ideal.pth'), weights_only=True)
    assert path.exists() and ideal['meta']['branch'] == 24 and ideal['meta']['mode'] == 'ideal'
    assert not torch.equal(ideal['state_dict']['0.weight'], proxy['state_dict']['0.weight'])  # eps(24) != eps(32)


def test_timm_model_exports_and_loads_into_timm(tmp_path):
    torch.manual_seed(0)
    model, _ = convert(timm.create_model('resnet10t', num_classes=3), RESOLUTIONS, init='scratch')
    randomise_san_(model, w_std=0.2).eval()
    checkpoint = torch.load(export_baked(model, 24, tmp_path / 'r10t.pth'), weights_only=True)
    plain = timm.create_model('resnet10t', num_classes=3).eval()
    plain.load_state_dict(checkpoint['state_dict'], strict=True)
    x = torch.randn(2, 3, 24, 24)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), san_output(model, x, 24), rtol=1e-5, atol=1e-5)


def test_mismatch_raises_a_clear_error(san, tmp_path, monkeypatch):
    def corrupt_writer(plain, x, path, meta):
        torch.save({'state_dict': {k: v + 0.1 if v.is_floating_point() else v
                                   for k, v in plain.state_dict().items()}, 'meta': meta}, path)

    monkeypatch.setitem(formats.FORMATS, 'pth', dataclasses.replace(formats.FORMATS['pth'], write=corrupt_writer))
    with pytest.raises(ExportMismatchError, match='pth checkpoint: output 0 differs from the SAN by up to'):
        export_baked(san, 32, tmp_path / 'bad.pth')
    export_baked(san, 32, tmp_path / 'unchecked.pth', check=False)  # the check can be turned off
    with pytest.raises(ValueError, match='fmt must be one of'):
        export_baked(san, 32, tmp_path / 'm.tflite', 'tflite')


def test_bundle_manifest_lists_every_resolution(san, tmp_path):
    manifest_path = export_bundle(san, [16, 32, 24], tmp_path / 'bundle', 'onnx',
                                  accuracy={32: {'top1': 71.5, 'top5': 90.0}, '24': 70.1},
                                  latency={16: {'median_ms': 0.4}})
    manifest = json.loads(manifest_path.read_text())
    assert manifest['format'] == 'san_plugin.bundle' and manifest['artifact_format'] == 'onnx'
    assert manifest['san']['resolutions'] == [32, 16] and manifest['mode'] == 'proxy'
    entries = {e['resolution']: e for e in manifest['entries']}
    assert list(entries) == [32, 24, 16]
    for resolution, entry in entries.items():
        path = manifest_path.parent / entry['file']
        assert path.is_file() and entry['input_size'] == [3, resolution, resolution]
        assert entry['sha256'] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert entries[32]['accuracy'] == {'top1': 71.5, 'top5': 90.0} and entries[24]['accuracy'] == 70.1
    assert entries[16]['accuracy'] is None and entries[16]['latency'] == {'median_ms': 0.4}
    assert select_artifact(manifest_path, 30)['resolution'] == 32
    assert select_artifact(manifest_path, 20)['path'].endswith('model_24px.onnx')  # a tie goes to the larger
    with pytest.raises(ValueError, match='not exported resolutions'):
        export_bundle(san, [32], tmp_path / 'b2', 'pth', accuracy={48: 1.0})
