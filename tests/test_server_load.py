"""Load test of `painterly serve` on loopback: 20 clients submit tiny jobs at once.

The server runs as its own process (the real CLI, uvicorn, one CPU worker, a queue of 8), so its
memory can be read from /proc. Bounded: 40 jobs, a hard deadline. Checked: no 5xx, every job
accepted ends done or cancelled (some clients cancel theirs), the queue refuses with 429 and
clients that retry get in, and the server's resident memory stays flat after warm-up.
"""

from __future__ import annotations

import io
import json
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

try:
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx

CLIENTS = 20
JOBS_PER_CLIENT = 2
DEADLINE_S = 150.0
MAX_RSS_GROWTH_MB = 300
TINY = {"size": 64, "iterations": 3, "pyramid_start": 0}

# The slow tier: 40 jobs from 20 clients against a real server.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads memory from /proc (Linux)"),
]


def png(seed: int, w: int = 72, h: int = 56) -> bytes:
    rng = random.Random(seed)
    img = Image.new("RGB", (w, h), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(12):
        x, y = rng.randrange(w), rng.randrange(h)
        img.paste(tuple(rng.randrange(256) for _ in range(3)), (x, y, min(w, x + 12), min(h, y + 9)))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture()
def server(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "painterly", "serve", "--host", "127.0.0.1", "--port", "0", "--device", "cpu",
         "--queue", "8", "--idle-timeout", "30", "--preview-interval", "0.2", "--results-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+", line)
    if not match:
        proc.kill()
        raise AssertionError(f"server did not start: {line}{proc.stderr.read()}")
    yield match.group(0), proc
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert "Traceback" not in err, err


class Client(threading.Thread):
    def __init__(self, index: int, base: str, deadline: float):
        super().__init__(name=f"client-{index}", daemon=True)
        self.index, self.base, self.deadline = index, base, deadline
        self.statuses: list[int] = []
        self.finals: list[str] = []
        self.refused = 0
        self.latencies: list[float] = []
        self.error: BaseException | None = None

    def run(self):
        try:
            with httpx.Client(base_url=self.base, timeout=30) as http:
                for n in range(JOBS_PER_CLIENT):
                    self.one_job(http, n)
        except BaseException as err:  # reported by the test, with the client's name
            self.error = err

    def request(self, http, method, url, **kw):
        r = http.request(method, url, **kw)
        self.statuses.append(r.status_code)
        return r

    def one_job(self, http, n: int):
        files = [("content", ("c.png", png(self.index * 10 + n), "image/png")),
                 ("style", ("s.png", png(1000 + self.index), "image/png"))]
        t0 = time.monotonic()
        while True:
            r = self.request(http, "POST", "/api/jobs", files=files, data={"params": json.dumps(TINY)})
            if r.status_code != 429:
                break
            self.refused += 1
            assert time.monotonic() < self.deadline, "still refused at the deadline"
            time.sleep(0.2 + random.random() * 0.6)
        assert r.status_code == 202, r.text
        job = r.json()
        cancel = self.index % 4 == 3 and n == 1  # a quarter of the clients cancel their second job
        if cancel:
            self.request(http, "POST", job["urls"]["cancel"])
        if self.index % 2 == 0:  # half follow the event stream, half poll
            state = self.follow_events(http, job)
        else:
            state = self.poll(http, job)
        self.finals.append(state)
        self.latencies.append(time.monotonic() - t0)
        if state == "done":
            r = self.request(http, "GET", job["urls"]["png"])
            assert r.content[:4] == b"\x89PNG"

    def follow_events(self, http, job) -> str:
        with http.stream("GET", job["urls"]["events"]) as r:
            self.statuses.append(r.status_code)
            event = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event in ("state", "status"):
                    state = json.loads(line[6:])["state"]
                    if state in ("done", "cancelled", "failed"):
                        return state
                assert time.monotonic() < self.deadline, "stream still open at the deadline"
        return self.poll(http, job)

    def poll(self, http, job) -> str:
        while True:
            state = self.request(http, "GET", job["urls"]["status"]).json()["state"]
            if state in ("done", "cancelled", "failed"):
                return state
            assert time.monotonic() < self.deadline, f"job still {state} at the deadline"
            time.sleep(0.2)


def test_twenty_clients_no_5xx_every_job_ends_memory_flat(server):
    base, proc = server
    start = time.monotonic()
    # Warm-up: the backbone is loaded and allocators reach their working size.
    warm = Client(CLIENTS, base, start + DEADLINE_S)  # index 20: never cancels
    with httpx.Client(base_url=base, timeout=30) as http:
        for n in range(3):
            warm.one_job(http, n)
    assert warm.finals == ["done"] * 3
    rss_warm = rss_mb(proc.pid)

    peak = [rss_warm]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.25):
            peak[0] = max(peak[0], rss_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.monotonic()
    clients = [Client(i, base, t0 + DEADLINE_S) for i in range(CLIENTS)]
    for c in clients:
        c.start()
    for c in clients:
        c.join(max(0.0, t0 + DEADLINE_S + 5 - time.monotonic()))
    stop.set()
    sampler.join()
    took = time.monotonic() - t0

    assert not [c.name for c in clients if c.is_alive()], "clients still running after the deadline"
    errors = [f"{c.name}: {c.error!r}" for c in clients if c.error]
    assert not errors, errors
    statuses = [s for c in clients for s in c.statuses]
    assert not [s for s in statuses if s >= 500], "5xx answers"
    finals = [s for c in clients for s in c.finals]
    assert len(finals) == CLIENTS * JOBS_PER_CLIENT
    assert set(finals) <= {"done", "cancelled"}, finals
    assert finals.count("done") >= CLIENTS  # first jobs are never cancelled

    with httpx.Client(base_url=base) as http:
        health = http.get("/api/health").json()
    assert health["busy_workers"] == 0 and health["queued"] == 0
    time.sleep(0.5)
    rss_end = rss_mb(proc.pid)
    refused = sum(c.refused for c in clients)
    latencies = sorted(x for c in clients for x in c.latencies)
    print(
        f"\nload: {len(finals)} jobs from {CLIENTS} clients in {took:.1f} s: {finals.count('done')} done, "
        f"{finals.count('cancelled')} cancelled; {len(statuses)} requests, {refused} answered 429, 0 5xx; "
        f"job latency median {statistics.median(latencies):.1f} s, max {latencies[-1]:.1f} s; "
        f"server RSS after warm-up {rss_warm:.0f} MB, peak {peak[0]:.0f} MB, end {rss_end:.0f} MB"
    )
    assert rss_end - rss_warm < MAX_RSS_GROWTH_MB
    assert refused > 0  # 40 jobs against a queue of 8: the 429 path was exercised
