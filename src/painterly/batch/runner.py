"""The driver: keeps every worker busy, writes each picture and its row, resumes where it stopped.

The driver alone touches the output folder and the job table; workers only see bytes. A picture
is written atomically before its row says *done*, so an interrupted batch leaves finished pictures
and unfinished jobs, never half a file. Rerunning skips jobs whose picture still has the recorded
hash, retries failed ones, and starts over any job whose inputs or settings changed.
"""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..errors import PainterlyError
from .database import JobTable
from .jobs import JobSpec, file_sha256, fingerprint, hash_files, style_file
from .work import InputFile, Task, TaskResult

POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Outcome:
    """What an executor reports for a job: its result, or ``None`` with ``lost`` if the worker died."""

    name: str
    result: TaskResult | None
    worker: str
    lost: str = ""


class Executor(Protocol):
    description: str

    @property
    def size(self) -> int: ...

    def free(self) -> int: ...

    def submit(self, name: str, task: Task) -> str: ...

    def wait(self, timeout: float) -> list[Outcome]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class BatchEvent:
    """Emitted by :func:`run_batch`: ``kind`` is done, failed (final), retry or started."""

    kind: str
    name: str
    worker: str = ""
    error: str = ""
    seconds: float = 0.0


@dataclass
class Plan:
    """The jobs of this run: ``todo`` in order, and how many were already done (and verified)."""

    jobs: dict[str, JobSpec]
    todo: list[str]
    already_done: int
    reopened: list[tuple[str, str]] = field(default_factory=list)  # (name, why) of done jobs redone


@dataclass
class Summary:
    done: int = 0
    failed: int = 0
    retried: int = 0
    already_done: int = 0
    interrupted: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)


def plan(jobs: list[JobSpec], table: JobTable, folder: Path) -> Plan:
    """Record the jobs in the table and decide which of them this run has to paint."""
    hashes = hash_files(p for job in jobs for p in job.input_files())
    fingerprints = {job.name: fingerprint(job, hashes) for job in jobs}
    table.recover_running()
    table.sync(jobs, fingerprints)
    todo, done, reopened = [], 0, []
    rows = {row.name: row for row in table.rows([job.name for job in jobs])}
    for job in jobs:
        row = rows[job.name]
        if row.state == "done":
            why = _changed_output(folder / job.name, row.output_sha256)
            if not why:
                done += 1
                continue
            table.reopen(job.name, why)
            reopened.append((job.name, why))
        todo.append(job.name)
    return Plan({job.name: job for job in jobs}, todo, done, reopened)


def run_batch(
    plan: Plan,
    table: JobTable,
    executor: Executor,
    folder: Path,
    *,
    retries: int = 2,
    on_event: Callable[[BatchEvent], None] = lambda event: None,
) -> Summary:
    """Paint ``plan.todo`` with ``executor``; returns counts. KeyboardInterrupt stops it cleanly.

    A job that fails on its inputs (a :class:`PainterlyError`) fails at once: painting it again
    would fail again. A job whose worker died or crashed is tried up to ``retries`` more times.
    """
    summary = Summary(already_done=plan.already_done)
    queue = deque(plan.todo)
    tries: Counter[str] = Counter()
    running: set[str] = set()
    run_id = table.start_run(executor.description, executor.size, len(plan.todo))
    try:
        while queue or running:
            while queue and executor.free():
                name = queue.popleft()
                job = plan.jobs[name]
                try:
                    task = make_task(job)
                except PainterlyError as err:
                    table.claim(name, "driver")
                    _failed(table, summary, on_event, name, str(err), "driver")
                    continue
                running.add(name)
                worker = executor.submit(name, task)
                table.claim(name, worker)
                on_event(BatchEvent("started", name, worker))
            for outcome in executor.wait(POLL_SECONDS) if running else []:
                running.discard(outcome.name)
                result = outcome.result
                if result is not None and result.status == "ok":
                    _write(table, plan.jobs[outcome.name], result, folder, summary, on_event)
                elif result is not None and result.status == "error":
                    _failed(table, summary, on_event, outcome.name, result.error, outcome.worker)
                else:
                    error = outcome.lost if result is None else result.error
                    tries[outcome.name] += 1
                    if tries[outcome.name] <= retries:
                        table.fail(outcome.name, error, final=False)
                        queue.append(outcome.name)
                        summary.retried += 1
                        on_event(BatchEvent("retry", outcome.name, outcome.worker, error))
                    else:
                        _failed(table, summary, on_event, outcome.name, error, outcome.worker)
    except BaseException:
        summary.interrupted = True
        raise
    finally:
        executor.close()
        for name in running:
            table.release(name)
        table.end_run(run_id, "interrupted" if summary.interrupted else "finished")
    return summary


def make_task(job: JobSpec) -> Task:
    """Read the job's files (the driver's side of 'inputs travel as bytes')."""
    files = [_read(job.content, str(job.content))] + [_read(style_file(s), s) for s in job.styles]
    return Task(job.kind, files[0], tuple(files[1:]), job.settings, Path(job.name).suffix.lower())


def _read(path: Path, label: str) -> InputFile:
    try:
        return InputFile(label, path.read_bytes())
    except FileNotFoundError:
        raise PainterlyError(f"{label}: no such file") from None
    except OSError as err:
        raise PainterlyError(f"{label}: cannot read it ({err.strerror or type(err).__name__})") from None


def _write(table: JobTable, job: JobSpec, result: TaskResult, folder: Path, summary: Summary, on_event: Callable[[BatchEvent], None]) -> None:
    from ..io import save_bytes

    try:
        save_bytes(result.data, folder / job.name, protect=job.input_files())
    except PainterlyError as err:
        _failed(table, summary, on_event, job.name, str(err), result.worker)
        return
    table.finish(job.name, hashlib.sha256(result.data).hexdigest(), result.seconds, result.worker)
    summary.done += 1
    on_event(BatchEvent("done", job.name, result.worker, seconds=result.seconds))


def _failed(table: JobTable, summary: Summary, on_event: Callable[[BatchEvent], None], name: str, error: str, worker: str) -> None:
    table.fail(name, error, final=True)
    summary.failed += 1
    summary.failures.append((name, error))
    on_event(BatchEvent("failed", name, worker, error))


def _changed_output(path: Path, recorded: str | None) -> str:
    if not path.is_file():
        return "its picture was missing"
    if file_sha256(path) != recorded:
        return "its picture had changed"
    return ""
