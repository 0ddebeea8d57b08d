"""Deployment of a SAN: baked plain models per resolution (checkpoint, ONNX, TorchScript) and bundles.

Imports neither mmengine nor mmpretrain.
"""
from .export import (ExportMismatchError, baked_metadata, export_baked, export_bundle, select_artifact)

__all__ = ['ExportMismatchError', 'baked_metadata', 'export_baked', 'export_bundle', 'select_artifact']
