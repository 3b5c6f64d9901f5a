"""How painterly behaves on a busy machine (issue 12, item 16).

Times the default `painterly stylize` (examples/figures.jpg x examples/starry_night.jpg) alone,
then with one and with two other painterly runs beside it, each with painterly's start-up choice
of threads and wait policy (auto) and, for comparison, with torch's defaults forced (all cores,
spinning waits: PAINTERLY_THREADS=<cores> PAINTERLY_WAIT_POLICY=active). The goal is the fair
share: no worse than 2x alone with one neighbour, 3x with two.

    python benchmarks/contention.py --size 256            # ~10 minutes on 2 cores
    python benchmarks/contention.py --size 256 --only auto

Neighbours run the same command in a loop; the measured run starts once they are busy. On a
machine shared with other work the ratios, measured within one invocation, are what to compare.
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
CONTENT, STYLE = ROOT / "examples" / "figures.jpg", ROOT / "examples" / "starry_night.jpg"


def command(size: int, out: Path) -> list[str]:
    return [sys.executable, "-m", "painterly", "stylize", str(CONTENT), str(STYLE), "-o", str(out),
            "--size", str(size), "-q"]


def environment(policy: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    if policy == "torch-default":
        env["PAINTERLY_THREADS"] = str(len(os.sched_getaffinity(0)))
        env["PAINTERLY_WAIT_POLICY"] = "active"
    return env


def timed_run(size: int, neighbours: int, policy: str, folder: Path, timeout: float) -> float | None:
    env = environment(policy)
    loops = []
    for i in range(neighbours):  # each neighbour repaints until it is stopped
        script = f"while true; do {' '.join(command(size, folder / f'n{i}.png'))} >/dev/null 2>&1; done"
        loops.append(subprocess.Popen(["bash", "-c", script], env=env, start_new_session=True))
    try:
        if neighbours:
            time.sleep(8)  # let them get past start-up and into their loops
        start = time.perf_counter()
        try:
            subprocess.run(command(size, folder / "measured.png"), env=env, check=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return time.perf_counter() - start
    finally:
        for p in loops:
            os.killpg(p.pid, 15)
            p.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--only", choices=("auto", "torch-default"))
    parser.add_argument("--timeout", type=float, default=300.0, help="give up on one measured run after this long")
    args = parser.parse_args()
    policies = [args.only] if args.only else ["auto", "torch-default"]
    with tempfile.TemporaryDirectory() as tmp:
        for policy in policies:
            alone = timed_run(args.size, 0, policy, Path(tmp), args.timeout)
            if alone is None:  # on a machine busy with other work, spinning threads may not finish
                print(f"{policy:14s} alone:            over {args.timeout:.0f} s; skipping the neighbours", flush=True)
                continue
            print(f"{policy:14s} alone:            {alone:7.1f} s", flush=True)
            for n in (1, 2):
                t = timed_run(args.size, n, policy, Path(tmp), args.timeout)
                shown = f"{t:7.1f} s  {t / alone:5.2f}x alone (fair share {n + 1}x)" if t else f"over {args.timeout:.0f} s"
                print(f"{policy:14s} with {n} neighbour{'s' if n > 1 else ' '}: {shown}", flush=True)


if __name__ == "__main__":
    main()
