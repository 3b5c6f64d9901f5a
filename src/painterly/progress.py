"""The one event every long run reports after each unit of work, read by the CLI's progress bar."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Progress:
    """An optimisation step (engine.StepEvent), a training step (fast.train.TrainEvent) or a video
    frame (fast.video.VideoProgress): each is this, plus what only its kind of run has.

    ``progress`` is the fraction of the run's work done (0 when the run does not say): a pyramid's
    steps cost in proportion to their pixels, so a time-left estimate follows it, not step / total.
    """

    step: int  # 1-based
    total: int  # planned (0 when unknown, e.g. a video container that does not say)
    loss: float | None = None
    terms: Mapping[str, float] = field(default_factory=dict)  # named loss terms, for display
    elapsed: float = 0.0  # seconds since the run started
    progress: float = 0.0
    stage: str = ""  # what is being counted, when not the run's own steps (e.g. "teacher": photos painted first)
