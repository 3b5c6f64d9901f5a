"""Overlapping tiles: how large pictures are refined without holding the whole network state.

Used for the last pyramid levels of big outputs: every tile is optimised against the same global
style targets (so the style is consistent across tiles) and blended into the canvas with linear
ramps over the overlap (so no seam shows).
"""

from __future__ import annotations

import torch
from torch import Tensor

Box = tuple[int, int, int, int]  # y0, y1, x0, x1


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    count = -(-(length - overlap) // (tile - overlap))  # ceil: enough tiles to cover
    step = (length - tile) / (count - 1)
    return [round(i * step) for i in range(count)]


def tile_boxes(height: int, width: int, tile: int, overlap: int) -> list[Box]:
    """Boxes of at most ``tile`` px a side covering the image, neighbours sharing >= ``overlap`` px."""
    if not 0 <= overlap < tile:
        raise ValueError("overlap must be in [0, tile)")
    return [
        (y, min(y + tile, height), x, min(x + tile, width))
        for y in _starts(height, tile, overlap)
        for x in _starts(width, tile, overlap)
    ]


def feather(box: Box, height: int, width: int, overlap: int) -> Tensor:
    """(1,1,h,w) weights rising linearly from ~0 to 1 across ``overlap`` px on sides inside the image.

    Sides on the image border keep weight 1, so the border is fully replaced by the tile.
    """
    y0, y1, x0, x1 = box

    def ramp(n: int, lead: bool, trail: bool) -> Tensor:
        w = torch.ones(n)
        r = torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)
        k = min(overlap, n)
        if lead and k:
            w[:k] = torch.minimum(w[:k], r[:k])
        if trail and k:
            w[-k:] = torch.minimum(w[-k:], r[:k].flip(0))
        return w

    wy = ramp(y1 - y0, y0 > 0, y1 < height)
    wx = ramp(x1 - x0, x0 > 0, x1 < width)
    return (wy[:, None] * wx[None, :])[None, None]


def crop(image: Tensor, box: Box) -> Tensor:
    y0, y1, x0, x1 = box
    return image[..., y0:y1, x0:x1]


def blend_into(canvas: Tensor, tile: Tensor, box: Box, weights: Tensor) -> None:
    """canvas[box] <- (1 - w) * canvas[box] + w * tile, in place on the canvas (our own tensor)."""
    y0, y1, x0, x1 = box
    region = canvas[..., y0:y1, x0:x1]
    w = weights.to(canvas.device, canvas.dtype)
    region.mul_(1 - w).add_(tile.to(canvas.dtype) * w)
