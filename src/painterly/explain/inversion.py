"""What a layer keeps of an image: reconstructions from noise (Gatys et al. 2015, Fig. 1).

Content: optimise an image whose features at one layer match the photo's; shallow layers give
the photo back almost exactly, deep ones keep the layout and lose the pixels. Style: match the
Gram matrices of the first 1, 2, … layers; the more layers, the larger the textures that come
back, with no layout at all. Every reconstruction starts from the same seeded noise and runs
through :func:`painterly.engine.optimize_image` with the losses of :mod:`painterly.losses`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

import torch
from torch import Tensor

from .. import losses
from ..backbones import Backbone
from ..engine import Callback, Objective, RunClock, StopReason, optimize_image
from ..errors import ParameterError
from ..params import DEFAULT_MODEL
from .common import (
    ImageLike,
    as_image,
    check_size,
    device_of,
    get_backbone,
    label_of,
    name_of,
    prepared,
    seeded_noise,
)
from .defaults import INVERT, INVERT_LAYERS


@dataclass
class Reconstruction:
    kind: Literal["content", "style"]
    layers: tuple[str, ...]
    image: Tensor  # (1, 3, H, W) on the CPU, in [0, 1]
    start_loss: float  # objective at the noise it started from
    loss: float  # objective of the returned image
    steps: int


@dataclass
class InversionResult:
    image: Tensor  # the photo as the network saw it (content target), (1, 3, H, W)
    style_image: Tensor  # the style target (the same photo unless another was given)
    content: list[Reconstruction] = field(default_factory=list)
    style: list[Reconstruction] = field(default_factory=list)
    model: str = ""
    labels: tuple[str, str] = ("image", "image")
    stopped: StopReason = "finished"
    elapsed: float = 0.0

    def sheet(self, cell: int = INVERT.cell) -> Tensor:
        """Contact sheet: top row content of each layer, bottom row style of growing layer sets."""
        from .sheet import inversion_sheet

        return inversion_sheet(self, cell=cell)


def invert(
    image: ImageLike,
    *,
    style_image: ImageLike | None = None,
    model: str | Backbone = DEFAULT_MODEL,
    size: int = INVERT.size,
    content_layers: Sequence[str] | None = None,
    style_layers: Sequence[str] | None = None,
    iterations: int = INVERT.iterations,
    optimizer: str = INVERT.optimizer,
    tv_weight: float = INVERT.tv_weight,
    seed: int = INVERT.seed,
    device: str | torch.device = "auto",
    callbacks: Iterable[Callback] = (),
) -> InversionResult:
    """Reconstruct ``image`` from noise out of each content layer and each growing set of style layers.

    ``style_image`` (default: ``image``) is the picture whose style is reconstructed. ``size`` is
    the long side in pixels. ``tv_weight`` weighs a smoothness prior on the content
    reconstructions (0: none, as in the paper). A callback that stops the run (or Ctrl-C) ends it after the current
    reconstruction; the result then holds the ones finished so far.
    """
    check_size(size)
    if iterations < 1:
        raise ParameterError(f"iterations: must be at least 1, got {iterations}")
    if tv_weight < 0:
        raise ParameterError(f"tv_weight: must be >= 0, got {tv_weight}")
    name = model.name if isinstance(model, Backbone) else model
    default_content, default_style = INVERT_LAYERS.get(name, (None, None))
    content_layers = list(content_layers or default_content or [])
    style_layers = list(style_layers or default_style or [])
    if not content_layers or not style_layers:
        raise ParameterError(f"{name}: give content_layers and style_layers (no defaults for this backbone)")
    net = get_backbone(model, device, [*content_layers, *style_layers])
    dev = device_of(net)

    start = time.perf_counter()
    photo = prepared(as_image(image, "image"), size, 1, name_of(image, "image")).to(dev)
    art = photo if style_image is None else prepared(
        as_image(style_image, "style image"), size, 1, name_of(style_image, "style image")).to(dev)
    runs = len(content_layers) + len(style_layers)
    clock = RunClock(total=iterations * runs, start=start, levels=runs)
    result = InversionResult(
        image=photo.cpu(), style_image=art.cpu(), model=net.name,
        labels=(label_of(image, "image"), label_of(style_image, "style image") if style_image is not None
                else label_of(image, "image")),
    )
    jobs: list[tuple[Literal["content", "style"], tuple[str, ...]]] = [("content", (layer,)) for layer in content_layers]
    jobs += [("style", tuple(style_layers[: n + 1])) for n in range(len(style_layers))]
    for level, (kind, layers) in enumerate(jobs):
        clock.level = level
        target = photo if kind == "content" else art
        # The smoothness prior is for content only: style reconstructions are textures, and TV
        # would blur exactly the fine strokes they should show.
        if kind == "content":
            objective = content_objective(net, target, layers, tv_weight)
        else:
            objective = style_objective(net, target, layers)
        init = seeded_noise(tuple(target.shape), seed, dev)
        run = optimize_image(objective, init, iterations=iterations, optimizer=optimizer,
                             callbacks=callbacks, clock=clock)
        rec = Reconstruction(kind, layers, run.image.detach().cpu(), run.history[0] if run.history else run.loss,
                             run.loss, run.steps)
        (result.content if kind == "content" else result.style).append(rec)
        if run.stopped != "finished":
            result.stopped = run.stopped
            break
    result.elapsed = time.perf_counter() - start
    return result


def content_objective(net: Backbone, target: Tensor, layers: Sequence[str], tv_weight: float = 0.0) -> Objective:
    """Relative squared error of the features at ``layers`` (plus an optional TV prior)."""
    layers = list(layers)
    with torch.no_grad():
        loss = losses.ContentLoss(net(target, layers), dict.fromkeys(layers, 1.0))
    return _feature_objective(net, layers, "content", loss, tv_weight)


def style_objective(net: Backbone, target: Tensor, layers: Sequence[str], tv_weight: float = 0.0) -> Objective:
    """Mean relative squared error of the Gram matrices at ``layers`` (plus an optional TV prior)."""
    layers = list(layers)
    with torch.no_grad():
        grams = {n: losses.gram_matrix(f) for n, f in net(target, layers).items()}
    loss = losses.StyleLoss(grams, dict.fromkeys(layers, 1.0))
    return _feature_objective(net, layers, "style", loss, tv_weight)


def _feature_objective(
    net: Backbone, layers: list[str], name: str, loss: Callable[[dict[str, Tensor]], Tensor], tv_weight: float
) -> Objective:
    """image -> (total, terms): ``loss`` of the features at ``layers``, plus the optional TV prior."""

    def objective(image: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        terms = {name: loss(net(image, layers))}
        if tv_weight:
            terms["tv"] = tv_weight * losses.tv_loss(image)
        return cast(Tensor, sum(terms.values())), terms

    return objective
