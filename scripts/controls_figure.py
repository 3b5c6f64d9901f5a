"""Render docs/img/controls.jpg: what each control of `painterly stylize` does, on one photo.

    python scripts/controls_figure.py --images ../shared/images [--size 384] [--out docs/img]

A development tool: Tübingen with Starry Night (and The Scream for blends and masks), every
cell one `stylize` call with one option changed from the defaults.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from painterly import StyleParams, create_backbone, stylize
from painterly.io import load_image, read_image, to_pil


def sky_mask(photo: torch.Tensor) -> torch.Tensor:
    """White over the top 45 % of the picture, black below, with a soft edge."""
    h, w = photo.shape[-2:]
    rows = torch.linspace(0, 1, h).view(1, 1, h, 1)
    return torch.sigmoid((0.45 - rows) * 25).expand(1, 3, h, w).contiguous()


def labelled_sheet(cells: list[tuple[str, Image.Image]], columns: int, width: int) -> Image.Image:
    """Pictures scaled to ``width`` in rows of ``columns``, each with its label on a strip above."""
    strip = 16
    pictures = [(label, picture.resize((width, round(picture.height * width / picture.width)), Image.LANCZOS))
                for label, picture in cells]
    height = max(p.height for _, p in pictures) + strip
    rows = -(-len(cells) // columns)
    sheet = Image.new("RGB", (columns * width, rows * height), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (label, picture) in enumerate(pictures):
        x, y = (k % columns) * width, (k // columns) * height
        draw.text((x + 4, y + 2), label, fill="black")
        sheet.paste(picture, (x, y + strip))
    return sheet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, required=True, help="folder with content/ and style/")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args()

    photo_path = args.images / "content" / "tubingen.jpg"
    starry, scream = (args.images / "style" / f"{n}.jpg" for n in ("starry_night_van_gogh", "the_scream_munch"))
    net = create_backbone()
    base = StyleParams(size=args.size)
    sky = sky_mask(load_image(photo_path))

    def paint(label: str, styles=(starry,), masks=None, **changes) -> tuple[str, Image.Image]:
        print(label, file=sys.stderr)
        result = stylize(photo_path, list(styles), base.replace(**changes), backbone=net, masks=masks)
        return label, to_pil(result.image)

    cells = [
        ("photo", read_image(photo_path)),
        paint("--strength 0.3", strength=0.3),
        paint("--strength 0.6", strength=0.6),
        paint("defaults (strength 1)"),
        paint("--preserve-colors luminance", preserve_colors="luminance"),
        paint("--preserve-colors histogram", preserve_colors="histogram"),
        paint("--style-scale 0.5", style_scale=0.5),
        paint("--style-scale 2", style_scale=2.0),
        paint("Starry 3 : Scream 7", styles=(starry, scream), style_weights=[3.0, 7.0]),
        paint("Starry 7 : Scream 3", styles=(starry, scream), style_weights=[7.0, 3.0]),
        paint("--masks sky ground", styles=(starry, scream), masks=[sky, 1 - sky]),
        paint("--quality draft", quality="draft"),
    ]
    sheet = labelled_sheet(cells, columns=4, width=args.size * 2 // 3)
    args.out.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out / "controls.jpg", quality=88)
    return 0


if __name__ == "__main__":
    sys.exit(main())
