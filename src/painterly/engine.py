"""The image-optimisation loop: one place where pixels are changed by gradient descent.

Style transfer, feature inversion and DeepDream all call :func:`optimize_image` with their own
objective. The loop emits a :class:`StepEvent` after every step to the callbacks it was given;
progress bars, snapshots, previews and early stopping are callbacks. A callback that returns True
asks the run to stop. Ctrl-C (KeyboardInterrupt) also ends the run, with the best image so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from .progress import Progress

Objective = Callable[[Tensor], tuple[Tensor, Mapping[str, Tensor]]]
"""image (1,3,H,W) -> (total loss, named loss terms for display)."""

OPTIMIZERS = ("lbfgs", "adam")
StopReason = Literal["finished", "callback", "interrupted"]


@dataclass(frozen=True, kw_only=True)
class StepEvent(Progress):
    """What the loop reports after each step. ``image()`` returns a copy of the current iterate.

    ``step`` counts over all levels of a run and ``total`` is the steps planned for the whole run."""

    loss: float
    size: tuple[int, int]  # (H, W) of the image being optimised
    level: int = 0  # pyramid level (0-based) and number of levels
    levels: int = 1
    _image: Callable[[], Tensor] = field(default=lambda: torch.empty(0), repr=False)

    def image(self) -> Tensor:
        return self._image()


Callback = Callable[[StepEvent], "bool | None"]


@dataclass
class OptimizeResult:
    image: Tensor  # the iterate with the lowest loss seen, (1,3,H,W) on the run's device
    loss: float
    steps: int  # steps taken in this call
    stopped: StopReason
    history: list[float]


@dataclass
class RunClock:
    """Shared by the levels of one run so step numbers and elapsed time continue across levels."""

    total: int
    step: int = 0
    start: float = field(default_factory=time.perf_counter)
    level: int = 0
    levels: int = 1
    work_total: float = 0.0  # the run's cost in any unit (0: every step costs the same)
    work: float = 0.0  # cost of the steps done so far
    step_work: float = 1.0  # cost of one step of the current level

    def advance(self) -> float:
        """Count one step; return the fraction of the run's work done."""
        self.step += 1
        self.work += self.step_work
        if self.work_total:
            return min(1.0, self.work / self.work_total)
        return min(1.0, self.step / max(1, self.total))


def make_optimizer(name: str, params: list[Tensor], lr: float | None) -> torch.optim.Optimizer:
    """L-BFGS takes one iteration per step (its history persists across steps); Adam a plain step."""
    if name == "lbfgs":
        # No line search, unit step as in neural-style: one objective evaluation per step, so a step
        # costs what a forward+backward costs.
        return torch.optim.LBFGS(params, lr=lr or 1.0, max_iter=1, history_size=10)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr or 0.02)
    raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")


def optimize_image(
    objective: Objective,
    init: Tensor,
    *,
    iterations: int,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    callbacks: Iterable[Callback] = (),
    clock: RunClock | None = None,
    value_range: tuple[float, float] | None = (0.0, 1.0),
    average: float = 0.0,
) -> OptimizeResult:
    """Minimise ``objective`` over the pixels of a copy of ``init`` for ``iterations`` steps.

    The caller's tensor is never modified. Pixels are clamped to ``value_range`` after each step
    (projected gradient descent), so L-BFGS and Adam both stay in the displayable range.

    ``average`` > 0 keeps an exponential moving average of the iterates with that decay (Polyak
    averaging) and returns it instead of the best iterate: it cancels pixel values that
    oscillate from step to step, which the loss of a single iterate does not see.
    """
    callbacks = list(callbacks)
    clock = clock or RunClock(total=iterations)
    image = init.detach().clone().requires_grad_(True)
    opt = make_optimizer(optimizer, [image], lr)
    best: dict[str, Any] = {"loss": float("inf"), "image": image.detach().clone(), "terms": {}}
    history: list[float] = []
    mean = IterateAverage(average, image) if average > 0 else None

    def closure() -> Tensor:
        opt.zero_grad(set_to_none=True)
        loss, terms = objective(image)
        loss.backward()
        value = float(loss.detach())
        # The loss is measured at the current pixels before they move, so this is exact bookkeeping.
        if value < best["loss"]:
            best.update(loss=value, image=image.detach().clone())
        best["terms"] = {k: float(v.detach()) for k, v in terms.items()}
        best["last"] = value
        return loss

    stopped: StopReason = "finished"
    steps = 0
    try:
        for _ in range(iterations):
            opt.step(closure)  # type: ignore[arg-type]  # torch's stub says float; the optimizers take a Tensor
            if value_range is not None:
                with torch.no_grad():
                    image.clamp_(*value_range)
            if mean is not None:
                mean.update(image)
            steps += 1
            progress = clock.advance()
            history.append(best["last"])
            event = StepEvent(
                step=clock.step,
                total=clock.total,
                loss=best["last"],
                terms=best["terms"],
                elapsed=time.perf_counter() - clock.start,
                size=(image.shape[-2], image.shape[-1]),
                level=clock.level,
                levels=clock.levels,
                progress=progress,
                _image=lambda: mean.value() if mean is not None else image.detach().clone(),
            )
            # A list, not a generator: every callback sees every step even when an earlier one asks to stop.
            if any([bool(cb(event)) for cb in callbacks]):  # noqa: C419
                stopped = "callback"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
    if mean is not None and steps:
        with torch.no_grad():
            averaged = mean.value()
            return OptimizeResult(averaged, float(objective(averaged)[0]), steps, stopped, history)
    if stopped != "interrupted":
        # Score the final iterate too: the last step's move has not been evaluated yet.
        with torch.no_grad():
            final_loss = float(objective(image)[0])
        if final_loss < best["loss"]:
            best.update(loss=final_loss, image=image.detach().clone())
    return OptimizeResult(
        image=best["image"],
        loss=best["loss"],
        steps=steps,
        stopped=stopped,
        history=history,
    )


class IterateAverage:
    """Bias-corrected exponential moving average of the iterates (as Adam corrects its moments).

    Without the correction the average would lean towards the first iterate for ~1/(1-decay)
    steps; with it, after one step it equals that step's iterate.
    """

    def __init__(self, decay: float, like: Tensor) -> None:
        self.decay = decay
        self.sum = torch.zeros_like(like, requires_grad=False)
        self.weight = 0.0

    def update(self, image: Tensor) -> None:
        with torch.no_grad():
            self.sum.mul_(self.decay).add_(image.detach(), alpha=1 - self.decay)
        self.weight = self.decay * self.weight + (1 - self.decay)

    def value(self) -> Tensor:
        return (self.sum / self.weight).detach()
