"""Deployment of a SAN: baked plain models per resolution (checkpoint, ONNX, TorchScript) and bundles
(a cascade bundle: ``san_plugin.cascade.export_cascade``).

Imports neither mmengine nor mmpretrain.
"""
from .bundle import export_bundle, select_artifact
from .compare import ExportMismatchError
from .export import baked_metadata, deployed_model, export_baked
from .formats import FORMATS, ArtifactFormat

__all__ = ['ArtifactFormat', 'ExportMismatchError', 'FORMATS', 'baked_metadata', 'deployed_model', 'export_baked',
           'export_bundle', 'select_artifact']
