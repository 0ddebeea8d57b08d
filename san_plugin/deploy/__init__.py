"""Deployment of a SAN: baked plain models per resolution (checkpoint, ONNX, TorchScript), bundles and
cascade bundles.

Imports neither mmengine nor mmpretrain.
"""
from .bundle import export_bundle, select_artifact
from .cascade_export import export_cascade
from .compare import ExportMismatchError
from .export import baked_metadata, export_baked
from .formats import FORMATS, ArtifactFormat

__all__ = ['ArtifactFormat', 'ExportMismatchError', 'FORMATS', 'baked_metadata', 'export_baked', 'export_bundle',
           'export_cascade', 'select_artifact']
