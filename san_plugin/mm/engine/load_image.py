"""SafeLoadImageFromFile: image decoding that fails clearly, naming the file, or skips on request.

It replaces ``LoadImageFromFile``: every failure names the file, ``skip_bad_images=True``
logs and skips bad training images instead, and every image comes out as ``H x W x 3``
uint8 whatever it was stored as (grayscale, RGBA, CMYK, 16 bits). Registered in
MMPretrain's ``TRANSFORMS`` by :func:`~san_plugin.mm.engine.install_engine_fixes`.
"""
from __future__ import annotations

import io
import logging
from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmengine.logging import print_log
from PIL import Image, UnidentifiedImageError


class BadImageError(ValueError):
    """An image file is missing, empty or cannot be decoded.

    Attributes:
        path: the file.

    Example:
        >>> try:
        ...     SafeLoadImageFromFile()(dict(img_path='broken.jpg'))
        ... except BadImageError as error:
        ...     print(error.path)
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f'cannot load image {path}: {reason} (skip such files with '
                         f"dict(type='SafeLoadImageFromFile', skip_bad_images=True), or remove the file)")


def to_uint8_color(img: np.ndarray) -> np.ndarray:
    """Any decoded image as ``H x W x 3`` uint8 (gray is repeated, alpha dropped,
    16 bits scaled down)."""
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif img.dtype != np.uint8:
        scale = 255.0 if img.dtype.kind == 'f' and img.max(initial=0) <= 1.0 else 1.0
        img = np.clip(np.rint(img * scale), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] == 4:
        img = np.ascontiguousarray(img[:, :, :3])
    return img


def _decode_wide_with_pillow(data: bytes, channel_order: str) -> Optional[np.ndarray]:
    """Pillow's ``convert('RGB')`` clips 16-bit and 32-bit gray to 255: decode those here."""
    with Image.open(io.BytesIO(data)) as image:
        if not (image.mode.startswith('I') or image.mode == 'F'):
            return None
        img = np.asarray(image)
    if img.dtype.kind in 'iu' and img.dtype != np.uint8:
        img = np.clip(img, 0, 65535).astype(np.uint16)
    img = to_uint8_color(img)
    return img if channel_order == 'rgb' else img[:, :, ::-1].copy()


class SafeLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` with errors that name the file and an opt-in skip.

    A missing, empty or undecodable file raises :class:`BadImageError` naming it. With
    ``skip_bad_images=True`` the file is logged (once) and the transform returns
    ``None``; mmengine's ``BaseDataset`` then draws another random index (up to its
    ``max_refetch``, 1000). That works in training only: mmengine refuses ``None`` in
    test mode, so validation and test still fail on a bad image (after the log line),
    as dropping images would change the metric. With ``color_type='color'`` (the
    default) the image is always ``H x W x 3`` uint8.

    Args:
        skip_bad_images: log and skip bad images instead of raising.
        warn_smaller_than: warn once if an image's short side is below this many
            pixels (e.g. the largest training resolution: such images are upscaled).
        **kwargs: ``LoadImageFromFile`` arguments (``imdecode_backend``, ``color_type``...).

    Example:
        >>> train_pipeline = [dict(type='SafeLoadImageFromFile', skip_bad_images=True, warn_smaller_than=224),
        ...                   dict(type='MultiResolution', resolutions=[224, 160, 96]),
        ...                   dict(type='PackInputs')]
    """

    def __init__(self, skip_bad_images: bool = False, warn_smaller_than: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.skip_bad_images = skip_bad_images
        self.warn_smaller_than = warn_smaller_than
        self._warned_small = False
        self._skipped: set[str] = set()

    def transform(self, results: dict) -> Optional[dict]:
        path = results['img_path']
        try:
            img = self._load(path)
        except BadImageError as error:
            if not self.skip_bad_images:
                raise
            if path not in self._skipped:
                self._skipped.add(path)
                print_log(f'skipping bad image {path}: {error.reason}', logger='current', level=logging.WARNING)
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        self._check_size(path, img)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _load(self, path: str) -> np.ndarray:
        try:
            data = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError:
            raise BadImageError(path, 'the file does not exist') from None
        except OSError as error:
            raise BadImageError(path, f'the file cannot be read ({error})') from error
        if not data:
            raise BadImageError(path, 'the file is empty (0 bytes)')
        try:
            img = None
            if self.imdecode_backend == 'pillow' and self.color_type == 'color':
                img = _decode_wide_with_pillow(data, 'bgr')
            if img is None:
                img = mmcv.imfrombytes(data, flag=self.color_type, backend=self.imdecode_backend)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
            raise BadImageError(path, f'not a decodable image ({type(error).__name__}: {error})') from error
        except Exception as error:  # cv2.error and other decoder failures
            raise BadImageError(path, f'not a decodable image ({type(error).__name__})') from error
        if img is None or img.size == 0:
            raise BadImageError(path, f'not a decodable image ({self.imdecode_backend} returned nothing)')
        return to_uint8_color(img) if self.color_type == 'color' else img

    def _check_size(self, path: str, img: np.ndarray) -> None:
        if self.warn_smaller_than is None or self._warned_small:
            return
        if min(img.shape[:2]) < self.warn_smaller_than:
            self._warned_small = True
            print_log(f'image {path} is {img.shape[1]}x{img.shape[0]} px, smaller than the resolution '
                      f'{self.warn_smaller_than} px: such images are upscaled (warned once)', logger='current',
                      level=logging.WARNING)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(skip_bad_images={self.skip_bad_images}, '
                f"imdecode_backend='{self.imdecode_backend}', color_type='{self.color_type}')")
