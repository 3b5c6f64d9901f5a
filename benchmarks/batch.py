"""Throughput of `painterly batch` against a shell loop of `painterly stylize`, Ray's overhead, and
the numbers the scaling model in docs/batch.md is built from (a benchmark, not a test).

For each size, the same pictures (the four example images, each painted in the style of The
Starry Night, `--quality draft`) are made by:
- `loop`: one `painterly stylize` process per picture, one after the other (what a shell loop
  does: start Python, load the model, paint, exit), torch using every core;
- `local WxT`: `painterly batch` with W worker processes of T threads each;
- `ray WxT` (with --ray): `painterly batch --ray` on a single-node Ray head that this script starts
  on 127.0.0.1 and stops again.
Each is timed from the command's start to its end, so start-up costs count. Then the driver's own
work per job (read inputs, write the picture atomically, hash it, one table transaction) is timed
alone, and the bytes a job sends and receives are counted.

    python benchmarks/batch.py [--sizes 256 512] [--ray] [--rounds 1]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CONTENTS = ["figures.jpg", "great_wave.jpg", "the_scream.jpg", "starry_night.jpg"]
STYLE = EXAMPLES / "starry_night.jpg"
QUALITY = ["--quality", "draft"]


def cores() -> int:
    return len(os.sched_getaffinity(0))


def env(threads: int) -> dict[str, str]:
    e = dict(os.environ)
    e.update(OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE", PYTHONPATH=os.pathsep.join([str(ROOT / "src"), e.get("PYTHONPATH", "")]))
    return e


def timed(cmd: list[str], environment: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=environment, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def shell_loop(size: int, out: Path) -> float:
    start = time.perf_counter()
    for name in CONTENTS:
        cmd = [sys.executable, "-m", "painterly", "stylize", str(EXAMPLES / name), str(STYLE),
               "-o", str(out / f"{name}.png"), "--size", str(size), *QUALITY, "-q"]
        subprocess.run(cmd, env=env(cores()), check=True)
    return time.perf_counter() - start


def batch(size: int, out: Path, extra: list[str], environment: dict[str, str]) -> float:
    cmd = [sys.executable, "-m", "painterly", "batch", "--contents", *[str(EXAMPLES / n) for n in CONTENTS],
           "--styles", str(STYLE), "-o", str(out), "--size", str(size), *QUALITY, "-q", *extra]
    return timed(cmd, environment)


class RayHead:
    """A single-node Ray head on 127.0.0.1 only, as docs/batch.md starts one."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{s.getsockname()[1]}"
        self.temp = tempfile.mkdtemp(prefix="pray-")
        self.env = env(1)
        self.env.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
             "--port", self.address.split(":")[1], "--include-dashboard", "false", "--disable-usage-stats",
             "--num-cpus", str(cores()), "--temp-dir", self.temp],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.time() + 240
        while not list(Path(self.temp).glob("session_*/logs/raylet.out")):
            if time.time() > deadline or self.process.poll() is not None:
                raise RuntimeError("ray start failed")
            time.sleep(0.5)
        time.sleep(3)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)
        shutil.rmtree(self.temp, ignore_errors=True)


def worker_seconds(out: Path) -> list[float]:
    import sqlite3

    with sqlite3.connect(out / "painterly-batch.sqlite") as db:
        return [r[0] for r in db.execute("SELECT seconds FROM jobs WHERE state = 'done'")]


def driver_cost(picture: Path, jobs: int = 200) -> tuple[float, float]:
    """Seconds of driver work per job: all of it (read the inputs, save + hash the picture, the
    table's two transactions), and the table's transactions alone."""
    sys.path.insert(0, str(ROOT / "src"))
    from painterly.batch.database import open_table
    from painterly.batch.jobs import Defaults, grid
    from painterly.fast.settings import ApplySettings
    from painterly.io import save_bytes
    from painterly.params import StyleParams

    data = picture.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        contents = []
        for i in range(jobs):
            contents.append(folder / f"c{i}.jpg")
            shutil.copy(EXAMPLES / "figures.jpg", contents[-1])
        specs = grid(contents, [str(STYLE)], Defaults(StyleParams(), ApplySettings()))
        (folder / "out").mkdir()
        table = open_table(folder / "out")
        table.sync(specs, {s.name: str(i) for i, s in enumerate(specs)})
        start = time.perf_counter()
        for spec in specs:
            spec.content.read_bytes(), STYLE.read_bytes()
            table.claim(spec.name, "bench")
            save_bytes(data, folder / "out" / spec.name)
            table.finish(spec.name, hashlib.sha256(data).hexdigest(), 1.0, "bench")
        total = (time.perf_counter() - start) / jobs
        start = time.perf_counter()
        for spec in specs:
            table.claim(spec.name, "bench")
            table.finish(spec.name, "0", 1.0, "bench")
        return total, (time.perf_counter() - start) / jobs


def scaling(job_seconds: float, slots: int, driver_seconds: float, db_seconds: float, job_bytes: float,
            link_bytes_per_s: float = 125e6) -> list[tuple[int, float, str]]:
    """Pictures per minute on N nodes of ``slots`` workers: the least of what the workers paint,
    what the driver can write, and what its network link can carry (1 Gbit/s by default)."""
    rows = []
    for nodes in (1, 4, 16, 64, 256, 1024):
        bounds = {
            "workers": nodes * slots / job_seconds,
            "driver": 1 / driver_seconds,
            "database": 1 / db_seconds,
            "driver's link": link_bytes_per_s / job_bytes,
        }
        limit = min(bounds, key=bounds.get)
        rows.append((nodes, bounds[limit] * 60, limit))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--ray", action="store_true", help="also run on a Ray head started here")
    args = parser.parse_args()
    n = cores()
    configs = {f"local {n}x1": ["--workers", str(n), "--threads", "1"], f"local 1x{n}": ["--workers", "1", "--threads", str(n)]}
    results: dict[str, dict[str, float]] = {}
    head = RayHead() if args.ray else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for size in args.sizes:
                row = results.setdefault(str(size), {})
                row["loop"] = shell_loop(size, Path(tmp) / f"loop{size}")
                for name, extra in configs.items():
                    row[name] = batch(size, Path(tmp) / f"{name}{size}".replace(" ", ""), extra, env(1))
                if head:
                    out = Path(tmp) / f"ray{size}"
                    row[f"ray {n}x1"] = batch(size, out, ["--ray", head.address, "--workers", str(n)], head.env)
                    row["ray worker seconds/job"] = sum(worker_seconds(out)) / len(CONTENTS)
                    local = Path(tmp) / f"local{n}x1{size}"
                    row["local worker seconds/job"] = sum(worker_seconds(local)) / len(CONTENTS)
                    row["picture bytes"] = sum(p.stat().st_size for p in out.glob("*.png")) / len(CONTENTS)
                print(size, json.dumps(row), flush=True)
            picture = next((Path(tmp) / f"loop{max(args.sizes)}").glob("*.png"))
            driver, db = driver_cost(picture)
    finally:
        if head:
            head.stop()
    inputs = sum((EXAMPLES / c).stat().st_size for c in CONTENTS) / len(CONTENTS) + STYLE.stat().st_size
    print(f"\n{len(CONTENTS)} pictures per run, --quality draft, {n} cores (pictures per minute; x = vs the shell loop)")
    for size, row in results.items():
        loop = len(CONTENTS) / row["loop"] * 60
        cells = [f"{k}: {len(CONTENTS) / v * 60:.1f}/min (x{row['loop'] / v:.2f})" for k, v in row.items()
                 if not k.endswith("job") and k != "picture bytes" and k != "loop"]
        print(f"{size} px: loop {loop:.1f}/min; " + "; ".join(cells))
        if f"ray {n}x1" in row:
            print(f"  ray wall / local wall: {row[f'ray {n}x1'] / row[f'local {n}x1']:.3f}; "
                  f"worker s/job ray {row['ray worker seconds/job']:.2f} local {row['local worker seconds/job']:.2f}; "
                  f"picture {row['picture bytes'] / 1e3:.0f} kB")
    print(f"driver work per job: {driver * 1e3:.1f} ms (table alone {db * 1e3:.1f} ms); inputs sent per job: {inputs / 1e3:.0f} kB")
    big = results[str(max(args.sizes))]
    if "ray worker seconds/job" in big:
        per_job = big["ray worker seconds/job"]
        print(f"\nmodel at {max(args.sizes)} px ({per_job:.1f} s per picture per 1-thread worker, {n} workers per node):")
        for nodes, per_minute, limit in scaling(per_job, n, driver, db, inputs + big["picture bytes"]):
            print(f"  {nodes:5d} nodes: {per_minute:10.0f} pictures/min, bound by the {limit}")


if __name__ == "__main__":
    main()
