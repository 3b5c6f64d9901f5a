"""The pictures in docs/search.md: real searches over the development images, made by the CLI.

Copies the photos and paintings of IMAGES (content/ and style/) into a temporary folder, indexes
it with `painterly index`, and runs the searches a user would, writing contact sheets and the
map into docs/img/. Queries: a crop of a painting (content), a photo painted by a fast style
(content), the left half of a painting (style), and the words "lion".

    python scripts/search_figures.py --images ../shared/images
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img"


def painterly(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "painterly", *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="painterly-search-figures-") as tmp:
        tmp = Path(tmp)
        library, queries = tmp / "library", tmp / "queries"
        for part in ("content", "style"):
            shutil.copytree(args.images / part, library / part)
        queries.mkdir()
        painting = Image.open(args.images / "style" / "shipwreck_minotaur_turner.jpg").convert("RGB")
        w, h = painting.size
        painting.crop((w // 3, h // 4, w // 3 + w // 3, h // 4 + h // 2)).save(queries / "turner_crop.jpg")
        painting = Image.open(args.images / "style" / "woman_with_hat_matisse.jpg").convert("RGB")
        painting.crop((0, 0, painting.width // 2, painting.height)).save(queries / "matisse_left_half.jpg")
        painterly("fast", "apply", "the-scream", str(args.images / "content" / "golden_gate.jpg"),
                  "-o", str(queries / "golden_gate_scream.jpg"))
        db = tmp / "index.sqlite"
        painterly("index", str(library), "--db", str(db), "-q")
        common = ["--db", str(db), "-k", "4", "--cell", "150"]
        painterly("search", *common, "--image", str(queries / "turner_crop.jpg"), "--by", "content",
                  "-o", str(OUT / "search_crop.jpg"))
        painterly("search", *common, "--image", str(queries / "golden_gate_scream.jpg"), "--by", "content",
                  "-o", str(OUT / "search_stylised.jpg"))
        painterly("search", *common, "--image", str(queries / "matisse_left_half.jpg"), "--by", "style",
                  "-o", str(OUT / "search_style.jpg"))
        painterly("search", *common, "--words", "lion", "-o", str(OUT / "search_lion.jpg"))
        painterly("map", "--db", str(db), "--by", "style", "--size", "1000", "--thumbnail", "90",
                  "-o", str(OUT / "search_map.jpg"))


if __name__ == "__main__":
    main()
