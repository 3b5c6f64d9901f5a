"""The local executor: N worker processes on this machine, one job at a time each.

Each worker is a spawned process that keeps its models loaded and talks to the driver over its
own pipe, so the driver always knows which job a worker holds: when a worker dies (killed, out of
memory) its job comes back as *died* and a fresh worker takes the slot. Workers ignore SIGINT:
Ctrl-C reaches the driver, which stops them, so nothing is left half-written.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from multiprocessing.connection import Connection, wait
from typing import Any

from .runner import Outcome
from .work import Painter, Task, limit_threads, run_task

STOP = None  # sent instead of a task: the worker exits


def _worker_main(conn: Connection, threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    from ..allocator import tune_malloc

    tune_malloc()  # same reason as in the CLI: the optimisation loop reuses its few-MB buffers
    limit_threads(threads)
    painter = Painter()
    label = f"local:{os.getpid()}"
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the driver is gone
            return
        if task is STOP:
            return
        result = run_task(painter, task, label)
        try:
            conn.send(result)
        except OSError:  # the driver is gone
            return


def _die_with_parent() -> None:
    """Linux: end this worker when the driver dies (even by SIGKILL), not after its current job."""
    import ctypes

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the worker stops at its next read from the closed pipe


class _Slot:
    def __init__(self, context: Any, threads: int) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, threads), daemon=True)
        self.process.start()
        child.close()
        self.job: str | None = None

    @property
    def label(self) -> str:
        return f"local:{self.process.pid}"

    def stop(self, timeout: float) -> None:
        if self.process.is_alive() and self.job is None:
            try:
                self.conn.send(STOP)
            except OSError:
                pass
            self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class LocalExecutor:
    """``workers`` processes with ``threads`` torch threads each."""

    def __init__(self, workers: int, threads: int):
        self.threads = threads
        # spawn, not fork: a forked copy of a process that has used torch's thread pools can hang.
        self.context = multiprocessing.get_context("spawn")
        self.slots = [_Slot(self.context, threads) for _ in range(workers)]
        self.description = f"local, {workers} workers x {threads} threads"

    @property
    def size(self) -> int:
        return len(self.slots)

    def free(self) -> int:
        return sum(slot.job is None for slot in self.slots)

    def submit(self, name: str, task: Task) -> str:
        slot = next(s for s in self.slots if s.job is None)
        slot.job = name
        try:
            slot.conn.send(task)
        except OSError:  # died while idle: its death is reported by the next wait()
            pass
        return slot.label

    def wait(self, timeout: float) -> list[Outcome]:
        busy = [s for s in self.slots if s.job is not None]
        ready = set(wait([s.conn for s in busy] + [s.process.sentinel for s in busy], timeout))
        outcomes = []
        for i, slot in enumerate(self.slots):
            if slot.job is None or (slot.conn not in ready and slot.process.sentinel not in ready):
                continue
            name, label = slot.job, slot.label
            try:
                result = slot.conn.recv() if slot.conn.poll() else None
            except (EOFError, OSError):
                result = None
            slot.job = None
            if result is None:
                # The process died mid-job: reap it and start a fresh one in its place.
                slot.process.join(5)
                code = slot.process.exitcode
                slot.stop(0)
                self.slots[i] = _Slot(self.context, self.threads)
                outcomes.append(Outcome(name, None, label, f"worker {label} died (exit code {code})"))
            else:
                outcomes.append(Outcome(name, result, label))
        return outcomes

    def close(self) -> None:
        for slot in self.slots:
            slot.stop(timeout=10)


def default_shape(cores: int) -> tuple[int, int]:
    """(workers, threads) when the user gives neither: one worker using every core.

    Measured with benchmarks/batch.py (docs/batch.md; 2 cores, four pictures per run): one
    2-thread worker finished before two 1-thread workers at 256 px (126 s against 185 s) and at
    512 px (162 s against 372 s). The machine was shared and busy, so the margin is not precise,
    but the order held at both sizes; two workers also pay for two start-ups and two models.
    """
    return 1, max(1, cores)
