"""The Ray executor: one actor per worker slot on an existing Ray cluster.

Imported only when a batch asks for Ray (``pip install painterly[ray]``). Each actor keeps its
models loaded between jobs; tasks and results travel as bytes through Ray's object store, so the
worker nodes need painterly installed but no shared file system. Actors are restarted by Ray when
their process or node dies; the job they held comes back to the driver as lost and is retried on
whichever actor is free next. The driver alone writes pictures and the job table.
"""

from __future__ import annotations

import os
import signal
import socket
import threading

import ray
from ray.exceptions import GetTimeoutError, RayError

from ..errors import PainterlyError
from .runner import Outcome
from .work import Painter, Task, TaskResult, limit_threads, run_task

START_TIMEOUT_S = 180  # actors that cannot be placed in this time (too few CPUs or GPUs) are given up


@ray.remote(max_restarts=-1, max_task_retries=0)
class PainterActor:
    """A worker slot: ``threads`` torch threads, models cached across jobs."""

    def __init__(self, threads: int):
        from ..allocator import tune_malloc

        tune_malloc()
        limit_threads(threads)
        self.painter = Painter()
        self.label = f"ray:{ray.util.get_node_ip_address()}:{os.getpid()}"

    def where(self) -> str:
        return self.label

    def paint(self, task: Task) -> TaskResult:
        return run_task(self.painter, task, self.label)


def connect(address: str) -> None:
    """Join the running cluster at ``address`` (``auto``: the one started on this machine)."""
    if ray.is_initialized():
        return
    if address != "auto":
        _check_reachable(address)
    on_sigterm = signal.getsignal(signal.SIGTERM)
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError, OSError) as err:
        first = " ".join(str(err).split())[:200]
        raise PainterlyError(f"ray: cannot join a Ray cluster at {address!r} ({first}); start one with `ray start --head`") from None
    finally:
        # ray.init makes SIGTERM exit the process at once; the caller's handler stops the batch
        # cleanly instead (jobs in flight go back to pending).
        if on_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_sigterm)


def _check_reachable(address: str) -> None:
    """Fail in seconds, not after Ray's minutes of reconnecting, when nothing listens there."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise PainterlyError(f"ray: {address!r} is not auto or HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as err:
        raise PainterlyError(f"ray: nothing answers at {address} ({err.strerror or type(err).__name__}); is the head started?") from None


class _Slot:
    def __init__(self, options: dict, threads: int):
        self.actor = PainterActor.options(**options).remote(threads)  # type: ignore[attr-defined]  # added by @ray.remote
        self.label_ref = self.actor.where.remote()
        self.label = "ray:starting"
        self.job: str | None = None

    def ready(self) -> bool:
        """True once the actor has said where it runs (it is placed and its process is up)."""
        if self.label_ref is None:
            return True
        done, _ = ray.wait([self.label_ref], timeout=0)
        if not done:
            return False
        ref, self.label_ref = self.label_ref, None
        try:
            self.label = ray.get(ref)
        except RayError:
            self.label_ref = self.actor.where.remote()  # died again while starting: Ray restarts it
            return False
        return True


class RayExecutor:
    """``workers`` actors (default: as many as the cluster's CPUs, or GPUs, allow)."""

    def __init__(self, address: str, workers: int | None, cpus_per_worker: float, gpus_per_worker: float):
        connect(address)
        if workers is None:
            workers = slots_for(ray.cluster_resources(), cpus_per_worker, gpus_per_worker)
        if workers < 1:
            raise PainterlyError(
                f"ray: the cluster has no room for a worker of {cpus_per_worker} CPUs and {gpus_per_worker} GPUs"
            )
        self.options = {"num_cpus": cpus_per_worker, "num_gpus": gpus_per_worker}
        self.threads = max(1, int(cpus_per_worker))
        self.slots = [_Slot(self.options, self.threads) for _ in range(workers)]
        self.pending: dict = {}  # ObjectRef of a paint call -> its slot
        self._await_start()
        self.description = f"ray {address}, {len(self.slots)} actors x {cpus_per_worker:g} CPUs"

    def _await_start(self) -> None:
        refs = [slot.label_ref for slot in self.slots]
        ray.wait(refs, num_returns=len(refs), timeout=START_TIMEOUT_S)
        started = [slot for slot in self.slots if slot.ready()]
        for slot in self.slots:
            if slot not in started:
                ray.kill(slot.actor, no_restart=True)
        if not started:
            self.close()
            raise PainterlyError(f"ray: no worker started within {START_TIMEOUT_S} s; does the cluster have free CPUs?")
        self.slots = started

    @property
    def size(self) -> int:
        return len(self.slots)

    def free(self) -> int:
        return sum(slot.job is None and slot.ready() for slot in self.slots)

    def submit(self, name: str, task: Task) -> str:
        slot = next(s for s in self.slots if s.job is None and s.ready())
        slot.job = name
        self.pending[slot.actor.paint.remote(task)] = slot
        return slot.label

    def wait(self, timeout: float) -> list[Outcome]:
        if not self.pending:
            return []
        ready, _ = ray.wait(list(self.pending), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(list(self.pending), num_returns=len(self.pending), timeout=0)
        outcomes = []
        for ref in ready:
            slot = self.pending.pop(ref)
            name, slot.job = slot.job, None
            try:
                result = ray.get(ref)
            except (RayError, GetTimeoutError) as err:
                # The actor's process or node died: Ray restarts the actor; learn its new address.
                outcomes.append(Outcome(name, None, slot.label, f"worker {slot.label} lost ({type(err).__name__})"))
                slot.label_ref = slot.actor.where.remote()
                continue
            outcomes.append(Outcome(name, result, result.worker))
        return outcomes

    def close(self) -> None:
        for slot in self.slots:
            ray.kill(slot.actor, no_restart=True)
        self.pending.clear()
        ray.shutdown()  # disconnects this driver; the cluster keeps running


def slots_for(resources: dict, cpus_per_worker: float, gpus_per_worker: float) -> int:
    """How many workers of this size fit the cluster's total resources."""
    slots = int(resources.get("CPU", 0) // cpus_per_worker) if cpus_per_worker > 0 else 1 << 30
    if gpus_per_worker > 0:
        slots = min(slots, int(resources.get("GPU", 0) // gpus_per_worker))
    return slots if slots < 1 << 30 else 1
