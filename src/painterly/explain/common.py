"""Small pieces the explain tools share: image arguments, backbones, sizes that suit a layer."""

from __future__ import annotations

import os

import torch
from torch import Tensor

from ..backbones import Backbone, create_backbone
from ..devices import resolve_device
from ..errors import ParameterError
from ..images import MIN_SIDE, check_shape
from ..io import load_image, resize_to

ImageLike = Tensor | str | os.PathLike


def as_image(image: ImageLike, what: str = "image") -> Tensor:
    """A path or a (1,3,H,W)/(3,H,W) tensor in [0, 1] -> a float (1,3,H,W) tensor (never the caller's)."""
    if isinstance(image, Tensor):
        x = image[None] if image.dim() == 3 else image
        if x.dim() != 4 or tuple(x.shape[:2]) != (1, 3):
            raise ParameterError(f"{what}: expected a (1,3,H,W) or (3,H,W) tensor, got {tuple(image.shape)}")
        return x.detach().float().clone()
    return load_image(image)


def label_of(image: ImageLike, fallback: str) -> str:
    """Short name for a sheet label: the file name."""
    return fallback if isinstance(image, Tensor) else os.path.basename(os.fspath(image))


def name_of(image: ImageLike, fallback: str) -> str:
    """Name for an error message: the path as given, like the loader's own messages."""
    return fallback if isinstance(image, Tensor) else os.fspath(image)


def get_backbone(model: str | Backbone, device: str | torch.device, layers: list[str]) -> Backbone:
    """A name or a ready backbone (notebooks reuse one across calls), checked to have ``layers``.

    A backbone built here is cut after the deepest of ``layers``: the rest would only cost memory.
    """
    if isinstance(model, Backbone):
        model.check_layers(layers)
        return model
    net = create_backbone(model, device=resolve_device(device))
    net.check_layers(layers)  # before cutting, so a typo gets the did-you-mean line
    order = list(net.layers)
    net.cut(max(layers, key=order.index))
    return net


def device_of(net: Backbone) -> torch.device:
    return net.mean.device


def fit_size(hw: tuple[int, int], long_side: int, multiple: int = 1) -> tuple[int, int]:
    """(H, W) scaled so the long side is about ``long_side``, each side a multiple of ``multiple``.

    The multiple matters for receptive-field arithmetic: TF "same" padding (EfficientNet) puts
    the odd pixel of an odd-sized input on the other side, which would shift the fields of every
    deeper unit by a pixel. With sides that are multiples of the layer's stride that never happens.
    """
    h, w = hw
    scale = long_side / max(h, w)
    m = max(1, multiple)
    return max(m, round(h * scale / m) * m), max(m, round(w * scale / m) * m)


def prepared(image: Tensor, long_side: int, multiple: int, what: str) -> Tensor:
    """Checked and resized for the network: long side ``long_side``, sides multiples of ``multiple``."""
    hw = (image.shape[-2], image.shape[-1])
    check_shape(hw, long_side, what)
    return resize_to(image, fit_size(hw, long_side, multiple))


def check_size(size: int, what: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SIDE:
        raise ParameterError(f"{what}: must be a whole number of pixels >= {MIN_SIDE}, got {size!r}")
    return size


def seeded_noise(shape: tuple[int, ...], seed: int, device: torch.device) -> Tensor:
    """Uniform noise in [0, 1] that is the same for a seed on every device (drawn on the CPU)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator).to(device)
