"""How honest the progress bar's "time left" is (a benchmark, not a test).

Runs `stylize` at several sizes and, at every step, compares the time left that the CLI's bar
shows (its rate over the work done since the first step, as tqdm computes it with smoothing 0)
with the time that was really left. Prints the worst relative error from 10 % of the work on.
Each run gets a fresh process set up as the CLI's (malloc tuned): a run after a larger one in the
same process had its small levels' steps up to 1.8x slower, which a CLI user never sees.

    python benchmarks/eta.py [--sizes 256 512 1536] [--quality normal] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from painterly import StyleParams, create_backbone, stylize
from painterly.allocator import tune_malloc

CONTENT, STYLE = "examples/figures.jpg", "examples/starry_night.jpg"


def worst_error(size: int, quality: str) -> tuple[float, float]:
    tune_malloc()  # as the CLI does: the steps' costs, and so the bar's model, depend on it
    marks: list[tuple[float, float]] = []
    stylize(CONTENT, STYLE, StyleParams(size=size, quality=quality), backbone=create_backbone(),
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
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for size in args.sizes:
        errors = []
        for _ in range(args.repeats):
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as fresh:
                worst, seconds = fresh.submit(worst_error, size, args.quality).result()
            errors.append(worst)
            print(f"{size:5d} px {args.quality}: {seconds:6.1f} s of steps; worst error of the time left "
                  f"from 10 % on: {100 * worst:4.1f} %", flush=True)
        print(f"{size:5d} px {args.quality}: median of {args.repeats} runs {100 * statistics.median(errors):4.1f} %, "
              f"worst {100 * max(errors):4.1f} %", flush=True)


if __name__ == "__main__":
    main()
