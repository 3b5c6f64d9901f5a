"""Planning the outputs of `fast apply` over files and folders: mirror trees, skip finished work."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ParameterError
from ..images import IMAGE_SUFFIXES, WRITABLE_SUFFIXES, image_files
from ..outputs import file_identity

# Inputs painterly can read but not write (GIF, BMP, ...) are written as PNG unless --format says otherwise.
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path
    done: bool  # the target exists and is newer than the source: nothing to do

    @property
    def is_video(self) -> bool:
        return is_video(self.source)


def plan_jobs(inputs: Iterable[str | os.PathLike], output: str | os.PathLike, image_suffix: str | None = None) -> list[Job]:
    """One job per input file; folders are walked and their tree mirrored under ``output``.

    A single file input with an output that has a file suffix writes exactly there; otherwise
    ``output`` is a folder and each result keeps its name (images may change suffix to
    ``image_suffix``). Files that are neither images nor videos inside folders are ignored.
    """
    paths = [Path(p) for p in inputs]
    out = Path(output)
    for path in paths:
        if not path.exists():
            raise ParameterError(f"{path}: no such file or folder")
    if len(paths) == 1 and paths[0].is_file() and not out.is_dir() and (out.suffix or out.exists()):
        # One file to one named output: an existing non-folder (even /dev/full) is that output.
        return [_job(paths[0], out)]
    if out.exists() and not out.is_dir():
        raise ParameterError(f"{out}: several inputs or a folder need an output folder, and this is a file")
    jobs = []
    for path in paths:
        if path.is_dir():
            for source in sorted(_media_files(path)):
                jobs.append(_job(source, _renamed(out / source.relative_to(path.parent), image_suffix)))
        else:
            jobs.append(_job(path, _renamed(out / path.name, image_suffix)))
    _refuse_overwriting_inputs(jobs)
    _refuse_shared_targets(jobs)
    return jobs


def _media_files(folder: Path) -> Iterable[Path]:
    return image_files(folder, IMAGE_SUFFIXES + VIDEO_SUFFIXES)


def _renamed(target: Path, image_suffix: str | None) -> Path:
    if is_video(target):
        return target
    if image_suffix:
        return target.with_suffix(image_suffix)
    if target.suffix.lower() not in WRITABLE_SUFFIXES:
        return target.with_suffix(".png")
    return target


def _job(source: Path, target: Path) -> Job:
    done = target.exists() and target.stat().st_mtime >= source.stat().st_mtime
    return Job(source, target, done)


def _refuse_overwriting_inputs(jobs: list[Job]) -> None:
    # By (device, inode) for files that exist (symlinks, hard links), by path for the rest.
    sources = {file_identity(job.source) for job in jobs} | {Path(os.path.abspath(job.source)) for job in jobs}
    for job in jobs:
        if (file_identity(job.target) or Path(os.path.abspath(job.target))) in sources:
            raise ParameterError(f"{job.target}: the output would overwrite an input; choose another output folder")


def _refuse_shared_targets(jobs: list[Job]) -> None:
    """a.gif and a.png (or a.jpg with --format .png) would both become a.png: say so, write neither."""
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.target in seen:
            raise ParameterError(
                f"{job.target}: both {seen[job.target]} and {job.source} would be written here; "
                "rename one, or choose --format"
            )
        seen[job.target] = job.source
