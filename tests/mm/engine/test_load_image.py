"""SafeLoadImageFromFile: errors that name the file, an opt-in skip, every format as H x W x 3 uint8."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from mmpretrain.registry import TRANSFORMS
from PIL import Image

import san_plugin.mm  # noqa: F401  (registers the transforms)
from san_plugin.mm.engine.load_image import BadImageError, SafeLoadImageFromFile

PIXELS = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)  # RGB


def jpeg_bytes(path: Path) -> bytes:
    Image.fromarray(PIXELS).save(path)
    return path.read_bytes()


def bad_files(folder: Path) -> dict[str, Path]:
    good = jpeg_bytes(folder / 'good.jpg')
    files = {'corrupt_jpeg': good[:20] + bytes(range(256)) * 4, 'truncated_jpeg': good[:len(good) // 2],
             'zero_bytes': b'', 'text_as_jpeg': b'name,label\ncat,1\n'}
    for name, data in files.items():
        (folder / f'{name}.jpg').write_bytes(data)
    return {name: folder / f'{name}.jpg' for name in files}


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
@pytest.mark.parametrize('kind', ['corrupt_jpeg', 'truncated_jpeg', 'zero_bytes', 'text_as_jpeg', 'missing'])
def test_bad_image_error_names_the_file(tmp_path, kind, backend):
    path = tmp_path / 'missing.jpg' if kind == 'missing' else bad_files(tmp_path)[kind]
    with pytest.raises(BadImageError, match=str(path)) as error:
        SafeLoadImageFromFile(imdecode_backend=backend)(dict(img_path=str(path)))
    assert error.value.path == str(path)


@pytest.fixture
def logged(monkeypatch) -> list[str]:
    messages: list[str] = []
    monkeypatch.setattr('san_plugin.mm.engine.load_image.print_log', lambda message, **kwargs: messages.append(message))
    return messages


def test_skip_bad_images_logs_the_file_and_returns_none(tmp_path, logged):
    path = bad_files(tmp_path)['zero_bytes']
    load = SafeLoadImageFromFile(skip_bad_images=True)
    assert load(dict(img_path=str(path))) is None and load(dict(img_path=str(path))) is None
    assert logged == [f'skipping bad image {path}: the file is empty (0 bytes)']  # once per file


def write_formats(folder: Path) -> dict[str, Path]:
    gray = PIXELS[:, :, 0]
    Image.fromarray(gray).save(folder / 'gray.png')
    Image.fromarray(np.dstack([PIXELS, np.full_like(gray, 128)])).save(folder / 'rgba.png')
    Image.fromarray(PIXELS).convert('CMYK').save(folder / 'cmyk.jpg')
    Image.fromarray(gray.astype(np.uint16) * 257).save(folder / 'gray16.png')
    cv2.imwrite(str(folder / 'rgb16.png'), PIXELS[:, :, ::-1].astype(np.uint16) * 257)
    Image.fromarray(PIXELS).convert('P').save(folder / 'palette.png')
    return {p.stem: p for p in folder.iterdir()}


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
@pytest.mark.parametrize('kind', ['gray', 'rgba', 'cmyk', 'gray16', 'rgb16', 'palette'])
def test_any_stored_format_becomes_hxwx3_uint8(tmp_path, kind, backend):
    results = SafeLoadImageFromFile(imdecode_backend=backend)(dict(img_path=str(write_formats(tmp_path)[kind])))
    img = results['img']
    assert img.shape == (40, 48, 3) and img.dtype == np.uint8 and results['img_shape'] == (40, 48)
    rgb = img[:, :, ::-1].astype(int)  # BGR, as LoadImageFromFile gives
    expected = PIXELS[:, :, :1] if kind.startswith('gray') else PIXELS
    tolerance = {'cmyk': 12, 'palette': 40}.get(kind, 1)  # lossy JPEG / 256-colour palette
    assert np.abs(rgb - expected).mean() < tolerance  # the values survive, e.g. 16 bits are not clipped


def test_images_smaller_than_the_crop_are_upscaled_with_one_warning(tmp_path, logged):
    Image.fromarray(PIXELS[:10, :12]).save(tmp_path / 'tiny.png')
    load = TRANSFORMS.build(dict(type='SafeLoadImageFromFile', warn_smaller_than=32))
    views = TRANSFORMS.build(dict(type='MultiResolution', resolutions=[32, 24]))
    for _ in range(3):
        results = views(load(dict(img_path=str(tmp_path / 'tiny.png'))))
    assert [v.shape for v in results['img']] == [(32, 32, 3), (24, 24, 3)]
    assert len(logged) == 1 and 'tiny.png is 12x10 px, smaller than the resolution 32 px' in logged[0]
