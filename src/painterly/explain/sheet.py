"""Contact sheets: labelled grids of images, drawn with Pillow and returned as tensors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from ..errors import ParameterError
from ..io import to_pil, to_tensor
from .defaults import INVERT, UNITS
from .windows import tile_square

if TYPE_CHECKING:
    from .inversion import InversionResult
    from .units import Patch, UnitPatches

BACKGROUND = (255, 255, 255)
EMPTY = (200, 200, 200)  # a slot with no patch (fewer images than k)
TEXT = (20, 20, 20)
GAP = 10

Font = ImageFont.ImageFont | ImageFont.FreeTypeFont


def check_display_size(value: int, name: str, minimum: int = 8) -> int:
    """Sheet cell sizes below a few pixels show nothing; refuse them before any work is done."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParameterError(f"{name}: must be a whole number of pixels >= {minimum}, got {value!r}")
    return value


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # scalable with FreeType (Pillow >= 10.1)
    except (TypeError, OSError):
        return ImageFont.load_default()


def labelled_grid(
    cells: Sequence[tuple[Image.Image, str]], columns: int, title: str | None = None, font_size: int = 13
) -> Image.Image:
    """Cells in rows of ``columns``, each with its label above it; a title on top (wrapped to fit)."""
    font = _font(font_size)
    line = font_size + 6
    rows = math.ceil(len(cells) / columns)
    cell_w = max(im.width for im, _ in cells)
    cell_h = max(im.height for im, _ in cells) + line
    width = columns * cell_w + (columns + 1) * GAP
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    title_lines = _wrap(measure, title, font, width - 2 * GAP) if title else []
    title_h = len(title_lines) * line + 4 if title_lines else 0
    sheet = Image.new("RGB", (width, title_h + rows * cell_h + (rows + 1) * GAP), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, text in enumerate(title_lines):
        draw.text((GAP, GAP // 2 + 2 + i * line), text, fill=TEXT, font=font)
    for i, (im, label) in enumerate(cells):
        x = GAP + (i % columns) * (cell_w + GAP)
        y = title_h + GAP + (i // columns) * (cell_h + GAP)
        draw.text((x, y), _fit(draw, label, font, cell_w), fill=TEXT, font=font)
        sheet.paste(im, (x, y + line))
    return sheet


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> list[str]:
    """Greedy word wrap to ``width`` pixels (a word too long for a line is shortened)."""
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(lines[-1] + " " + word, font=font) <= width:
            lines[-1] += " " + word
        else:
            lines.append(_fit(draw, word, font, width))
    return lines


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> str:
    """Shorten ``text`` with an ellipsis until it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def scaled(im: Image.Image, longest: int, pixelated: bool = False) -> Image.Image:
    """Resize so the long side is ``longest``: crisp pixels when enlarging small patches."""
    scale = longest / max(im.size)
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    if size == im.size:
        return im
    return im.resize(size, Image.Resampling.NEAREST if pixelated and scale > 1 else Image.Resampling.LANCZOS)


def tile_side(window_side: int, tile: int) -> int:
    """Display size of a patch: small fields enlarged by a whole factor (even blocks), else ``tile``."""
    return window_side * max(1, round(tile / window_side)) if window_side <= tile else tile


def _mosaic(patches: Sequence[Patch], slots: int, side: int) -> Image.Image:
    per_row = math.ceil(math.sqrt(slots))
    rows = math.ceil(slots / per_row)
    gap = 2
    out = Image.new("RGB", (per_row * side + (per_row - 1) * gap, rows * side + (rows - 1) * gap), BACKGROUND)
    for i in range(slots):
        x, y = (i % per_row) * (side + gap), (i // per_row) * (side + gap)
        if i < len(patches):
            out.paste(scaled(to_pil(patches[i].tile()), side, pixelated=True), (x, y))
        else:
            out.paste(Image.new("RGB", (side, side), EMPTY), (x, y))
    return out


def unit_sheet(result: UnitPatches, tile: int = UNITS.tile, columns: int | None = None) -> Tensor:
    """One 3x3 mosaic per unit, labelled with the unit number and its peak activation."""
    check_display_size(tile, "tile")
    slots = max((len(p) for p in result.patches.values()), default=1) or 1
    windows = [tile_square(p.window, p.box).side for ps in result.patches.values() for p in ps]
    side = tile_side(max(windows, default=tile), tile)
    cells = [
        (_mosaic(result.patches[u], slots, side), f"unit {u}   peak {float(result.peaks[u]):.3g}")
        for u in result.units
    ]
    info = result.info
    field = "whole image" if info.stride == 0 else f"field {info.receptive_field} px, stride {info.stride}"
    title = (f"{result.model} {result.layer} ({field}): top {slots} patches of {len(cells)} units "
             f"over {result.images_seen} images")
    columns = columns or min(len(cells), max(1, math.ceil(math.sqrt(len(cells)))))
    return to_tensor(labelled_grid(cells, columns, title))


def image_cells(images: Sequence[tuple[Tensor, str]], longest: int) -> list[tuple[Image.Image, str]]:
    return [(scaled(to_pil(t.clamp(0, 1)), longest), label) for t, label in images]


def inversion_sheet(result: InversionResult, cell: int = INVERT.cell) -> Tensor:
    """Two rows as in Gatys et al. Fig. 1: the target, then one reconstruction per layer (set)."""
    check_display_size(cell, "cell", 16)
    content = [(result.image, result.labels[0])]
    content += [(r.image, f"content of {r.layers[0]}") for r in result.content]
    style = [(result.style_image, result.labels[1])]
    style += [(r.image, f"style of {r.layers[0]}" if len(r.layers) == 1 else f"style, + {r.layers[-1]}")
              for r in result.style]
    columns = max(len(content), len(style))
    blank = Image.new("RGB", (1, 1), BACKGROUND)
    cells = image_cells(content, cell) + [(blank, "")] * (columns - len(content))
    cells += image_cells(style, cell)
    title = (f"{result.model}: reconstructions from noise. Top: the photo, then its content at one "
             f"layer. Bottom: the style image, then its style (Gram matrices) at the first 1, 2, … layers")
    return to_tensor(labelled_grid(cells, columns, title))
