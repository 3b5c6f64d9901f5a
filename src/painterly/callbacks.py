"""Reusable callbacks for :func:`painterly.engine.optimize_image`. None of them prints or writes files."""

from __future__ import annotations

from collections.abc import Callable

from .engine import StepEvent


class EarlyStopping:
    """Stop when the loss has not improved by ``min_delta`` (relative) for ``patience`` steps.

    Pyramid levels restart the count: a new level changes the loss scale.
    """

    def __init__(self, patience: int = 50, min_delta: float = 1e-3):
        if patience < 1:
            raise ValueError("patience must be at least 1")
        self.patience = patience
        self.min_delta = min_delta
        self._best = float("inf")
        self._since = 0
        self._level = -1

    def __call__(self, event: StepEvent) -> bool:
        if event.level != self._level:
            self._level, self._best, self._since = event.level, float("inf"), 0
        if event.loss < self._best * (1.0 - self.min_delta):
            self._best, self._since = event.loss, 0
            return False
        self._since += 1
        return self._since >= self.patience and event.level == event.levels - 1


class EveryNSteps:
    """Call ``action(event)`` every ``n`` steps (e.g. to save a snapshot)."""

    def __init__(self, n: int, action: Callable[[StepEvent], object]):
        if n < 1:
            raise ValueError("n must be at least 1")
        self.n = n
        self.action = action

    def __call__(self, event: StepEvent) -> None:
        if event.step % self.n == 0:
            self.action(event)
