"""Style transfer (Gatys, Ecker & Bethge 2015) on top of the generic optimisation loop.

``stylize`` builds the perceptual objective (content + blended style + total variation) over a
frozen backbone and hands it to :func:`painterly.engine.optimize_image`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from . import losses, memory, shading, tiles
from .backbones import Backbone, create_backbone
from .colors import match_histogram, single_chroma, transfer_luminance, with_chroma
from .devices import resolve_device
from .engine import Callback, Objective, OptimizeResult, RunClock, StepEvent, StopReason, optimize_image
from .errors import ParameterError
from .images import MIN_SIDE, check_shape
from .io import load_image, long_side_shape, resize_long_side, resize_to
from .params import INITS, StyleParams, layers_or_default
from .pyramid import Level, Pyramid, tile_overlap

ImageLike = Tensor | str | os.PathLike


@dataclass
class StyleResult:
    image: Tensor  # (1,3,H,W) float32 on the CPU, sRGB in [0,1]
    loss: float
    steps: int
    stopped: StopReason
    history: list[float]
    elapsed: float


def stylize(
    content: ImageLike,
    styles: ImageLike | Sequence[ImageLike],
    params: StyleParams | None = None,
    *,
    callbacks: Iterable[Callback] = (),
    backbone: Backbone | None = None,
    masks: Sequence[ImageLike] | None = None,
) -> StyleResult:
    """Paint ``content`` in the style of ``styles``; tensors are (1,3,H,W) sRGB in [0,1], or paths.

    ``masks`` (optional, one per style) confine each style to a region: white is "this style",
    black is "not this style", grey values blend. Where no mask is white the photo stays as it is.
    """
    params = (params or StyleParams()).validate()
    style_list = [styles] if isinstance(styles, (Tensor, str, os.PathLike)) else list(styles)
    blend = _check_counts(style_list, masks, params)
    device = resolve_device(params.device)
    net = backbone or create_backbone(params.model, device=device, pooling=params.pooling)
    content_layers = layers_or_default(params.content_layers, net.default_content_layers, "content_layers")
    style_layers = layers_or_default(params.style_layers, net.default_style_layers, "style_layers")
    net.check_layers([*content_layers, *style_layers])

    start = time.perf_counter()
    inputs = _Inputs.load(content, style_list, masks, params)
    pyramid = Pyramid.plan((inputs.content.shape[-2], inputs.content.shape[-1]), params)
    clock = RunClock(total=pyramid.total_steps, start=start, levels=len(pyramid.levels), work_total=pyramid.total_work)
    run = _Run(net, device, params, content_layers, style_layers, blend, list(callbacks), clock)
    image: Tensor | None = None
    history: list[float] = []
    for level in pyramid.levels:
        clock.level, clock.step_work = level.index, level.step_cost
        clock.work += level.setup_cost  # done by the time the level's first step reports
        result = _paint_level(level, image, inputs, run)
        image, history = result.image, history + result.history
        if result.stopped != "finished":
            break
    assert image is not None
    return StyleResult(
        image=_finished(image, inputs, blend, params).detach().to("cpu", torch.float32),
        loss=result.loss,
        steps=clock.step,
        stopped=result.stopped,
        history=history,
        elapsed=time.perf_counter() - start,
    )


def _check_counts(style_list: list, masks: Sequence[ImageLike] | None, params: StyleParams) -> list[float]:
    """The blend weights, one per style; refuses a missing style or mismatched weights or masks."""
    if not style_list:
        raise ParameterError("styles: give at least one style image", field="styles")
    blend = params.style_weights or [1.0] * len(style_list)
    if len(blend) != len(style_list):
        raise ParameterError(f"style_weights: {len(blend)} weights for {len(style_list)} style images", field="style_weights")
    if masks is not None and len(masks) != len(style_list):
        raise ParameterError(f"masks: {len(masks)} masks for {len(style_list)} style images; give one per style", field="masks")
    return blend


@dataclass
class _Inputs:
    """The run's images at their source sizes, checked before the first step."""

    content: Tensor
    styles: list[Tensor]
    final_content: Tensor  # the content at the output size
    init: Tensor | None  # the --init image, when one is given
    masks: list[Tensor] | None  # (1,1,H,W) at the output size

    @classmethod
    def load(cls, content: ImageLike, style_list: list, masks: Sequence[ImageLike] | None, params: StyleParams) -> _Inputs:
        content_src = _checked(_as_image(content), params.size, _label(content, "content image"))
        style_srcs = [
            _checked(_as_image(s), _style_size(params, params.size), _label(s, f"style image {i + 1}"))
            for i, s in enumerate(style_list)
        ]
        _check_memory(content_src, style_srcs, params)
        final_content = resize_long_side(content_src, params.size)
        init_src = _init_source(params, final_content)
        mask_srcs = None if masks is None else [
            _mask(_as_image(m), final_content, _label(m, f"mask {i + 1}")) for i, m in enumerate(masks)
        ]
        if params.preserve_colors == "histogram":
            # Gatys et al. 2016, colour histogram matching: recolour the style to the photo's palette
            # before taking its statistics, so the painting keeps the photo's colours.
            style_srcs = [match_histogram(s, final_content) for s in style_srcs]
        return cls(content_src, style_srcs, final_content, init_src, mask_srcs)


@dataclass
class _Run:
    """What every level of one run shares."""

    net: Backbone
    device: torch.device
    params: StyleParams
    content_layers: dict[str, float]
    style_layers: dict[str, float]
    blend: list[float]
    callbacks: list[Callback]
    clock: RunClock


def _paint_level(level: Level, image: Tensor | None, inputs: _Inputs, run: _Run) -> OptimizeResult:
    """One pyramid level: its targets, its start (the level below, upsampled), its optimisation."""
    net, device, params, callbacks, clock = run.net, run.device, run.params, run.callbacks, run.clock
    content_img = resize_long_side(inputs.content, level.size).to(device)
    hw = level.hw
    style_imgs = [resize_long_side(s, _style_size(params, level.size)).to(device) for s in inputs.styles]
    masks = None if inputs.masks is None else [resize_to(m, hw).to(device) for m in inputs.masks]
    grams, colors, quantiles = _style_statistics(net, style_imgs, params, run.style_layers)
    shading_map = _shading_map(content_img, style_imgs, masks, run) if params.shading_weight else None
    targets = _Targets(grams, colors, quantiles, shading_map, level.size, run.blend, run.content_layers, run.style_layers)
    if image is None:
        init = _initial_image(params, content_img, inputs.init)
    else:
        # Coarse-to-fine: the previous level's result, upsampled, starts this level. The
        # optimizer state is restarted on purpose: L-BFGS curvature pairs don't survive resizing.
        init = resize_to(image, hw)
    if level.tiles > 1:
        return _refine_in_tiles(net, init, content_img, targets, params, masks, callbacks, clock, level.steps)
    margin = level.margin
    padded_masks = None if masks is None else [_pad(m, margin) for m in masks]
    objective = _build_objective(net, _pad(content_img, margin), targets, params, padded_masks, lambda t: _pad(t, margin))
    result = optimize_image(
        objective, _pad(init, margin), iterations=level.steps, optimizer=params.optimizer,
        lr=params.learning_rate, callbacks=_cropping(callbacks, margin), clock=clock, average=params.average,
    )
    result.image = _crop_margin(result.image, margin)
    return result


def _shading_map(content: Tensor, styles: list[Tensor], masks: list[Tensor] | None, run: _Run) -> Tensor:
    """The shading term's target for one level: the photo's blurred luminance in the painting's tones.

    Below full strength the tones move back toward the photo's own (at 0 the target is the photo).
    A blend of styles takes the weighted mean of their tones' quantile functions (as the palette
    does); with masks each region takes its own style's tones, and what no mask covers the photo's.
    """
    own = shading.tone_quantiles(content)
    tones = [run.params.strength * shading.tone_quantiles(s) + (1 - run.params.strength) * own for s in styles]
    if masks is None:
        return shading.shading_target(content, losses.blend_grams(tones, run.blend))
    coverage = torch.stack(masks).sum(0)  # masks are (1,1,H,W) at the level's size
    share = coverage.clamp_min(1.0)  # where masks overlap, they share the pixel
    mixed = sum((m / share * shading.shading_target(content, t) for m, t in zip(masks, tones)), torch.zeros(()))
    return mixed + (1 - coverage).clamp_min(0.0) * shading.shading_target(content, None)


def _finished(image: Tensor, inputs: _Inputs, blend: Sequence[float], params: StyleParams) -> Tensor:
    """The last level's picture at the output size, with the photo's colours when asked, or the
    painting's one colour when the painting has only one (a pencil drawing)."""
    final_content = inputs.final_content
    if tuple(image.shape[-2:]) != _hw(final_content):  # stopped before the last level
        image = resize_to(image, _hw(final_content))
    if params.preserve_colors == "luminance":
        # Gatys et al. 2016, luminance-only transfer: keep the painting's brightness pattern and
        # put the photo's chroma back. (They optimise on luminance alone; recombining afterwards
        # gives the same kind of picture without a second, grey-scale objective.)
        image = transfer_luminance(image, final_content.to(image.device))
    elif params.preserve_colors == "none" and inputs.masks is None:
        # The palette term leaves faint tints (chroma spread ~4 Lab units) that a grey drawing
        # does not have; where every painting is of one colour, the picture gets exactly that one.
        chromas = [single_chroma(style) for style in inputs.styles]
        if all(c is not None for c in chromas):
            mean = torch.stack([w * c for w, c in zip(blend, chromas) if c is not None]).sum(0) / sum(blend)
            image = with_chroma(image, mean)
    return image


def _pad(image: Tensor, margin: int) -> Tensor:
    return F.pad(image, (margin,) * 4, mode="reflect") if margin else image


def _crop_margin(image: Tensor, margin: int) -> Tensor:
    return image[..., margin:-margin, margin:-margin] if margin else image


def _cropping(callbacks: Iterable[Callback], margin: int) -> list[Callback]:
    """Callbacks that see the picture without the margin: its size, and its pixels on request."""
    callbacks = list(callbacks)
    if not margin:
        return callbacks

    def cropped(event: StepEvent) -> StepEvent:
        h, w = event.size
        return dataclasses.replace(
            event, size=(h - 2 * margin, w - 2 * margin), _image=lambda: _crop_margin(event.image(), margin)
        )

    return [functools.partial(_call_with, cb, cropped) for cb in callbacks]


def _call_with(callback: Callback, view: Callable[[StepEvent], StepEvent], event: StepEvent) -> bool | None:
    """``callback`` shown ``view(event)`` (the cropped or whole picture) instead of the raw event."""
    return callback(view(event))


def _hw(image: Tensor) -> tuple[int, int]:
    return image.shape[-2], image.shape[-1]


def _style_size(params: StyleParams, size: int) -> int:
    return max(MIN_SIDE, round(size * params.style_scale))


@dataclass
class _Targets:
    """Style statistics of one level, shared by every tile of it."""

    grams: list[dict[str, Tensor]]  # per style image: layer -> style statistic (see losses.style_statistic)
    colors: list[Tensor]  # per style image: colour Gram
    color_quantiles: list[Tensor]  # per style image: quantiles of its colours along fixed directions
    shading: Tensor | None  # the shading term's target over the whole level, (1,1,H,W)
    size: int  # the level's long side
    blend: list[float]
    content_layers: dict[str, float]
    style_layers: dict[str, float]


def _style_statistics(
    net: Backbone, style_imgs: list[Tensor], params: StyleParams, style_layers: dict[str, float]
) -> tuple[list[dict[str, Tensor]], list[Tensor], list[Tensor]]:
    """Style targets per style; images larger than a tile are measured tile by tile.

    Every statistic is a mean over positions, so the position-weighted mean of the tiles'
    statistics is that of the whole (up to the tiles' borders): memory stays bounded for 4096 px
    styles.
    """
    grams, colors, quantiles = [], [], []
    directions = losses.color_directions()
    with torch.no_grad():
        for image in style_imgs:
            h, w = image.shape[-2:]
            sums: dict[str, Tensor] = {}
            weight_total = 0.0
            for box in tiles.tile_boxes(h, w, params.tile_size, 0):
                part = tiles.crop(image, box)
                weight = part.shape[-2] * part.shape[-1]
                for n, f in _smoothed(net(part, list(style_layers)), params).items():
                    sums[n] = sums.get(n, 0) + losses.style_statistic(f, params.style_statistic) * weight
                weight_total += weight
            grams.append({n: g / weight_total for n, g in sums.items()})
            colors.append(losses.color_gram(image))
            if params.color_statistic == "histogram":  # only that palette term reads them
                quantiles.append(losses.color_quantiles(image, directions))
    return grams, colors, quantiles


def _smoothed(feats: dict[str, Tensor], params: StyleParams) -> dict[str, Tensor]:
    """Style activations smoothed as ``params`` asks.

    Only the style statistics are smoothed, not the content comparison as in Wang et al.: a
    content tap like Lite0's block outputs is a linear bottleneck (no ReLU) whose activations span
    tens, and a softmax over them is a single spike that says nothing about the picture.
    """
    if params.activation_smoothing == "none":
        return feats
    return {n: losses.smooth(f, params.activation_smoothing) for n, f in feats.items()}


def _build_objective(
    net: Backbone, content_img: Tensor, targets: _Targets, params: StyleParams, masks: list[Tensor] | None = None,
    region: Callable[[Tensor], Tensor] = lambda t: t,
) -> Objective:
    """The loss of one level (``region`` cuts a map of the whole level to the part optimised here:
    the padded picture or one tile)."""
    content_layers, style_layers = targets.content_layers, targets.style_layers
    layers = list(dict.fromkeys([*content_layers, *style_layers]))
    with torch.no_grad():
        content_feats = net(content_img, list(content_layers))
    content_loss = losses.ContentLoss(content_feats, content_layers)
    style_term: Callable[[dict[str, Tensor]], Tensor]
    if masks is None:
        style_targets = {n: losses.blend_grams([g[n] for g in targets.grams], targets.blend) for n in style_layers}
        style_term = losses.StyleLoss(style_targets, style_layers, params.style_statistic)
        color_term = _color_term(targets, params, _hw(content_img))
    else:
        style_term, color_term = _masked_terms(net, content_img, targets, params, masks)
    shading_term = None if targets.shading is None else shading.ShadingLoss(
        region(targets.shading), targets.size, float(targets.shading.var())
    )

    def objective(image: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        feats = net(image, layers)
        style_feats = _smoothed({n: feats[n] for n in style_layers}, params)
        terms = {
            "content": params.content_weight * content_loss(feats),
            "style": params.effective_style_weight * style_term(style_feats),
            # TV and colour-only TV in one pass; both follow the strength like the style does.
            "tv": params.strength * losses.smoothness_loss(image, params.tv_weight, params.chroma_tv_weight),
            "color": params.color_weight * params.strength * color_term(image),
        }
        if shading_term is not None:
            terms["shading"] = params.shading_weight * shading_term(image)
        return sum(terms.values()), terms

    return objective


def _color_term(targets: _Targets, params: StyleParams, hw: tuple[int, int]) -> Callable[[Tensor], Tensor]:
    """The palette term: the whole colour distribution (histogram) or its mean and covariance."""
    if params.color_statistic == "histogram":
        # A blend of styles matches the Wasserstein barycentre of their palettes: per direction,
        # the weighted mean of their quantile functions.
        quantiles = losses.blend_grams(targets.color_quantiles, targets.blend)
        return losses.SlicedColorLoss(quantiles, losses.color_directions(), hw).to(quantiles.device)
    color_target = losses.blend_grams(targets.colors, targets.blend)

    def moments(image: Tensor) -> Tensor:
        return losses.relative_squared_error(losses.color_gram(image), color_target)

    return moments


def _refine_in_tiles(
    net: Backbone, init: Tensor, content_img: Tensor, targets: _Targets, params: StyleParams,
    masks: list[Tensor] | None, callbacks: list[Callback], clock: RunClock, steps: int,
) -> OptimizeResult:
    """Optimise overlapping tiles one after another, each blended into the canvas as it is done."""
    canvas = init.detach().clone()
    h, w = canvas.shape[-2:]
    overlap = tile_overlap(params)
    history: list[float] = []
    result: OptimizeResult | None = None
    for box in tiles.tile_boxes(h, w, params.tile_size, overlap):
        tile_masks = None if masks is None else [tiles.crop(m, box) for m in masks]
        objective = _build_objective(
            net, tiles.crop(content_img, box), targets, params, tile_masks, functools.partial(tiles.crop, box=box)
        )

        def whole_picture(event: StepEvent, box: tiles.Box = box) -> StepEvent:
            # Callbacks see the whole canvas with the current tile in place, not the tile alone.
            def image() -> Tensor:
                full = canvas.clone()
                tiles.blend_into(full, event.image(), box, tiles.feather(box, h, w, overlap))
                return full

            return dataclasses.replace(event, size=(h, w), _image=image)

        wrapped = [functools.partial(_call_with, cb, whole_picture) for cb in callbacks]
        result = optimize_image(
            objective, tiles.crop(canvas, box), iterations=steps, optimizer=params.optimizer,
            lr=params.learning_rate, callbacks=wrapped, clock=clock, average=params.average,
        )
        tiles.blend_into(canvas, result.image, box, tiles.feather(box, h, w, overlap))
        history += result.history
        if result.stopped != "finished":
            break
    assert result is not None  # a level has at least one tile
    return OptimizeResult(image=canvas, loss=result.loss, steps=len(history), stopped=result.stopped, history=history)


def _masked_terms(
    net: Backbone, content_img: Tensor, targets: _Targets, params: StyleParams, masks: list[Tensor]
) -> tuple[Callable[[dict[str, Tensor]], Tensor], Callable[[Tensor], Tensor]]:
    """Style and palette terms where style i only counts inside mask i, weighted by its area."""
    style_layers, statistic = targets.style_layers, params.style_statistic
    with torch.no_grad():
        shapes = {n: f.shape[-2:] for n, f in net(content_img, list(style_layers)).items()}
    # Masks at each layer's resolution: area averaging keeps soft edges soft at coarse layers.
    at_layer = [{n: F.adaptive_avg_pool2d(m, tuple(shapes[n])) for n in style_layers} for m in masks]
    areas = [float(m.mean()) for m in masks]
    total_weight = sum(style_layers.values())

    def style_term(feats: dict[str, Tensor]) -> Tensor:
        total: Tensor | float = 0.0
        for grams, masks_i, area in zip(targets.grams, at_layer, areas):
            for n, w in style_layers.items():
                value = losses.style_statistic(feats[n], statistic, masks_i[n])
                total = total + area * w / total_weight * losses.style_distance(value, grams[n], statistic)
        assert isinstance(total, Tensor)  # one term per style at least
        return total

    def color_term(image: Tensor) -> Tensor:
        total: Tensor | float = 0.0
        for target, mask, area in zip(targets.colors, masks, areas):
            total = total + area * losses.relative_squared_error(losses.color_gram(image, mask), target)
        assert isinstance(total, Tensor)  # one term per style at least
        return total

    return style_term, color_term


def _initial_image(params: StyleParams, content: Tensor, init_src: Tensor | None) -> Tensor:
    generator = torch.Generator().manual_seed(params.seed)
    noise = torch.rand(content.shape, generator=generator).to(content.device)
    if params.init == "content":
        return content.clone()
    if params.init == "noise":
        return noise
    if params.init == "mixed":
        return 0.5 * content + 0.5 * noise
    assert init_src is not None  # _init_source loaded it before the first level
    return resize_to(init_src, _hw(content)).to(content.device)


def _init_source(params: StyleParams, content: Tensor) -> Tensor | None:
    """The --init image, loaded and checked before the first step; None for the built-in starts."""
    if params.init in INITS:
        return None
    if not os.path.exists(params.init):
        raise ParameterError(f"init: {params.init!r} is not content, noise, mixed, or an existing image file")
    image = load_image(params.init)
    _check_aspect(image, content, f"init: {os.path.basename(params.init)}")
    return image


def _check_aspect(image: Tensor, content: Tensor, what: str) -> None:
    """Masks and start images are resized to the content: refuse a shape that would be stretched."""
    (h, w), (ch, cw) = image.shape[-2:], content.shape[-2:]
    if abs(w / h - cw / ch) > 0.02 * cw / ch:
        raise ParameterError(f"{what}: {w}x{h} px does not have the content image's aspect ratio ({cw}x{ch} px)")


def _check_memory(content: Tensor, styles: list[Tensor], params: StyleParams) -> None:
    """Refuse, before any full-size tensor exists, a run that cannot fit in this machine's RAM."""
    h, w = long_side_shape(_hw(content), params.size)
    work_h, work_w = long_side_shape((h, w), min(params.size, params.tile_size))
    # A tile is refined with a margin on each side: count it at 1.5x its area.
    work = int(work_h * work_w * (1.5 if params.size > params.tile_size else 1.0))
    style_side = _style_size(params, params.size)
    style_pixels = sum(
        math.prod(long_side_shape(_hw(s), style_side)) for s in styles
    )
    needed = memory.stylize_bytes(h * w, work, style_pixels, params.model)
    what = f"size {params.size}" + (f" with style_scale {params.style_scale:g}" if params.style_scale > 1 else "")
    memory.check_fits(needed, what, hint="use a smaller size or style_scale")


def _as_image(image: ImageLike) -> Tensor:
    if isinstance(image, Tensor):
        if image.dim() == 3:
            image = image.unsqueeze(0)
        if image.dim() != 4 or image.shape[:2] != (1, 3):
            raise ParameterError(f"images must be (1,3,H,W) or (3,H,W) tensors, got {tuple(image.shape)}")
        return image.float()
    return load_image(image)


def _label(image: ImageLike, fallback: str) -> str:
    return fallback if isinstance(image, Tensor) else os.path.basename(os.fspath(image))


def _mask(image: Tensor, content: Tensor, what: str) -> Tensor:
    """A (1,1,H,W) weight map in [0,1] at the content's size: the mask's brightness."""
    _check_aspect(image, content, what)
    ch, cw = content.shape[-2:]
    return resize_to(image.mean(dim=1, keepdim=True), (ch, cw)).clamp(0, 1)


def _checked(image: Tensor, long_side: int, what: str) -> Tensor:
    """Refuse shapes the network cannot see at the working size (e.g. a 100:1 strip, an 8x8 icon)."""
    check_shape((image.shape[-2], image.shape[-1]), long_side, what)
    return image
