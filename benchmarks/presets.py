"""Wall time and peak memory of `painterly stylize` per --quality preset (a benchmark, not a test).

Each run is a fresh `painterly stylize` process, as a user would start it; the times include
start-up and model loading. Optional larger sizes show how time and memory grow with the output.
Each time is also given in units of one VGG-19 forward+backward at the same size (random weights:
the same cost, no download), measured in the same run before and after the presets, so the ratio
holds on a machine whose speed drifts.

    python benchmarks/presets.py                       # draft, normal, high at 512 px
    python benchmarks/presets.py --sizes 512 2048 4096 --presets draft
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "examples" / "figures.jpg"
STYLE = ROOT / "examples" / "starry_night.jpg"


def run_stylize(size: int, preset: str, content: Path, style: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB) of one `painterly stylize` process."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "painterly", "stylize", str(content), str(style), "-o", f"{tmp}/out.png",
                   "--size", str(size), "--quality", preset, "-q"]
        start = time.perf_counter()
        child = subprocess.Popen(command)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS, not the largest so far
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"painterly stylize failed with exit code {child.returncode}")
    return wall, usage.ru_maxrss / 1e6


VGG_STEP = """
import statistics, sys, time
from painterly import create_backbone, load_image
from painterly.io import resize_long_side
net = create_backbone("vgg19", load_weights=False)
layers = list({**net.default_content_layers, **net.default_style_layers})
image = resize_long_side(load_image(sys.argv[1]), int(sys.argv[2])).requires_grad_(True)
times = []
for _ in range(4):
    start = time.perf_counter()
    sum(f.pow(2).mean() for f in net(image, layers).values()).backward()
    times.append(time.perf_counter() - start)
print(statistics.median(times[1:]))
"""


def vgg_step(size: int, content: Path) -> float:
    """Seconds of one VGG-19 forward+backward to its default taps at ``size`` (fresh process)."""
    out = subprocess.run([sys.executable, "-c", VGG_STEP, str(content), str(size)], capture_output=True, text=True,
                         check=True)
    return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512])
    parser.add_argument("--presets", nargs="+", default=["draft", "normal", "high"])
    parser.add_argument("--content", type=Path, default=CONTENT)
    parser.add_argument("--style", type=Path, default=STYLE)
    args = parser.parse_args()
    print(f"{args.content.name} x {args.style.name}")
    for size in args.sizes:
        before = vgg_step(size, args.content)
        results = [(preset, *run_stylize(size, preset, args.content, args.style)) for preset in args.presets]
        vgg = (before + vgg_step(size, args.content)) / 2
        print(f"{size:5d} px  one VGG-19 forward+backward: {vgg:.2f} s (before {before:.2f} s)")
        for preset, wall, rss in results:
            print(f"{size:5d} px  {preset:6s}  {wall:7.1f} s = {wall / vgg:5.1f} VGG-19 steps  peak RSS {rss:.2f} GB",
                  flush=True)


if __name__ == "__main__":
    main()
