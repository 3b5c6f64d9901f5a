"""`painterly batch`: many paintings in one command, resumable, on this machine or a Ray cluster.

    painterly batch --contents photos/ --styles paintings/ starry-night -o out/
    painterly batch --manifest jobs.csv -o out/ --ray auto
    painterly batch status out/
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..images import FORMAT_CHOICES
from ..params import StyleParams
from .common import (
    EXIT_INTERRUPTED,
    EXIT_SOME_FAILED,
    Subparsers,
    add_dataclass_options,
    dataclass_from_args,
    sigterm_as_interrupt,
)

if TYPE_CHECKING:
    from ..batch.database import JobTable
    from ..batch.jobs import JobSpec
    from ..batch.runner import BatchEvent, Executor, Plan, Summary

# Options of `fast apply` that batch shares with stylize's (--size, --strength, ...) are not repeated.
SHARED_WITH_STYLE = ("size", "strength", "preserve_colors", "device", "tile_size")


def register(subparsers: Subparsers) -> None:
    from ..fast.settings import ApplySettings

    parser = subparsers.add_parser(
        "batch", help="paint many photos in many styles; resumable; local processes or a Ray cluster",
        description="Paint every photo of --contents in every style of --styles (paintings, folders of "
        "them, fast style names or .painterly files), or the jobs of a --manifest, into OUTDIR. A job "
        "table in OUTDIR makes a rerun skip finished pictures. `painterly batch status OUTDIR` shows progress.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--contents", nargs="+", metavar="PHOTO", help="photos or folders of photos")
    parser.add_argument("--styles", nargs="+", metavar="STYLE", help="paintings, folders, fast style names or .painterly files")
    parser.add_argument("--manifest", metavar="FILE", help="jobs as CSV or JSON lines: content, style, output, settings")
    parser.add_argument("-o", "--output", metavar="OUTDIR", help="folder for the pictures and the job table")
    parser.add_argument("--format", default=".png", choices=FORMAT_CHOICES, help="file type of the pictures")
    parser.add_argument("--workers", type=int, help="worker processes (local; default 1, using every core) or actors (Ray; default: as many as fit)")
    parser.add_argument("--threads", type=int, help="torch threads per local worker (default: cores / workers)")
    parser.add_argument("--retries", type=int, default=2, help="more attempts for a job whose worker died or crashed")
    parser.add_argument("--ray", metavar="ADDRESS", help="run on a Ray cluster: auto (started on this machine) or HOST:PORT")
    parser.add_argument("--ray-cpus-per-worker", type=float, default=1.0, help="CPUs each Ray actor reserves (its torch threads)")
    parser.add_argument("--ray-gpus-per-worker", type=float, default=0.0, help="GPUs each Ray actor reserves (use with --device cuda)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    add_dataclass_options(parser, StyleParams)
    add_dataclass_options(parser, ApplySettings, skip=SHARED_WITH_STYLE)
    commands = parser.add_subparsers(dest="batch_command", metavar="status")
    status = commands.add_parser("status", help="progress of a running or past batch")
    status.add_argument("folder", metavar="OUTDIR")
    status.add_argument("--jobs", action="store_true", help="one line per job, with its settings")
    status.set_defaults(handler=run_status)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..batch.database import open_table
    from ..batch.runner import plan as plan_jobs
    from ..errors import ParameterError

    jobs = _jobs(args)
    folder = Path(args.output)
    _check_outputs(jobs, folder)
    executor_args = _executor_args(args)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ParameterError(f"output: {folder}: cannot create the folder ({err.strerror})") from None
    with _exclusive(folder):
        table = open_table(folder)
        try:
            plan = plan_jobs(jobs, table, folder)
            return _paint(plan, table, folder, executor_args, args)
        finally:
            table.close()


def _jobs(args: argparse.Namespace) -> list[JobSpec]:
    from ..batch.jobs import Defaults, expand_contents, expand_styles, grid
    from ..batch.manifest import read_manifest
    from ..errors import ParameterError
    from ..fast.settings import ApplySettings

    if not args.output:
        raise ParameterError("output: give the output folder with -o OUTDIR")
    if args.manifest and (args.contents or args.styles):
        raise ParameterError("manifest: give either --manifest or --contents with --styles, not both")
    if not args.manifest and not (args.contents and args.styles):
        raise ParameterError("contents, styles: give --contents and --styles (or a --manifest)")
    style = dataclass_from_args(StyleParams, args).validate()
    fast = ApplySettings(
        size=args.size, strength=args.strength, preserve_colors=args.preserve_colors, device=args.device, runtime=args.runtime,
    ).validate()
    defaults = Defaults(style, fast, args.format)
    if args.manifest:
        return read_manifest(args.manifest, defaults)
    return grid(expand_contents(args.contents), expand_styles(args.styles), defaults)


def _check_outputs(jobs: list[JobSpec], folder: Path) -> None:
    """Before any work: the folder is a folder, no picture would overwrite an input or a file
    that an earlier batch in this folder did not paint."""
    from ..batch.database import DB_NAME, open_table
    from ..errors import ParameterError
    from ..io import check_output_path

    if folder.exists() and not folder.is_dir():
        raise ParameterError(f"output: {folder} is a file; give a folder")
    inputs = {p for job in jobs for p in job.input_files()}
    ours: set[str] = set()
    if (folder / DB_NAME).is_file():
        table = open_table(folder, readonly=True)
        ours = {row.name for row in table.rows()}
        table.close()
    for job in jobs:
        check_output_path(folder / job.name, protect=inputs)
        if job.name not in ours and (folder / job.name).exists():
            raise ParameterError(f"output {folder / job.name}: exists and was not painted by a batch here; move it or choose another folder")


def _executor_args(args: argparse.Namespace) -> dict:
    from ..errors import ParameterError

    for name, minimum in (("workers", 1), ("threads", 1), ("retries", 0)):
        value = getattr(args, name)
        if value is not None and value < minimum:
            raise ParameterError(f"{name}: {value} is below the minimum {minimum}")
    if not args.ray_cpus_per_worker > 0 or not args.ray_gpus_per_worker >= 0:
        raise ParameterError("ray_cpus_per_worker, ray_gpus_per_worker: give more than 0 CPUs and 0 or more GPUs")
    return {"ray": args.ray, "workers": args.workers, "threads": args.threads,
            "cpus": args.ray_cpus_per_worker, "gpus": args.ray_gpus_per_worker}


def _executor(options: dict) -> Executor:
    from ..batch.local import LocalExecutor, default_shape
    from ..errors import PainterlyError

    if options["ray"] is None:
        workers, threads = options["workers"], options["threads"]
        if workers is None and threads is None:
            workers, threads = default_shape(_cores())
        # One of them given: the other shares out the cores.
        return LocalExecutor(workers or max(1, _cores() // threads), threads or max(1, _cores() // workers))
    try:
        from ..batch.ray_executor import RayExecutor
    except ImportError:
        raise PainterlyError("ray: Ray is not installed; pip install 'painterly[ray]'") from None
    return RayExecutor(options["ray"], options["workers"], options["cpus"], options["gpus"])


def _paint(plan: Plan, table: JobTable, folder: Path, executor_options: dict, args: argparse.Namespace) -> int:
    from ..batch.runner import run_batch

    say = (lambda *a: None) if args.quiet else (lambda text: print(text, file=sys.stderr))
    for name, why in plan.reopened:
        say(f"painting {name} again: {why}")
    if not plan.todo:
        say(f"all {plan.already_done} pictures in {folder} are done")
        return _exit_code(table, plan)
    start = time.perf_counter()
    bar = None if args.quiet else _bar(len(plan.todo))
    write = (lambda text: bar.write(text, file=sys.stderr)) if bar else say

    def on_event(event: BatchEvent) -> None:
        if event.kind == "failed":
            write(f"failed: {event.name}: {event.error}")
        elif event.kind == "retry":
            write(f"retrying {event.name}: {event.error}")
        elif bar is not None and event.kind == "done":
            bar.update(1)
        if bar is not None and event.kind == "failed":
            bar.update(1)

    executor = None
    try:
        with sigterm_as_interrupt():
            executor = _executor(executor_options)
            if bar is not None:
                bar.set_description(executor.description)
            summary = run_batch(plan, table, executor, folder, retries=args.retries, on_event=on_event)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        counts = _counts(table, plan)
        print(f"interrupted: {counts['done']} of {len(plan.jobs)} pictures done; run the same command again to continue",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        _print_summary(table, plan, folder, time.perf_counter() - start, summary)
    return _exit_code(table, plan)


def _bar(total: int) -> Any:  # a tqdm bar
    from tqdm import tqdm

    return tqdm(total=total, unit="picture", dynamic_ncols=True, file=sys.stderr)


def _counts(table: JobTable, plan: Plan) -> dict[str, int]:
    counts = {"pending": 0, "running": 0, "done": 0, "failed": 0}
    for row in table.rows(list(plan.jobs)):
        counts[row.state] += 1
    return counts


def _exit_code(table: JobTable, plan: Plan) -> int:
    return EXIT_SOME_FAILED if _counts(table, plan)["failed"] else 0


def _print_summary(table: JobTable, plan: Plan, folder: Path, seconds: float, summary: Summary) -> None:
    counts = _counts(table, plan)
    lines = [f"{'state':8s} {'pictures':>8s}"]
    for state in ("done", "failed", "pending"):
        note = f"  ({summary.already_done} before this run)" if state == "done" and summary.already_done else ""
        lines.append(f"{state:8s} {counts[state]:8d}{note}")
    lines.append(f"{summary.done} painted in {_duration(seconds)}, {summary.retried} retries -> {folder}")
    rows = [r for r in table.rows(list(plan.jobs)) if r.state == "failed"]
    lines += [f"  failed {r.name}: {r.error}" for r in rows]
    print("\n".join(lines), file=sys.stderr)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{seconds:.1f} s"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """One driver per folder: a second one would paint the same jobs and race on the table."""
    import fcntl

    from ..errors import ParameterError

    path = folder / ".painterly-batch.lock"
    try:
        handle = open(path, "a+")
    except OSError as err:
        raise ParameterError(f"output: {folder}: cannot write there ({err.strerror})") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise ParameterError(f"output: another batch (pid {handle.read().strip() or '?'}) is running in {folder}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


# -- status -----------------------------------------------------------------------------------


def run_status(args: argparse.Namespace) -> int:
    from ..batch.database import open_table

    folder = Path(args.folder)
    table = open_table(folder, readonly=True)
    try:
        rows = table.rows()
        run = table.last_run()
    finally:
        table.close()
    counts = {state: sum(r.state == state for r in rows) for state in ("done", "running", "pending", "failed")}
    live = run is not None and run["outcome"] is None and _alive(run["pid"])
    print(f"{folder}: {len(rows)} jobs: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    if run is not None:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run["started_at"]))
        state = "running now" if live else (run["outcome"] or "stopped without finishing")
        print(f"last run: {when}, {run['executor']}, {state}")
    seconds = [r.seconds for r in rows if r.state == "done" and r.seconds]
    if live and run is not None and seconds and run["slots"]:
        left = counts["pending"] + counts["running"]
        eta = left * (sum(seconds) / len(seconds)) / run["slots"]
        print(f"about {_duration(eta)} left ({sum(seconds) / len(seconds):.1f} s per picture, {run['slots']} workers)")
    for r in rows:
        if r.state == "running" and live:
            print(f"  running {r.name} on {r.worker} for {time.time() - (r.started_at or time.time()):.0f} s")
        elif r.state == "failed":
            print(f"  failed {r.name} after {r.attempts} attempts: {r.error}")
    if args.jobs:
        for r in rows:
            took = f"{r.seconds:.1f} s" if r.seconds else "-"
            print(f"{r.name}\t{r.state}\t{r.attempts}\t{took}\t{r.worker or '-'}\t{_settings_line(r.spec)}")
    return EXIT_SOME_FAILED if counts["failed"] else 0


def _settings_line(spec: dict) -> str:
    styles = "+".join(spec["styles"])
    settings = " ".join(f"{k}={v}" for k, v in spec["settings"].items() if v is not None)
    return f"{spec['kind']} {spec['content']} x {styles} {settings}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
