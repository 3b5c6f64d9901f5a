"""Helpers of the batch tests: tiny inputs, the CLI as a subprocess, and checks of the outcome."""

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from imagegen import photo, stripes

# Tiny jobs: 64 px, one pyramid level, a few steps.
TINY = ["--size", "64", "--pyramid-start", "0", "--iterations", "3", "--device", "cpu"]
SLOW_ITERATIONS = 150  # the job a test kills its worker in: a few seconds long even on a quiet machine
DB = "painterly-batch.sqlite"


def make_inputs(folder: Path, photos: int = 2) -> tuple[Path, Path]:
    """``folder/photos/p0.png …`` and ``folder/paintings/stripes.png``."""
    (folder / "photos").mkdir(parents=True)
    (folder / "paintings").mkdir()
    for i in range(photos):
        photo(96 + 8 * i, 64).save(folder / "photos" / f"p{i}.png")
    arr = (stripes(64, 64)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    Image.fromarray(arr).save(folder / "paintings" / "stripes.png")
    return folder / "photos", folder / "paintings"


def write_manifest(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def batch_command(*args) -> list[str]:
    return [sys.executable, "-m", "painterly", "batch", *map(str, args)]


def start(*args, env=None) -> subprocess.Popen:
    # A session of its own, as a shell gives a command: a signal to the driver reaches it alone.
    return subprocess.Popen(batch_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)


def jobs(outdir: Path) -> dict[str, dict]:
    if not (outdir / DB).exists():
        return {}
    with sqlite3.connect(outdir / DB, timeout=30) as db:
        db.row_factory = sqlite3.Row
        try:
            return {r["name"]: dict(r) for r in db.execute("SELECT * FROM jobs")}
        except sqlite3.OperationalError:  # the driver is still creating the table
            return {}


def wait_for(condition, proc: subprocess.Popen, timeout: float = 300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"the batch ended first (exit {proc.returncode}): {proc.stderr.read()}")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("timed out waiting")


def kill_worker_of(outdir: Path, name: str, proc: subprocess.Popen) -> int:
    """Wait until job ``name`` runs, then SIGKILL the worker process painting it; returns its pid."""
    row = wait_for(lambda: _running(outdir, name), proc)
    pid = int(row["worker"].rsplit(":", 1)[1])
    time.sleep(0.5)  # well inside the job: it takes seconds
    os.kill(pid, signal.SIGKILL)
    return pid


def _running(outdir: Path, name: str):
    row = jobs(outdir).get(name)
    return row if row and row["state"] == "running" and row["worker"] else None


def assert_complete(outdir: Path, names: set[str], sizes: dict[str, tuple[int, int]] | None = None) -> dict[str, dict]:
    """Every picture exactly once, a valid image, and the table agrees (done, same hash)."""
    files = sorted(p.name for p in outdir.iterdir() if not p.name.startswith(DB) and p.name != ".painterly-batch.lock")
    assert files == sorted(names), files  # no temp files, no extras, nothing twice
    table = jobs(outdir)
    assert set(table) == names
    for name in names:
        row = table[name]
        assert row["state"] == "done", row
        data = (outdir / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["output_sha256"]
        with Image.open(outdir / name) as img:
            img.load()
            assert img.mode == "RGB"
            if sizes and name in sizes:
                assert img.size == sizes[name]
    return table
