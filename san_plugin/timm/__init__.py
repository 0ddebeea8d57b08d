"""timm glue: timm's conv classes for the converter, and san_* models in timm's registry."""
from . import layers  # noqa: F401  (registers timm conv kinds)
from .models import SUPPORTED_ARCHS, create_san_model

__all__ = ['SUPPORTED_ARCHS', 'create_san_model']
