"""The geometry of the fast network's input: how it is padded, and which sizes it can paint.

The input is reflected by a margin (so the borders are painted like the inside), then further on
the bottom and right up to a multiple of 2**STAGES (the network's three stride-2 stages).
"""

from __future__ import annotations

from .. import memory
from ..errors import ParameterError

# Stride-2 stages of the network; its input must be a multiple of 2**STAGES after the margin.
STAGES = 3
MARGIN = 8


def pad_amounts(height: int, width: int) -> tuple[int, int, int, int, str]:
    """(top, bottom, left, right, mode) for an image of this size; mode is "reflect" or
    "replicate" (reflection needs the image to be larger than the pad; tiny inputs replicate)."""
    step = 2**STAGES
    bottom = MARGIN + (-(height + 2 * MARGIN)) % step
    right = MARGIN + (-(width + 2 * MARGIN)) % step
    mode = "replicate" if min(height, width) <= max(MARGIN, bottom, right) else "reflect"
    return MARGIN, bottom, MARGIN, right, mode


# Below this the network's three stride-2 stages leave less than 2 pixels: no picture, only a smear.
NETWORK_MIN_SIDE = 16


def output_shape(hw: tuple[int, int], size: int, tile_size: int, what: str) -> tuple[int, int]:
    """(height, width) painted for an input of shape ``hw`` scaled to ``size`` (0: as it is).

    Refuses, before anything is decoded, a shape too thin to paint (a 4000x40 strip at size 64 is
    64x1) or one whose tiles and full-size copies cannot fit in this machine's memory.
    """
    from ..io import long_side_shape

    h, w = long_side_shape(hw, size) if size else hw
    if min(h, w) < NETWORK_MIN_SIDE:
        if not size:
            raise ParameterError(f"{what}: {w}x{h} px is too small; both sides must be at least {NETWORK_MIN_SIDE} px")
        raise ParameterError(
            f"{what}: {hw[1]}x{hw[0]} px would be {w}x{h} px at size {size}; both sides must be at least "
            f"{NETWORK_MIN_SIDE} px (use a larger --size or a less extreme aspect ratio)"
        )
    memory.check_fits(memory.fast_apply_bytes(h * w, tile_size * tile_size), f"{what} ({w}x{h} px)",
                      hint="use a smaller --size")
    return h, w
