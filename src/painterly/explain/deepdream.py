"""DeepDream (Mordvintsev et al. 2015): make an image excite a layer, or one unit, even more.

Gradient ascent on the mean square of the activations, run with the shared loop
(:func:`painterly.engine.optimize_image`, which minimises, so the objective is negated) over
several octaves, small to large. Two parts of the classic recipe live in the objective, since the
loop knows nothing of them:
- jitter: every evaluation sees the image rolled by a random offset, which averages away the
  grid artefacts that strided convolutions would otherwise amplify;
- normalised gradients: the gradient reaching the pixels is divided by its mean magnitude, so
  every step moves the pixels by about the same amount whatever the layer's scale. (The loop's
  Adam rescales per pixel anyway; with normalised inputs its running moments weigh each step
  and each jitter offset equally, instead of letting a few large gradients dominate.)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor

from ..backbones import Backbone
from ..engine import Callback, Objective, RunClock, StopReason, optimize_image
from ..errors import ParameterError
from ..params import DEFAULT_MODEL
from .common import (
    MIN_SIDE,
    ImageLike,
    as_image,
    check_size,
    device_of,
    get_backbone,
    name_of,
    prepared,
)
from .defaults import DREAM

BASE_LR = 0.01  # Adam step at strength 1: about 2.5 of 255 grey levels per step


@dataclass
class DreamResult:
    image: Tensor  # (1, 3, H, W) on the CPU, in [0, 1]
    start_score: float  # mean squared activation of the input (no jitter)
    score: float  # the same for the result
    steps: int
    stopped: StopReason
    elapsed: float


class _NormaliseGrad(torch.autograd.Function):
    """Identity forward; backward divides the gradient by its mean absolute value."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad / (grad.abs().mean() + 1e-12)


def dream_score(net: Backbone, image: Tensor, layer: str, unit: int | None = None) -> Tensor:
    """Mean square of ``layer``'s activation (of channel ``unit`` only, if given): what dream raises."""
    act = net(image, [layer])[layer]
    if unit is not None:
        act = act[:, unit]
    return act.pow(2).mean()


def dream_objective(net: Backbone, layer: str, unit: int | None, jitter: int, seed: int = 0) -> Objective:
    """The negated score of a randomly rolled copy of the image, with normalised gradients."""
    generator = torch.Generator().manual_seed(seed)

    def objective(image: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=generator).tolist() if jitter else (0, 0)
        shifted = torch.roll(_NormaliseGrad.apply(image), shifts=(dy, dx), dims=(2, 3))
        score = dream_score(net, shifted, layer, unit)
        return -score, {"activation": score}

    return objective


def dream(
    image: ImageLike,
    layer: str,
    *,
    unit: int | None = None,
    model: str | Backbone = DEFAULT_MODEL,
    size: int = DREAM.size,
    octaves: int = DREAM.octaves,
    octave_scale: float = DREAM.octave_scale,
    steps: int = DREAM.steps,
    strength: float = DREAM.strength,
    jitter: int = DREAM.jitter,
    seed: int = DREAM.seed,
    device: str | torch.device = "auto",
    callbacks: Iterable[Callback] = (),
) -> DreamResult:
    """DeepDream ``image`` on ``layer`` (or one ``unit`` of it): ``steps`` per octave, ``octaves``
    sizes each ``octave_scale`` times the last, ending at ``size`` px on the long side.

    ``strength`` scales the step size; ``jitter`` is the largest random shift in pixels.
    """
    check_size(size)
    if octaves < 1 or steps < 1:
        raise ParameterError(f"octaves and steps must be at least 1, got {octaves} and {steps}")
    if not octave_scale > 1.0:
        raise ParameterError(f"octave_scale: must be above 1, got {octave_scale}")
    if not strength > 0:
        raise ParameterError(f"strength: must be above 0, got {strength}")
    if jitter < 0:
        raise ParameterError(f"jitter: must be >= 0, got {jitter}")
    net = get_backbone(model, device, [layer])
    channels = net.layers[layer].channels
    if unit is not None and not 0 <= unit < channels:
        raise ParameterError(
            f"unit: {unit} out of range; layer {layer} has {channels} units, numbered 0 to {channels - 1}")

    start = time.perf_counter()
    base = prepared(as_image(image, "image"), size, 1, name_of(image, "image")).to(device_of(net))
    # Smallest octave first; octaves too small for the network are dropped.
    shapes = []
    for k in reversed(range(octaves)):
        h, w = (round(s / octave_scale**k) for s in base.shape[-2:])
        if min(h, w) >= MIN_SIDE:
            shapes.append((h, w))
    clock = RunClock(total=steps * len(shapes), start=start, levels=len(shapes))
    detail = torch.zeros(1, 3, *shapes[0], device=base.device)
    result_image, stopped = base, cast(StopReason, "finished")
    for level, hw in enumerate(shapes):
        clock.level = level
        octave_base = _resize(base, hw).clamp(0, 1)
        # Carry what the smaller octaves added (the "detail"), not their blurred pixels.
        detail = _resize(detail, hw)
        run = optimize_image(
            dream_objective(net, layer, unit, jitter, seed + level),
            (octave_base + detail).clamp(0, 1),
            iterations=steps, optimizer="adam", lr=BASE_LR * strength, callbacks=callbacks, clock=clock,
        )
        result_image, stopped = run.image, run.stopped
        detail = run.image - octave_base
        if stopped != "finished":
            break
    if result_image.shape != base.shape:  # stopped early: its detail, on the full-size photo
        result_image = (base + _resize(detail, base.shape[-2:])).clamp(0, 1)
    with torch.no_grad():
        start_score = float(dream_score(net, base, layer, unit))
        score = float(dream_score(net, result_image, layer, unit))
    return DreamResult(result_image.detach().cpu(), start_score, score, clock.step, stopped,
                       time.perf_counter() - start)


def _resize(t: Tensor, hw: Sequence[int]) -> Tensor:
    # Signed detail images must not be clamped, so not io.resize_to; bilinear is enough here.
    size = (hw[0], hw[1])
    return t if tuple(t.shape[-2:]) == size else F.interpolate(t, size=size, mode="bilinear", align_corners=False)
