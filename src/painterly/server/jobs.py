"""Jobs of the web server: a bounded queue, one worker thread per device, results on disk.

A job is submitted with decoded images and validated parameters, waits in a FIFO queue of fixed
length, and runs on the first free worker. Each step of the run becomes an event (step, loss,
ETA, preview version) that the HTTP layer streams to browsers. Cancelling sets a flag the step
callback returns, so the engine stops at its next step and the worker is free again. A reaper
thread cancels jobs that nobody has watched for ``idle_timeout`` seconds (a closed tab) and
deletes old results beyond the disk cap.

Nothing here prints; failures are kept on the job as one-line messages for the client.
"""

from __future__ import annotations

import collections
import io
import itertools
import logging
import math
import shutil
import tempfile
import threading
import time
import uuid
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..allocator import release_free_memory
from ..errors import PainterlyError
from .settings import DEFAULTS

if TYPE_CHECKING:
    from torch import Tensor

    from ..engine import StepEvent

log = logging.getLogger("painterly.server")

QUEUED, RUNNING, DONE, CANCELLED, FAILED = "queued", "running", "done", "cancelled", "failed"
TERMINAL = (DONE, CANCELLED, FAILED)
EVENT_BUFFER = 512  # events kept per job for streams that reconnect; older ones become a snapshot


@dataclass
class Settings:
    devices: tuple[str, ...] = ("auto",)  # one worker per entry
    max_queue: int = DEFAULTS.queue  # jobs waiting (not counting running ones); more answers 429
    idle_timeout: float = DEFAULTS.idle_timeout  # cancel a job nobody has watched or polled for this long; 0: never
    results_dir: str | None = DEFAULTS.results_dir  # parent of the temp dir for results (default: system temp)
    results_cap_bytes: int = DEFAULTS.results_cap_bytes
    results_ttl: float = 24 * 3600.0
    max_jobs_kept: int = 200  # finished jobs remembered; older ones (and their files) are forgotten
    preview_interval: float = DEFAULTS.preview_interval  # seconds between two preview images of a running job
    reaper_interval: float = 0.5
    # Give the heap's free memory back to the system after each job (allocator.release_free_memory):
    # without it the server's RSS climbed by hundreds of MB over a few dozen jobs (issue 12, item 15).
    trim_after_job: bool = True


class QueueFull(Exception):
    pass


@dataclass
class Job:
    id: str
    params: Any  # StyleParams (or a subclass with more fields)
    content: Any  # (1,3,H,W) tensor until the run starts; dropped afterwards
    styles: list[Any]
    created: float = field(default_factory=time.time)
    state: str = QUEUED
    message: str = ""
    step: int = 0
    total: int = 0
    level: int = 0
    levels: int = 1
    loss: float | None = None
    terms: dict[str, float | None] = field(default_factory=dict)  # None: not finite (JSON null)
    elapsed: float = 0.0
    eta: float | None = None
    size: tuple[int, int] | None = None
    started: float | None = None
    finished: float | None = None
    history: array = field(default_factory=lambda: array("f"))
    preview: bytes | None = None
    preview_version: int = 0
    result_png: Path | None = None
    result_jpeg: Path | None = None
    result_size: tuple[int, int] | None = None
    result_removed: bool = False
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    watchers: int = 0
    last_seen: float = field(default_factory=time.monotonic)
    seq: int = 0
    events: collections.deque = field(default_factory=lambda: collections.deque(maxlen=EVENT_BUFFER))

    @property
    def has_result(self) -> bool:
        return self.result_png is not None and not self.result_removed

    def status(self, position: int | None = None, history: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "state": self.state,
            "message": self.message,
            "position": position,
            "step": self.step,
            "total": self.total,
            "level": self.level,
            "levels": self.levels,
            "loss": self.loss,
            "terms": self.terms,
            "elapsed": round(self.elapsed, 3),
            "eta": None if self.eta is None else round(self.eta, 1),
            "size": list(self.size) if self.size else None,
            "preview": self.preview_version,
            "has_result": self.has_result,
            "result_removed": self.result_removed,
            "result_size": list(self.result_size) if self.result_size else None,
            "params": _params_dict(self.params),
            "seq": self.seq,
        }
        if history:
            d["history"] = [_finite(v) for v in self.history]
        return d


def _params_dict(params: Any) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


class EtaEstimator:
    """Seconds left in a coarse-to-fine run.

    The mean step time of the latest level measured, per pixel, prices the steps left in this
    level and in the larger levels still to come. Measured on a CPU (EfficientNet-Lite0, 128 ->
    512 px), a step's time grows about in proportion to its pixels from 256 px on, while the
    smallest levels are dominated by fixed overhead: so during the first level the estimate runs
    high (about twice the truth), and from the second level on it is within about 15 %. A fit of
    overhead + per-pixel cost over the levels seen did worse: the small levels say little about
    the slope. The first step of each level is left out of the means: it also builds that level's
    style targets.
    """

    def __init__(self, level_sides: list[int]):
        self.level_sides = level_sides  # long side of each level, smallest first
        self.means: dict[int, tuple[float, float]] = {}  # level -> (pixels, mean step seconds)
        self._level = -1
        self._last_elapsed = 0.0
        self._count = 0
        self._sum = 0.0

    def update(self, step: int, total: int, elapsed: float, size: tuple[int, int], level: int, levels: int) -> float | None:
        duration = elapsed - self._last_elapsed
        self._last_elapsed = elapsed
        pixels = float(size[0] * size[1])
        if level != self._level:
            self._level, self._count, self._sum = level, 0, 0.0
        else:
            self._count += 1
            self._sum += duration
            self.means[level] = (pixels, self._sum / self._count)
        if not self.means:
            return None
        measured_pixels, seconds_per_step = self.means[max(self.means)]
        per_pixel = seconds_per_step / measured_pixels
        per_level = max(1, round(total / max(1, levels)))
        left_here = max(0, per_level * (level + 1) - step)
        seconds = left_here * per_pixel * pixels
        sides = self.level_sides[-levels:] if levels <= len(self.level_sides) else self.level_sides
        aspect = min(size) / max(size)
        for side in sides[level + 1:]:
            seconds += per_level * per_pixel * side * side * aspect
        return max(0.0, seconds)


Runner = Callable[..., Any]  # painterly.style_transfer.stylize's signature


class JobManager:
    """Owns the queue, the worker threads, the reaper and the results directory."""

    def __init__(self, settings: Settings | None = None, runner: Runner | None = None):
        self.settings = settings or Settings()
        self._runner = runner
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._pending: collections.deque[Job] = collections.deque()
        self._jobs: dict[str, Job] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.results_dir: Path | None = None
        self.busy_workers = 0
        self.device_names: list[str] = []  # what "auto" resolved to, for display

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self.results_dir is not None:
            return
        parent = self.settings.results_dir
        if parent:
            Path(parent).mkdir(parents=True, exist_ok=True)
        # Always a fresh directory of our own, so cleaning up never touches anyone else's files.
        self.results_dir = Path(tempfile.mkdtemp(prefix="painterly-serve-", dir=parent))
        from ..devices import resolve_device

        self.device_names = [str(resolve_device(d)) for d in self.settings.devices]
        for i, device in enumerate(self.settings.devices):
            t = threading.Thread(target=self._worker, args=(device,), name=f"painterly-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._reaper, name="painterly-reaper", daemon=True)
        t.start()
        self._threads.append(t)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Cancel everything, wait for the workers to reach their next step, delete the results."""
        self._stopping.set()
        with self._lock:
            for job in list(self._jobs.values()):
                if job.state not in TERMINAL:
                    self._cancel_locked(job, "cancelled: the server is shutting down")
            self._wake.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()
        if self.results_dir is not None:
            shutil.rmtree(self.results_dir, ignore_errors=True)

    # ---- API used by the HTTP layer -------------------------------------------------------

    def queue_full(self) -> bool:
        with self._lock:
            return len(self._pending) >= self.settings.max_queue

    def submit(self, params: Any, content: Any, styles: list[Any], preview: bytes | None = None) -> Job:
        """Queue a job; ``preview`` (JPEG) is what the preview shows until the first step."""
        job = Job(id=uuid.uuid4().hex, params=params, content=content, styles=styles)
        if preview is not None:
            job.preview, job.preview_version = preview, 1
        with self._lock:
            if self._stopping.is_set():
                raise QueueFull("the server is shutting down")
            if len(self._pending) >= self.settings.max_queue:
                raise QueueFull(f"the queue is full ({len(self._pending)} jobs waiting); try again shortly")
            self._jobs[job.id] = job
            self._pending.append(job)
            self._emit(job, "state", {"state": QUEUED, "position": len(self._pending)})
            self._wake.notify()
        return job

    def get(self, job_id: str, touch: bool = True) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and touch:
                job.last_seen = time.monotonic()
            return job

    def position(self, job: Job) -> int | None:
        """1-based place in the queue, or None when not queued."""
        with self._lock:
            for i, j in enumerate(self._pending):
                if j is job:
                    return i + 1
        return None

    def status(self, job: Job, history: bool = False) -> dict[str, Any]:
        with self._lock:
            return job.status(self.position(job), history=history)

    def cancel(self, job: Job, reason: str = "cancelled") -> None:
        with self._lock:
            self._cancel_locked(job, reason)

    def watch(self, job: Job, delta: int) -> None:
        """An event stream opened (+1) or closed (-1): watched jobs are never reaped as idle."""
        with self._lock:
            job.watchers += delta
            job.last_seen = time.monotonic()

    def events_since(self, job: Job, seq: int) -> tuple[list[tuple[int, str, dict]], bool]:
        """Events after ``seq`` and whether they are complete (False: the buffer moved past it)."""
        with self._lock:
            if seq >= job.seq:
                return [], True
            events = [e for e in job.events if e[0] > seq]
            complete = bool(events) and events[0][0] == seq + 1
            return events, complete

    def stats(self) -> dict[str, Any]:
        with self._lock:
            states = collections.Counter(j.state for j in self._jobs.values())
            return {
                "workers": len(self.settings.devices),
                "devices": self.device_names or list(self.settings.devices),
                "busy_workers": self.busy_workers,
                "queued": len(self._pending),
                "max_queue": self.settings.max_queue,
                "jobs": dict(states),
                "results_bytes": self._results_bytes_locked(),
            }

    # ---- internals ------------------------------------------------------------------------

    def _emit(self, job: Job, kind: str, data: dict[str, Any]) -> None:
        # Called with the lock held.
        job.seq += 1
        job.events.append((job.seq, kind, data))

    def _cancel_locked(self, job: Job, reason: str) -> None:
        if job.state in TERMINAL:
            return
        job.cancel_requested.set()
        job.message = reason
        if job.state == QUEUED:
            try:
                self._pending.remove(job)
            except ValueError:
                pass
            self._finish_locked(job, CANCELLED, reason)

    def _finish_locked(self, job: Job, state: str, message: str) -> None:
        job.state = state
        job.message = message
        job.finished = time.time()
        job.eta = 0.0 if state == DONE else None
        job.content, job.styles = None, []  # the inputs are no longer needed: free them now
        self._emit(job, "state", {"state": state, "message": message, "has_result": job.has_result})
        # A finished job keeps only its last events; a stream further behind gets a snapshot instead.
        job.events = collections.deque(list(job.events)[-8:], maxlen=EVENT_BUFFER)

    def _worker(self, device: str) -> None:
        backbones: dict[tuple, Any] = {}  # the last backbone used, kept for the next job
        while True:
            with self._lock:
                while not self._pending and not self._stopping.is_set():
                    self._wake.wait()
                if self._stopping.is_set():
                    return
                job = self._pending.popleft()
                job.state = RUNNING
                job.started = time.time()
                self.busy_workers += 1
                self._emit(job, "state", {"state": RUNNING})
            try:
                self._run(job, device, backbones)
            finally:
                with self._lock:
                    self.busy_workers -= 1
                if self.settings.trim_after_job:
                    release_free_memory()

    def _run(self, job: Job, device: str, backbones: dict[tuple, Any]) -> None:
        from ..pyramid import pyramid_sizes
        from ..style_transfer import stylize

        runner = self._runner or stylize
        params = job.params.replace(device=device)
        eta = EtaEstimator(pyramid_sizes(params.size, params.pyramid_start))
        interval = self.settings.preview_interval
        last_preview = [-math.inf]

        def on_step(event: StepEvent) -> bool:
            estimate = eta.update(event.step, event.total, event.elapsed, event.size, event.level, event.levels)
            now = time.monotonic()
            preview = None
            if now - last_preview[0] >= interval or event.step == event.total:
                last_preview[0] = now
                preview = _jpeg(event.image(), quality=85)
            terms = {k: _finite(float(v)) for k, v in event.terms.items()}
            with self._lock:
                job.step, job.total, job.level, job.levels = event.step, event.total, event.level, event.levels
                job.loss, job.terms, job.elapsed, job.eta = _finite(event.loss), terms, event.elapsed, estimate
                job.size = (event.size[0], event.size[1])
                job.history.append(event.loss)
                data = {
                    "step": event.step, "total": event.total, "loss": job.loss, "terms": terms,
                    "elapsed": round(event.elapsed, 3), "eta": None if estimate is None else round(estimate, 1),
                    "level": event.level, "levels": event.levels, "size": list(event.size),
                }
                if preview is not None:
                    job.preview = preview
                    job.preview_version += 1
                    data["preview"] = job.preview_version
                self._emit(job, "progress", data)
            return job.cancel_requested.is_set() or self._stopping.is_set()

        try:
            if job.cancel_requested.is_set():
                raise _Cancelled
            key = (params.model, params.pooling, device)
            if key not in backbones:
                from ..backbones import create_backbone
                from ..devices import resolve_device

                backbones.clear()  # one backbone per worker at a time keeps memory flat
                backbones[key] = create_backbone(params.model, device=resolve_device(device), pooling=params.pooling)
            result = runner(job.content, job.styles, params, callbacks=[on_step], backbone=backbones[key])
            assert self.results_dir is not None
            png = self.results_dir / f"{job.id}.png"
            jpeg = self.results_dir / f"{job.id}.jpg"
            _save(result.image, png)
            _save(result.image, jpeg)
            final_preview = _jpeg(result.image, quality=85)
        except _Cancelled:
            with self._lock:
                self._finish_locked(job, CANCELLED, job.message or "cancelled")
            return
        except PainterlyError as err:
            with self._lock:
                self._finish_locked(job, FAILED, str(err))
            return
        except Exception as err:  # a bug: keep the server up, log the traceback, tell the client
            log.exception("job %s failed", job.id)
            with self._lock:
                self._finish_locked(job, FAILED, f"internal error: {type(err).__name__}: {err}"[:300])
            return
        with self._lock:
            job.result_png, job.result_jpeg = png, jpeg
            job.result_size = (int(result.image.shape[-1]), int(result.image.shape[-2]))  # (W, H)
            job.preview = final_preview
            job.preview_version += 1
            if result.stopped == "callback" and job.cancel_requested.is_set():
                state, message = CANCELLED, job.message or "cancelled"
                message += f" after {result.steps} of {job.total} steps; the best image so far is kept"
            else:
                state, message = DONE, f"finished {result.steps} steps in {result.elapsed:.1f} s"
            self._emit(job, "progress", {"preview": job.preview_version, "step": job.step, "total": job.total,
                                         "loss": job.loss, "eta": 0.0, "elapsed": round(result.elapsed, 3)})
            self._finish_locked(job, state, message)
            self._prune_locked()

    def _reaper(self) -> None:
        while not self._stopping.wait(self.settings.reaper_interval):
            try:
                self._reap()
            except Exception:  # never let the reaper die: it is what keeps the disk bounded
                log.exception("reaper failed")

    def _reap(self) -> None:
        timeout = self.settings.idle_timeout
        now = time.monotonic()
        with self._lock:
            if timeout > 0:
                for job in list(self._jobs.values()):
                    if job.state not in TERMINAL and job.watchers <= 0 and now - job.last_seen > timeout:
                        self._cancel_locked(job, f"cancelled: nobody watched it for {timeout:g} s")
            self._prune_locked()

    def _results_bytes_locked(self) -> int:
        total = 0
        for job in self._jobs.values():
            if job.has_result:
                for p in (job.result_png, job.result_jpeg):
                    try:
                        total += p.stat().st_size  # type: ignore[union-attr]
                    except OSError:
                        pass
        return total

    def _prune_locked(self) -> None:
        """Delete results past their age or beyond the disk cap (oldest first); forget old jobs."""
        s = self.settings
        finished = sorted((j for j in self._jobs.values() if j.state in TERMINAL), key=lambda j: j.finished or 0)
        now = time.time()
        sizes = {}
        for job in finished:
            if job.has_result:
                sizes[job.id] = sum(_file_size(p) for p in (job.result_png, job.result_jpeg))
        total = sum(sizes.values())
        for job in finished:
            if not job.has_result:
                continue
            if total > s.results_cap_bytes or now - (job.finished or now) > s.results_ttl:
                self._remove_result(job)
                total -= sizes[job.id]
        extra = len(finished) - s.max_jobs_kept
        for job in itertools.islice(finished, max(0, extra)):
            self._remove_result(job)
            del self._jobs[job.id]

    def _remove_result(self, job: Job) -> None:
        for p in (job.result_png, job.result_jpeg):
            if p is not None:
                p.unlink(missing_ok=True)
        if job.result_png is not None:
            job.result_removed = True
        job.preview = None


class _Cancelled(Exception):
    pass


def _file_size(p: Path | None) -> int:
    try:
        return p.stat().st_size if p is not None else 0
    except OSError:
        return 0


def _jpeg(image: Tensor, quality: int) -> bytes:
    from ..io import to_pil

    buf = io.BytesIO()
    to_pil(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _save(image: Tensor, path: Path) -> None:
    from ..io import save_image

    save_image(image, path)
