"""Wall time and peak memory of `painterly explain units` and `painterly explain invert` (a benchmark, not a test).

Targets (2-core CPU, default backbone): units over 1000 images of 256 px in <= 2 minutes and
<= 2 GB peak RSS; the invert sheet at 256 px in <= 2 minutes.

The 1000 images are random square crops (40-100 % of the short side, random flips) of the
pictures in SOURCE_DIRS, resized to 256x256 and written as JPEG into a temporary folder that is
deleted afterwards. Each command runs in a fresh process; peak RSS is that child's ru_maxrss.

    python benchmarks/explain.py [--images 1000] [--layers b3.dw,b11.dw] [--threads N] [--passive] [--skip-invert]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageOps

SOURCE_DIRS = [Path("/work/shared/images/content"), Path("/work/shared/images/style")]
INVERT_IMAGE = Path("/work/shared/images/content/tubingen.jpg")
ROOT = Path(__file__).resolve().parents[1]


def make_images(folder: Path, count: int, size: int = 256, seed: int = 0) -> None:
    rng = random.Random(seed)
    sources = []
    for directory in SOURCE_DIRS:
        for path in sorted(directory.iterdir()):
            with Image.open(path) as im:
                sources.append(ImageOps.exif_transpose(im).convert("RGB"))
    for i in range(count):
        im = rng.choice(sources)
        side = int(min(im.size) * rng.uniform(0.4, 1.0))
        left, top = rng.randint(0, im.width - side), rng.randint(0, im.height - side)
        crop = im.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
        if rng.random() < 0.5:
            crop = ImageOps.mirror(crop)
        crop.save(folder / f"{i:05d}.jpg", quality=90)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds (user + system), peak RSS in MB, exit code) of one child.

    CPU seconds are reported because on a shared machine wall time mostly measures the other
    tenants; on an idle machine wall time is at most the CPU time (at most, as 2 threads can
    overlap).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    rc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss of RUSAGE_CHILDREN is the largest of all children so far: an upper bound for
    # this one (the children here are the units runs, then invert).
    return wall, cpu, after.ru_maxrss / 1024, rc


def _verdict(rc: int, wall: float, cpu: float, rss: float) -> str:
    if rc != 0 or rss > 2048:
        return "MISSED"
    if wall <= 120:
        return "ok"
    return "ok by CPU time (wall time inflated by load)" if cpu <= 120 else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--layers", default="b3.dw,b11.dw")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in the child (0: torch's default)")
    parser.add_argument("--passive", action="store_true",
                        help="OMP_WAIT_POLICY=PASSIVE in the child: idle OpenMP threads sleep instead of "
                        "spinning (on a CPU shared with other work, spinning threads cost up to 7x)")
    parser.add_argument("--skip-invert", action="store_true")
    parser.add_argument("--keep", metavar="DIR", help="copy the sheets made into this folder")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)  # read by torch at start-up
    if args.passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    painterly = [sys.executable, "-m", "painterly"]
    print(f"cpu cores: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.1f}, "
          f"torch threads: {args.threads or 'default'}, OMP_WAIT_POLICY: {env.get('OMP_WAIT_POLICY', 'default')}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        start = time.perf_counter()
        make_images(folder, args.images)
        print(f"made {args.images} images of 256x256 px in {time.perf_counter() - start:.1f} s")
        for layer in args.layers.split(","):
            out = Path(tmp) / f"units_{layer}.png"
            wall, cpu, rss, rc = timed(painterly + ["explain", "units", "--images", str(folder), "--layer",
                                                    layer, "-o", str(out), "-q"], env)
            print(f"units --layer {layer}: wall {wall:.1f} s, CPU {cpu:.1f} s, peak RSS {rss:.0f} MB, exit {rc}"
                  f" [{_verdict(rc, wall, cpu, rss)}]")
        if not args.skip_invert:
            out = Path(tmp) / "invert.png"
            wall, cpu, rss, rc = timed(painterly + ["explain", "invert", str(INVERT_IMAGE), "--size", "256",
                                                    "-o", str(out), "-q"], env)
            print(f"invert at 256 px: wall {wall:.1f} s, CPU {cpu:.1f} s, peak RSS {rss:.0f} MB, exit {rc}"
                  f" [{_verdict(rc, wall, cpu, rss)}]")
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            for sheet in Path(tmp).glob("*.png"):
                shutil.copy(sheet, Path(args.keep) / sheet.name)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
