"""Resident memory of `painterly serve` over many small jobs (issue 12, item 15).

Runs the real app in-process (ASGI test client, real engine, one CPU worker), submits N small
jobs one after another with photos of varying sizes, and prints the RSS after each. Variants:

    python benchmarks/server_memory.py --jobs 35                 # as `painterly serve` runs now
    python benchmarks/server_memory.py --jobs 35 --no-trim --arenas 0   # before issue 12's fix
    python benchmarks/server_memory.py --jobs 35 --arenas 0      # trimming only
    python benchmarks/server_memory.py --jobs 35 --no-tune       # glibc's default malloc thresholds

The numbers are in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import io
import json
import time

import numpy as np
from PIL import Image


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def png(w: int, h: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // w, y * 255 // h, rng.integers(0, 255, (h, w))], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=35)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--no-tune", action="store_true", help="leave glibc's malloc thresholds alone")
    parser.add_argument("--no-trim", action="store_true", help="do not trim the heaps after each job")
    parser.add_argument("--arenas", type=int, default=1, help="malloc arenas (0: glibc's default, 8 per core)")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from painterly.allocator import tune_malloc
    from painterly.server import ServerConfig, create_app
    from painterly.server.jobs import Settings

    if not args.no_tune:
        tune_malloc()
    config = ServerConfig(jobs=Settings(devices=("cpu",), idle_timeout=0, preview_interval=0.2, max_queue=4,
                                        trim_after_job=not args.no_trim), malloc_arenas=args.arenas)
    params = json.dumps({"size": args.size, "iterations": 10, "pyramid_start": 128})
    start = rss_mb()
    rows = []
    with TestClient(create_app(config)) as client:
        for i in range(args.jobs):
            w, h = 160 + 37 * (i % 7), 120 + 29 * (i % 5)  # photos of many sizes, as users send them
            files = [("content", ("c.png", png(w, h, i), "image/png")), ("style", ("s.png", png(h, w, i + 99), "image/png"))]
            job = client.post("/api/jobs", files=files, data={"params": params}).json()
            while client.get(f"/api/jobs/{job['id']}").json()["state"] not in ("done", "failed", "cancelled"):
                time.sleep(0.05)
            client.get(f"/api/jobs/{job['id']}/result?format=png")
            rows.append(rss_mb())
            print(f"job {i + 1:3d}: RSS {rows[-1]:7.1f} MB", flush=True)
    print(f"start {start:.0f} MB, after job 1 {rows[0]:.0f} MB, after job {len(rows)} {rows[-1]:.0f} MB, "
          f"growth after the first job {rows[-1] - rows[0]:+.0f} MB")


if __name__ == "__main__":
    main()
