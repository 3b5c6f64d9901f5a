"""Which input pixels a unit sees and which square of them a sheet shows: plain geometry, shared by
units.py (finding patches) and sheet.py (drawing them) without either importing the other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..backbones import LayerInfo


@dataclass(frozen=True)
class Window:
    """A square of input pixels: rows top..top+side-1, columns left..left+side-1 (may leave the image)."""

    top: int
    left: int
    side: int

    def clipped(self, hw: tuple[int, int]) -> tuple[int, int, int, int]:
        """(top, left, bottom, right), bottom/right exclusive, of the part inside an image of size hw."""
        h, w = hw
        return (max(self.top, 0), max(self.left, 0),
                min(self.top + self.side, h), min(self.left + self.side, w))


def receptive_window(info: LayerInfo, row: int, col: int, hw: tuple[int, int]) -> Window:
    """The input pixels that unit (row, col) of layer ``info`` can see, in an image of size hw.

    Unit i's field is centred on ``offset + i * stride`` and ``receptive_field`` pixels wide. A
    global layer (logits) sees the whole image: its window is the image's bounding square.
    """
    h, w = hw
    if info.stride == 0:
        longest = max(h, w)
        return Window((h - longest) // 2, (w - longest) // 2, longest)
    half = (info.receptive_field - 1) / 2
    # The field recurrence keeps these whole numbers; round() only removes float noise.
    return Window(round(info.offset + row * info.stride - half),
                  round(info.offset + col * info.stride - half), info.receptive_field)


def tile_square(window: Window, box: tuple[int, int, int, int]) -> Window:
    """The square shown for a patch: just big enough for the clipped box, inside the window,
    as centred on the unit as that allows.

    Deep fields are far larger than the image (b11.dw of EfficientNet-Lite0 sees 403 px); a tile
    of the whole field would show a small picture lost in grey. Near a border this keeps the
    grey on the side where the field leaves the image, so the unit still sits mid-tile.
    """
    top, left, bottom, right = box
    side = max(bottom - top, right - left)

    def start(lo: int, hi: int, window_lo: int) -> int:
        centred = window_lo + (window.side - side) // 2
        return min(max(centred, hi - side), lo)

    return Window(start(top, bottom, window.top), start(left, right, window.left), side)
