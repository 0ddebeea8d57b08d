"""The sha256 of a file: what a bundle records for each model file and checks when it loads one.

Standalone (the standard library only): the cascade bundle's runtime embeds this file.
"""
from __future__ import annotations

import hashlib
from pathlib import Path


def sha256(path: str | Path) -> str:
    """The hex sha256 digest of a file, read 1 MiB at a time.

    Example:
        >>> sha256('deploy/r18/model_224px.onnx')[:12]
        '3f2a9c1e07b4'
    """
    digest = hashlib.sha256()
    with Path(path).open('rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()
