"""Render docs/gallery.jpg (contents x styles) and docs/reference.jpg (reference | painterly).

    python scripts/gallery.py --images ../shared/images --reference ../shared/reference/neural-style \
        [--styles starry_night_van_gogh,the_scream_munch,...] [--size 384] [--quality normal]

A development tool: it reads the shared image folders it is pointed at and writes two JPEGs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from painterly import StyleParams, create_backbone, stylize
from painterly.io import read_image, to_pil

DEFAULT_STYLES = "starry_night_van_gogh,the_scream_munch,great_wave_hokusai_crop,woman_with_hat_matisse"
# Reference file stem -> (content, style) in the shared image folders.
REFERENCE_PAIRS = {
    "tubingen_starry": ("tubingen", "starry_night_van_gogh"),
    "tubingen_scream": ("tubingen", "the_scream_munch"),
    "tubingen_shipwreck": ("tubingen", "shipwreck_minotaur_turner"),
    "golden_gate_starry": ("golden_gate", "starry_night_van_gogh"),
    "golden_gate_scream": ("golden_gate", "the_scream_munch"),
    "golden_gate_matisse": ("golden_gate", "woman_with_hat_matisse"),
}
LABEL = 18
REFERENCE_SIZE = 512


def cell(image: Image.Image, size: int) -> Image.Image:
    """The picture fitted into a size x size square on white."""
    image = image.copy()
    image.thumbnail((size, size), Image.LANCZOS)
    square = Image.new("RGB", (size, size), "white")
    square.paste(image, ((size - image.width) // 2, (size - image.height) // 2))
    return square


def grid(rows: list[list[Image.Image]], row_labels: list[str], col_labels: list[str], size: int) -> Image.Image:
    left = max(len(s) for s in row_labels) * 7 + 10
    sheet = Image.new("RGB", (left + size * len(col_labels), LABEL + size * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, text in enumerate(col_labels):
        draw.text((left + j * size + 4, 3), text, fill="black")
    for i, (row, text) in enumerate(zip(rows, row_labels)):
        draw.text((4, LABEL + i * size + size // 2), text, fill="black")
        for j, picture in enumerate(row):
            sheet.paste(cell(picture, size), (left + j * size, LABEL + i * size))
    return sheet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, required=True, help="folder with content/ and style/")
    parser.add_argument("--reference", type=Path, help="folder with the canonical neural-style results")
    parser.add_argument("--styles", default=DEFAULT_STYLES, help="comma-separated style file stems")
    parser.add_argument("--size", type=int, default=384, help="long side of each painting")
    parser.add_argument("--quality", default="normal", choices=("draft", "normal", "high"))
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()

    net = create_backbone()
    params = StyleParams(size=args.size, quality=args.quality)
    contents = sorted((args.images / "content").glob("*.jpg"))
    styles = [args.images / "style" / f"{name}.jpg" for name in args.styles.split(",")]

    def paint(content: Path, style: Path, size: int = args.size) -> Image.Image:
        print(f"{content.stem} x {style.stem}", file=sys.stderr)
        return to_pil(stylize(content, style, params.replace(size=size), backbone=net).image)

    rows = [[read_image(c)] + [paint(c, s) for s in styles] for c in contents]
    sheet = grid(rows, [c.stem for c in contents], ["photo"] + [s.stem for s in styles], args.size // 2)
    args.out.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out / "gallery.jpg", quality=88)  # a PNG of paintings is ~2 MB

    if args.reference:
        pairs = [(stem, c, s) for stem, (c, s) in REFERENCE_PAIRS.items() if (args.reference / f"{stem}.png").exists()]
        rows = [
            [
                read_image(args.reference / f"{stem}.png"),
                # At the references' own size (512 px), as benchmarks/quality.py scores them.
                paint(args.images / "content" / f"{c}.jpg", args.images / "style" / f"{s}.jpg", REFERENCE_SIZE),
            ]
            for stem, c, s in pairs
        ]
        side = grid(rows, [p[0] for p in pairs], ["neural-style (VGG-19, GPU)", "painterly (default, CPU)"], args.size)
        side.save(args.out / "reference.jpg", quality=88)
    return 0


if __name__ == "__main__":
    sys.exit(main())
