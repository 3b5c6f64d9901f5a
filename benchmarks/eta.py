"""How honest the progress bar's "time left" is (a benchmark, not a test).

Runs `stylize` at several sizes and, at every step, compares the time left that the CLI's bar
shows (its rate over the work done since the first step, as tqdm computes it with smoothing 0)
with the time that was really left. Prints the worst relative error from 10 % of the work on.

    python benchmarks/eta.py [--sizes 256 512 1536] [--quality normal]
"""

from __future__ import annotations

import argparse
import time

from painterly import StyleParams, create_backbone, stylize

CONTENT, STYLE = "examples/figures.jpg", "examples/starry_night.jpg"


def worst_error(size: int, quality: str, net) -> tuple[float, float]:
    marks: list[tuple[float, float]] = []
    stylize(CONTENT, STYLE, StyleParams(size=size, quality=quality), backbone=net,
            callbacks=[lambda e: marks.append((time.perf_counter(), e.progress))])
    t0, p0 = marks[0]
    end = marks[-1][0]
    worst = 0.0
    for t, p in marks[1:]:
        if p < 0.1 or t >= end:  # the last step's progress is 1 up to rounding
            continue
        rate = (p - p0) / (t - t0)
        shown = (1 - p) / rate
        truth = end - t
        worst = max(worst, abs(shown - truth) / truth)
    return worst, end - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1536])
    parser.add_argument("--quality", default="normal")
    args = parser.parse_args()
    net = create_backbone()
    for size in args.sizes:
        worst, seconds = worst_error(size, args.quality, net)
        print(f"{size:5d} px {args.quality}: {seconds:6.1f} s of steps; worst error of the time left "
              f"from 10 % on: {100 * worst:4.1f} %", flush=True)


if __name__ == "__main__":
    main()
