"""Speed and memory of the style-transfer loop at 512 px (a benchmark, not a test).

Prints, measured in one run so the ratios hold on a shared, noisy machine (loop and bare steps are
measured in alternating rounds, so a slow spell of the machine hits both):
- seconds per step of painterly's loop (default backbone and settings),
- seconds per bare forward+backward of the same backbone over the same layers (-> overhead ratio),
- seconds per step of the same loop on VGG-19 (random weights: same cost, no download) (-> speedup),
- wall time and peak RSS of a default `painterly stylize` run in a fresh process. It runs first:
  Linux counts a child's RSS from the fork on, so a child of this process after the loop
  benchmarks (1+ GB) would report at least that much.

    python benchmarks/speed.py [--size 512] [--steps 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from painterly import StyleParams, create_backbone, load_image, stylize
from painterly.allocator import tune_malloc
from painterly.io import resize_long_side

from presets import CONTENT, STYLE, run_stylize  # benchmarks/presets.py: one timed `painterly stylize`


def loop_step_times(model: str, size: int, steps: int) -> list[float]:
    """Times between step events, so setup (targets, model load) is left out."""
    params = StyleParams(model=model, size=size, iterations=steps + 2, pyramid_start=0, device="cpu")
    backbone = create_backbone(model, load_weights=model == "efficientnet-lite0")
    stamps: list[float] = []
    stylize(CONTENT, STYLE, params, backbone=backbone, callbacks=[lambda e: stamps.append(time.perf_counter())])
    return [b - a for a, b in zip(stamps[1:], stamps[2:])]


def bare_step_times(model: str, size: int, steps: int) -> list[float]:
    """Forward to the same taps and backward to the pixels, nothing else: the floor for a step."""
    backbone = create_backbone(model)
    layers = list({**backbone.default_content_layers, **backbone.default_style_layers})
    image = resize_long_side(load_image(CONTENT), size).requires_grad_(True)
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        feats = backbone(image, layers)
        sum(f.mean() for f in feats.values()).backward()
        image.grad = None
        times.append(time.perf_counter() - start)
    return times[1:]


def loop_and_bare(model: str, size: int, steps: int, rounds: int) -> tuple[float, float]:
    """Median seconds per step of the loop and of the bare network, from alternating rounds."""
    loop: list[float] = []
    bare: list[float] = []
    for _ in range(rounds):
        loop += loop_step_times(model, size, steps)
        bare += bare_step_times(model, size, steps)
    return statistics.median(loop), statistics.median(bare)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tuned = tune_malloc()  # as the CLI does: in-process numbers should be what users get
    print(f"malloc tuned: {tuned}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.size} px long side")

    wall, rss = run_stylize(args.size, "normal", CONTENT, STYLE)
    loop, bare = loop_and_bare("efficientnet-lite0", args.size, args.steps, args.rounds)
    vgg = statistics.median(loop_step_times("vgg19", args.size, max(3, args.steps // 4)))
    print(f"painterly loop, efficientnet-lite0: {loop:.3f} s/step")
    print(f"bare forward+backward, lite0:      {bare:.3f} s/step  -> loop overhead x{loop / bare:.2f}")
    print(f"painterly loop, vgg19:             {vgg:.3f} s/step  -> default is x{vgg / loop:.1f} faster")
    print(f"default `painterly stylize`:       {wall:.1f} s wall, peak RSS {rss:.2f} GB")


if __name__ == "__main__":
    main()
