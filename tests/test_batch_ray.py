"""`painterly batch --ray` on a real single-node Ray cluster bound to 127.0.0.1 only.

The cluster is started with docs/batch.md's laptop commands plus `--block` (in a session of its
own, so that signalling that one process stops it at the end: `ray stop` would stop every Ray
process of the user on the machine). Nothing is mocked: actors are killed
with SIGKILL and the driver with SIGINT, as in the local executor's tests.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import ray  # noqa: F401 - the test extra installs it; these tests are the reason

import batchkit as kit

# The slow tier (`pytest -m "not slow"` leaves it out; .ci/run runs it): starts a real Ray cluster.
pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[1] / "src"


def loopback_ray_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        # Ray turns --node-ip-address 127.0.0.1 into the machine's network address unless it is
        # told that this is a one-machine cluster; then every socket is bound to 127.0.0.1.
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_AUTH_MODE="disabled",  # loopback only: no token file needed in the test's home
        OMP_NUM_THREADS="1",
        OMP_WAIT_POLICY="PASSIVE",
        PYTHONPATH=os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]),  # the actors import this painterly
    )
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head():
    env = loopback_ray_env()
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="pray-")  # short: Ray's socket paths must fit 107 bytes
    head = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
         "--port", str(port), "--include-dashboard", "false", "--disable-usage-stats", "--num-cpus", "2",
         "--object-store-memory", str(200 * 2**20), "--temp-dir", temp],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    address = f"127.0.0.1:{port}"
    try:
        _await_head(head, temp)
        listening = _listening_addresses(head.pid)
        assert listening and listening <= LOOPBACK, listening  # nothing reachable from the network
        yield address, env
    finally:
        head.send_signal(signal.SIGTERM)  # --block: the head stops every process it started
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        head.stderr.close()
        shutil.rmtree(temp, ignore_errors=True)


def _await_head(head: subprocess.Popen, temp: str) -> None:
    deadline = time.time() + 240
    while not list(Path(temp).glob("session_*/logs/raylet.out")) or not list(Path(temp).glob("session_latest")):
        if head.poll() is not None or time.time() > deadline:
            raise AssertionError(f"ray start failed: {head.stderr.read() if head.poll() is not None else 'timeout'}")
        time.sleep(0.5)
    time.sleep(2)


def _listening_addresses(session: int) -> set[str]:
    """Local addresses of the TCP sockets that processes of ``session`` listen on (Linux /proc)."""
    inodes = set()
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or int((proc / "stat").read_text().rsplit(")", 1)[1].split()[3]) != session:
                continue
            for fd in (proc / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except (OSError, IndexError, ValueError):
            continue  # a process that just ended
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.add(fields[1].split(":")[0])
    return found


LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F"}  # 127.0.0.1 as IPv4 and IPv4-mapped IPv6


def test_ray_batch_survives_a_killed_actor_and_writes_every_picture_once(tmp_path, ray_head):
    address, env = ray_head
    kit.make_inputs(tmp_path, photos=3)
    rows = [{"content": f"photos/p{i}.png", "style": "paintings/stripes.png"} for i in range(3)]
    rows[0].update(size=96, iterations=kit.SLOW_ITERATIONS)
    rows.append({"content": "photos/p1.png", "style": "great-wave"})
    manifest = kit.write_manifest(tmp_path / "jobs.jsonl", rows)
    out = tmp_path / "out"
    proc = kit.start("--manifest", manifest, "-o", out, "--ray", address, *kit.TINY, env=env)
    killed = kit.kill_worker_of(out, "p0__stripes.png", proc)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "retrying p0__stripes.png: worker ray:127.0.0.1:" in err
    names = {f"p{i}__stripes.png" for i in range(3)} | {"p1__great-wave.png"}
    table = kit.assert_complete(out, names, {"p0__stripes.png": (96, 64)})
    assert table["p0__stripes.png"]["attempts"] == 2
    workers = {table[n]["worker"] for n in names}
    assert all(w.startswith("ray:127.0.0.1:") for w in workers)
    assert f"ray:127.0.0.1:{killed}" not in workers  # the dead actor finished nothing
    # Not asserted: that both actors painted. While Ray restarts the killed one (which reloads the
    # backbone) the other may take every job that is left; benchmarks/batch.py shows the spread.


def test_ray_batch_stopped_by_sigterm_then_resumed_redoes_nothing(tmp_path, ray_head):
    address, env = ray_head
    kit.make_inputs(tmp_path, photos=3)
    rows = [{"content": f"photos/p{i}.png", "style": "paintings/stripes.png"} for i in range(3)]
    rows[2].update(size=96, iterations=kit.SLOW_ITERATIONS)
    manifest = kit.write_manifest(tmp_path / "jobs.jsonl", rows)
    out = tmp_path / "out"
    args = ("--manifest", manifest, "-o", out, "--ray", address, "--workers", "1", *kit.TINY)
    proc = kit.start(*args, env=env)
    kit.wait_for(lambda: kit.jobs(out).get("p2__stripes.png", {}).get("state") == "running", proc)
    proc.send_signal(signal.SIGTERM)  # as `kill` or a scheduler stops it (ray.init had replaced the handler)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted: 2 of 3 pictures done; run the same command again to continue" in err
    before = kit.jobs(out)
    assert [before[f"p{i}__stripes.png"]["state"] for i in range(3)] == ["done", "done", "pending"]
    assert not (out / "p2__stripes.png").exists()

    proc = kit.start(*args, env=env)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    after = kit.assert_complete(out, {f"p{i}__stripes.png" for i in range(3)})
    for i in range(2):
        assert after[f"p{i}__stripes.png"]["finished_at"] == before[f"p{i}__stripes.png"]["finished_at"]
