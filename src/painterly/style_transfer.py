"""Style transfer (Gatys, Ecker & Bethge 2015) on top of the generic optimisation loop.

``stylize`` builds the perceptual objective (content + blended style + total variation) over a
frozen backbone and hands it to :func:`painterly.engine.optimize_image`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from . import losses
from .backbones import Backbone, create_backbone
from .devices import resolve_device
from .colors import match_histogram, transfer_luminance
from .engine import Callback, RunClock, StopReason, optimize_image
from .errors import ParameterError
from .io import load_image, resize_long_side, resize_to
from .params import StyleParams, parse_layer_spec

ImageLike = Tensor | str | os.PathLike
MIN_SIDE = 32  # below this the deepest taps (stride 16-32) have no spatial extent left


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
) -> StyleResult:
    """Paint ``content`` in the style of ``styles``; tensors are (1,3,H,W) sRGB in [0,1], or paths."""
    params = (params or StyleParams()).validate()
    style_list = [styles] if isinstance(styles, (Tensor, str, os.PathLike)) else list(styles)
    if not style_list:
        raise ParameterError("styles: give at least one style image")
    blend = params.style_weights or [1.0] * len(style_list)
    if len(blend) != len(style_list):
        raise ParameterError(f"style_weights: {len(blend)} weights for {len(style_list)} style images")

    device = resolve_device(params.device)
    net = backbone or create_backbone(params.model, device=device, pooling=params.pooling)
    content_layers = _layers(params.content_layers, net.default_content_layers, "content_layers")
    style_layers = _layers(params.style_layers, net.default_style_layers, "style_layers")
    net.check_layers([*content_layers, *style_layers])

    start = time.perf_counter()
    content_src = _checked(_as_image(content), params.size, _label(content, "content image"))
    style_srcs = [
        _checked(_as_image(s), _style_size(params, params.size), _label(s, f"style image {i + 1}"))
        for i, s in enumerate(style_list)
    ]
    final_content = resize_long_side(content_src, params.size)
    final_hw = tuple(final_content.shape[-2:])
    if params.preserve_colors == "histogram":
        # Gatys et al. 2016, colour histogram matching: recolour the style to the photo's palette
        # before taking its statistics, so the painting keeps the photo's colours.
        style_srcs = [match_histogram(s, final_content) for s in style_srcs]
    sizes = [s for s in pyramid_sizes(params.size, params.pyramid_start) if _fits(content_src, s)]
    clock = RunClock(total=params.steps_per_level * len(sizes), start=start, levels=len(sizes))
    image: Tensor | None = None
    history: list[float] = []
    for level, size in enumerate(sizes):
        content_img = resize_long_side(content_src, size).to(device)
        style_imgs = [resize_long_side(s, _style_size(params, size)).to(device) for s in style_srcs]
        objective = _build_objective(net, content_img, style_imgs, blend, content_layers, style_layers, params)
        if image is None:
            init = _initial_image(params, content_img)
        else:
            # Coarse-to-fine: the previous level's result, upsampled, starts this level. The
            # optimizer state is restarted on purpose: L-BFGS curvature pairs don't survive resizing.
            init = resize_to(image, tuple(content_img.shape[-2:]))
        clock.level = level
        result = optimize_image(
            objective,
            init,
            iterations=params.steps_per_level,
            optimizer=params.optimizer,
            lr=params.learning_rate,
            callbacks=callbacks,
            clock=clock,
        )
        image, history = result.image, history + result.history
        if result.stopped != "finished":
            break
    assert image is not None
    if tuple(image.shape[-2:]) != final_hw:  # stopped before the last level
        image = resize_to(image, final_hw)
    if params.preserve_colors == "luminance":
        # Gatys et al. 2016, luminance-only transfer: keep the painting's brightness pattern and
        # put the photo's chroma back. (They optimise on luminance alone; recombining afterwards
        # gives the same kind of picture without a second, grey-scale objective.)
        image = transfer_luminance(image, final_content.to(image.device))
    return StyleResult(
        image=image.detach().to("cpu", torch.float32),
        loss=result.loss,
        steps=clock.step,
        stopped=result.stopped,
        history=history,
        elapsed=time.perf_counter() - start,
    )


def pyramid_sizes(size: int, start: int, ratio: float = 2**0.5) -> list[int]:
    """Long sides of the coarse-to-fine levels: ``size`` divided by powers of ``ratio``, down to ``start``.

    ``start`` of 0, or not below ``size``, gives a single level.
    """
    sizes = [size]
    while start and sizes[-1] / ratio >= start * 0.999:
        sizes.append(round(sizes[-1] / ratio))
    return sizes[::-1]


def _style_size(params: StyleParams, size: int) -> int:
    return max(MIN_SIDE, round(size * params.style_scale))


def _build_objective(net, content_img, style_imgs, blend, content_layers, style_layers, params):
    layers = list(dict.fromkeys([*content_layers, *style_layers]))
    with torch.no_grad():
        content_feats = net(content_img, list(content_layers))
        grams_per_style = [
            {n: losses.gram_matrix(f) for n, f in net(s, list(style_layers)).items()} for s in style_imgs
        ]
    style_targets = {n: losses.blend_grams([g[n] for g in grams_per_style], blend) for n in style_layers}
    color_target = losses.blend_grams([losses.color_gram(s) for s in style_imgs], blend)
    content_loss = losses.ContentLoss(content_feats, content_layers)
    style_loss = losses.StyleLoss(style_targets, style_layers)

    def objective(image: Tensor):
        feats = net(image, layers)
        terms = {
            "content": params.content_weight * content_loss(feats),
            "style": params.effective_style_weight * style_loss(feats),
            "tv": params.tv_weight * params.strength * losses.tv_loss(image),
            "color": params.color_weight * params.strength * losses.relative_squared_error(losses.color_gram(image), color_target),
        }
        return sum(terms.values()), terms

    return objective


def _initial_image(params: StyleParams, content: Tensor) -> Tensor:
    generator = torch.Generator().manual_seed(params.seed)
    noise = torch.rand(content.shape, generator=generator).to(content.device)
    if params.init == "content":
        return content.clone()
    if params.init == "noise":
        return noise
    if params.init == "mixed":
        return 0.5 * content + 0.5 * noise
    if not os.path.exists(params.init):
        raise ParameterError(f"init: {params.init!r} is not content, noise, mixed, or an existing image file")
    return resize_to(load_image(params.init), tuple(content.shape[-2:])).to(content.device)


def _layers(spec: str | None, default: dict[str, float], field_name: str) -> dict[str, float]:
    return parse_layer_spec(spec, field_name) if spec else dict(default)


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


def _fits(image: Tensor, long_side: int) -> bool:
    h, w = image.shape[-2:]
    return min(h, w) * long_side / max(h, w) >= MIN_SIDE


def _checked(image: Tensor, long_side: int, what: str) -> Tensor:
    """Refuse shapes the network cannot see at the working size (e.g. a 100:1 strip, an 8x8 icon)."""
    h, w = image.shape[-2:]
    if min(h, w) < MIN_SIDE:
        raise ParameterError(f"{what}: {w}x{h} px is too small; both sides must be at least {MIN_SIDE} px")
    if not _fits(image, long_side):
        short = round(min(h, w) * long_side / max(h, w))
        raise ParameterError(
            f"{what}: {w}x{h} px has a short side of {short} px at {long_side} px long side; "
            f"it must be at least {MIN_SIDE} px (use a larger size or a less extreme aspect ratio)"
        )
    return image
