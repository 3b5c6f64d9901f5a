"""Copy the photos the shipped fast styles were trained on into one folder (a build-time step).

Every photo comes from a package's own files, so nothing is downloaded and every licence is known
(docs/fast.md lists them): scikit-image's sample data (from the installed package, or from its
wheel with --skimage-wheel), scikit-learn's two sample images, matplotlib's Grace Hopper and
painterly's examples/figures.jpg. Nothing at run time or in the tests reads them.

    python scripts/gather_fast_photos.py -o photos/ [--skimage-wheel scikit_image-0.26.0-....whl]
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import zipfile
from pathlib import Path

# name in skimage/data -> licence, as the docstrings of skimage.data give them.
SKIMAGE = {
    "astronaut.png": "public domain (NASA)",
    "camera.png": "CC0 (Lav Varshney)",
    "chelsea.png": "CC0 (Stefan van der Walt)",
    "coffee.png": "CC0 (Rachel Michetti)",
    "brick.png": "CC0 (CC0Textures)",
    "grass.png": "CC0 (linolafett)",
    "gravel.png": "CC0 (CC0Textures)",
    "hubble_deep_field.jpg": "public domain (NASA)",
    "rocket.jpg": "public domain (SpaceX)",
    "coins.png": "no known copyright restrictions (Brooklyn Museum)",
}
SKLEARN = {"china.jpg": "CC BY 2.0 (danielbuechele)", "flower.jpg": "CC BY 2.0 (vultilion)"}
MATPLOTLIB = {"grace_hopper.jpg": "public domain (US Navy)"}
EXAMPLES = {"figures.jpg": "Pexels licence (Pexels photo 595804)"}


def package_folder(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).parent if spec and spec.origin else None


def gather(out: Path, skimage_wheel: Path | None) -> list[tuple[str, str]]:
    out.mkdir(parents=True, exist_ok=True)
    copied = []
    skimage = package_folder("skimage")
    for name, licence in SKIMAGE.items():
        target = out / f"skimage_{name}"
        if skimage is not None:
            shutil.copyfile(skimage / "data" / name, target)
        elif skimage_wheel is not None:
            with zipfile.ZipFile(skimage_wheel) as wheel:
                target.write_bytes(wheel.read(f"skimage/data/{name}"))
        else:
            raise SystemExit("scikit-image is not installed: pip install scikit-image, or give --skimage-wheel")
        copied.append((target.name, licence))
    sklearn = package_folder("sklearn")
    for name, licence in SKLEARN.items():
        shutil.copyfile(sklearn / "datasets" / "images" / name, out / f"sklearn_{name}")
        copied.append((f"sklearn_{name}", licence))
    matplotlib = package_folder("matplotlib")
    for name, licence in MATPLOTLIB.items():
        shutil.copyfile(matplotlib / "mpl-data" / "sample_data" / name, out / f"matplotlib_{name}")
        copied.append((f"matplotlib_{name}", licence))
    examples = Path(__file__).resolve().parent.parent / "examples"
    for name, licence in EXAMPLES.items():
        shutil.copyfile(examples / name, out / f"examples_{name}")
        copied.append((f"examples_{name}", licence))
    return copied


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", required=True, type=Path, help="folder to copy the photos into")
    parser.add_argument("--skimage-wheel", type=Path, help="a scikit-image wheel to read the sample data from")
    args = parser.parse_args()
    for name, licence in gather(args.output, args.skimage_wheel):
        print(f"{name}\t{licence}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
