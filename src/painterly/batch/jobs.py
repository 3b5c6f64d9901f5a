"""What a batch is made of: one job per picture, planned from a grid of photos x styles.

A job is an optimisation (``stylize``: a photo and one or more paintings, :class:`StyleParams`) or
a fast style (``fast``: a photo and a trained style, :class:`ApplySettings`). Its *fingerprint*
covers the bytes of its inputs and every setting, so a changed photo or setting makes a new job
while an unchanged one is recognised as done.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from ..fast.library import shipped_styles
from ..fast.settings import SUFFIX as STYLE_SUFFIX, ApplySettings
from ..images import image_files
from ..io import SUPPORTED_OUTPUT_SUFFIXES
from ..params import INITS, StyleParams
from ..suggest import unknown_name_message

KINDS = ("stylize", "fast")


@dataclass(frozen=True)
class JobSpec:
    """One picture to paint: ``name`` is the output file, relative to the batch's folder."""

    name: str
    kind: str  # "stylize" or "fast"
    content: Path
    styles: tuple[str, ...]  # stylize: image paths; fast: one shipped style name or .painterly path
    settings: dict[str, Any]  # StyleParams or ApplySettings as a dict

    def input_files(self) -> list[Path]:
        """The files this job reads (a shipped fast style is read from painterly's own folder)."""
        return [self.content, *(style_file(s) for s in self.styles)]

    def describe(self) -> dict[str, Any]:
        """What the job table records: enough to see, and to redo, how the picture was made."""
        return {"kind": self.kind, "content": str(self.content), "styles": list(self.styles), "settings": self.settings}


@dataclass(frozen=True)
class Defaults:
    """Settings every job starts from (the command's options); manifest rows may change them."""

    style: StyleParams
    fast: ApplySettings
    suffix: str = ".png"

    def for_kind(self, kind: str) -> StyleParams | ApplySettings:
        return self.style if kind == "stylize" else self.fast


def style_kind(item: str) -> str:
    """'fast' for a shipped style name or a .painterly file, 'stylize' for an image."""
    return "fast" if item in shipped_styles() or item.endswith(STYLE_SUFFIX) else "stylize"


def style_file(item: str) -> Path:
    return shipped_styles().get(item) or Path(item)


def expand_contents(items: Sequence[str]) -> list[Path]:
    """Photos from files and folders (folders: their image files, recursively, sorted)."""
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            images = image_files(path)
            if not images:
                raise ParameterError(f"contents: no image files in {path}")
            found += images
        elif path.is_file():
            found.append(path)
        else:
            raise ParameterError(f"contents: {path}: no such file or folder")
    return found


def expand_styles(items: Sequence[str]) -> list[str]:
    """Paintings (image files, folders of them) and fast styles (shipped names, .painterly files)."""
    shipped = shipped_styles()
    found: list[str] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            styles = [str(p) for p in image_files(path)] + [str(p) for p in image_files(path, (STYLE_SUFFIX,))]
            if not styles:
                raise ParameterError(f"styles: no image or {STYLE_SUFFIX} files in {path}")
            found += styles
        elif path.is_file() or item in shipped:
            found.append(item)
        elif item.endswith(STYLE_SUFFIX) or os.sep in item or path.suffix:
            raise ParameterError(f"styles: {item}: no such file or folder")
        else:
            raise ParameterError("styles: " + unknown_name_message("fast style", item, shipped) + " (or give an image, a folder or a .painterly file)")
    return found


def grid(contents: Sequence[Path], styles: Sequence[str], defaults: Defaults) -> list[JobSpec]:
    """Every photo in every style, named ``PHOTO__STYLE.png`` (the suffix of ``--format``)."""
    jobs = []
    for content in contents:
        for style in styles:
            kind = style_kind(style)
            name = f"{_stem(content)}__{_stem(style)}{defaults.suffix}"
            jobs.append(JobSpec(name, kind, content, (style,), job_settings(defaults.for_kind(kind))))
    check_plan(jobs)
    return jobs


def check_plan(jobs: Sequence[JobSpec]) -> None:
    """Refuse, before any work, two jobs writing one file and output names that leave the folder."""
    seen: dict[str, JobSpec] = {}
    for job in jobs:
        check_output_name(job.name)
        key = job.name.lower()  # case-insensitive file systems would make these one file
        if key in seen:
            other = seen[key]
            raise ParameterError(
                f"output {job.name}: two jobs would write it ({_label(other)} and {_label(job)}); "
                "rename a photo or give outputs in a manifest"
            )
        seen[key] = job


def check_output_name(name: str) -> None:
    path = Path(name)
    if not name or path.is_absolute() or ".." in path.parts or name.startswith("."):
        raise ParameterError(f"output {name!r}: must be a file name inside the output folder")
    if path.suffix.lower() not in SUPPORTED_OUTPUT_SUFFIXES:
        raise ParameterError(f"output {name}: unsupported format {path.suffix!r}; use .png, .jpg, .webp or .tif")


def fingerprint(job: JobSpec, file_hashes: dict[Path, str]) -> str:
    """sha256 over the kind, the inputs' bytes (by their hashes) and the settings, as canonical JSON."""
    record = {
        "kind": job.kind,
        "inputs": [file_hashes[p] for p in job.input_files()],
        "settings": job.settings,
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def hash_files(paths: Iterable[Path]) -> dict[Path, str]:
    """sha256 of each distinct file; a file that cannot be read hashes to its error, so its job fails alone."""
    hashes: dict[Path, str] = {}
    for path in paths:
        if path not in hashes:
            hashes[path] = file_sha256(path)
    return hashes


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as err:
        return f"unreadable: {err.strerror or type(err).__name__}"
    return digest.hexdigest()


def job_settings(params: StyleParams | ApplySettings) -> dict[str, Any]:
    params.validate()
    if isinstance(params, StyleParams) and params.init not in INITS:
        # Workers get the job's bytes, not paths: a start image would be one more input to ship.
        raise ParameterError(f"init: {params.init!r}: a batch starts from {', '.join(INITS)}, not from an image file")
    return dataclasses.asdict(params)


def _stem(item: str | Path) -> str:
    name = Path(item).name
    return name[: -len(STYLE_SUFFIX)] if name.endswith(STYLE_SUFFIX) else Path(name).stem


def _label(job: JobSpec) -> str:
    return f"{job.content} x {', '.join(job.styles)}"
