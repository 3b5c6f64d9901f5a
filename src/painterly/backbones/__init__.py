"""Frozen ImageNet networks whose activations painterly matches (content) and correlates (style)."""

from .base import Backbone, LayerInfo, WeightsInfo
from .registry import BackboneSpec, create_backbone, get_spec, list_backbones

__all__ = [
    "Backbone",
    "BackboneSpec",
    "LayerInfo",
    "WeightsInfo",
    "create_backbone",
    "get_spec",
    "list_backbones",
]
