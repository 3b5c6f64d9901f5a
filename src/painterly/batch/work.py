"""What a worker does with one job: bytes in, bytes out, models kept loaded between jobs.

A :class:`Task` carries its input files' bytes and its settings, never paths, so a worker needs no
shared file system; it answers with the encoded picture. Both executors (local processes, Ray
actors) hold one :class:`Painter` per worker and call :func:`run_task`.
"""

from __future__ import annotations

import hashlib
import os
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import PainterlyError

if TYPE_CHECKING:
    from torch import Tensor

    from ..backbones import Backbone
    from ..params import StyleParams


@dataclass(frozen=True)
class InputFile:
    name: str  # shown in messages
    data: bytes


@dataclass(frozen=True)
class Task:
    kind: str  # "stylize" or "fast"
    content: InputFile
    styles: tuple[InputFile, ...]
    settings: dict[str, Any]
    suffix: str  # output format, e.g. ".png"


@dataclass(frozen=True)
class TaskResult:
    """``status``: ok (``data`` is the picture), error (bad input: retrying cannot help) or crash."""

    status: str
    data: bytes = b""
    error: str = ""
    seconds: float = 0.0
    worker: str = ""


class Painter:
    """Paints tasks; keeps each backbone and fast style it has loaded for the next task."""

    def __init__(self) -> None:
        self._backbones: dict[tuple[str, str, str], Any] = {}
        self._fast: dict[tuple[str, tuple], Any] = {}

    def paint(self, task: Task) -> Tensor:
        """The picture of ``task`` as a (1,3,H,W) tensor."""
        from ..io import image_from_bytes

        content = image_from_bytes(task.content.data, name=task.content.name)
        if task.kind == "stylize":
            return self._stylize(task, content)
        if task.kind == "fast":
            return self._fast_apply(task, content)
        raise PainterlyError(f"kind: unknown job kind {task.kind!r}")

    def _stylize(self, task: Task, content: Tensor) -> Tensor:
        from ..io import image_from_bytes
        from ..params import StyleParams
        from ..style_transfer import stylize

        params = StyleParams(**task.settings).validate()
        styles = [image_from_bytes(s.data, name=s.name) for s in task.styles]
        return stylize(content, styles, params, backbone=self._backbone(params)).image

    def _backbone(self, params: StyleParams) -> Backbone:
        from ..backbones import create_backbone
        from ..devices import resolve_device

        key = (params.model, params.device, params.pooling)
        if key not in self._backbones:
            self._backbones[key] = create_backbone(params.model, device=resolve_device(params.device), pooling=params.pooling)
        return self._backbones[key]

    def _fast_apply(self, task: Task, content: Tensor) -> Tensor:
        from ..fast.apply import FastStylizer
        from ..fast.model_file import style_from_bytes
        from ..fast.settings import ApplySettings
        from ..io import resize_long_side

        settings = ApplySettings(**task.settings).validate()
        (style_file,) = task.styles
        key = (hashlib.sha256(style_file.data).hexdigest(), tuple(sorted(task.settings.items())))
        if key not in self._fast:
            self._fast[key] = FastStylizer(
                style_from_bytes(style_file.data, style_file.name), runtime=settings.runtime, device=settings.device,
                strength=settings.strength, preserve_colors=settings.preserve_colors, tile_size=settings.tile_size,
            )
        if settings.size:
            content = resize_long_side(content, settings.size)
        return self._fast[key](content)


def run_task(painter: Painter, task: Task, worker: str) -> TaskResult:
    """Never raises for a job's own failure: the driver decides what to do with it."""
    from ..io import encode_image

    start = time.perf_counter()
    try:
        data = encode_image(painter.paint(task), task.suffix)
    except PainterlyError as err:
        return TaskResult("error", error=str(err), seconds=time.perf_counter() - start, worker=worker)
    except Exception as err:  # noqa: BLE001 - the worker must outlive any one job
        # A bug or an exhausted machine, not the job's inputs: worth another attempt elsewhere.
        where = traceback.extract_tb(err.__traceback__)[-1]
        detail = f"{type(err).__name__}: {' '.join(str(err).split())[:300]} ({os.path.basename(where.filename)}:{where.lineno})"
        return TaskResult("crash", error=detail, seconds=time.perf_counter() - start, worker=worker)
    return TaskResult("ok", data=data, seconds=time.perf_counter() - start, worker=worker)


def limit_threads(threads: int) -> None:
    """Torch threads of this worker process, so workers x threads fits the cores."""
    import torch

    torch.set_num_threads(max(1, threads))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set (only possible once per process, before parallel work)
        pass
