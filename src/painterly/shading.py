"""The shading term: keep the photo's light and shade, in the painting's tones.

Gatys et al.'s content loss holds the photo's objects through the network's features, which say
little about where the picture is light and where it is dark: with a dark or saturated palette
(The Scream, Gauguin) the style and palette terms move whole regions' brightness, and the scene's
light is lost though its edges stay. Painters keep the scene's value pattern (its large areas of
light and dark) whatever their palette; this term asks for the same.

Target: the photo's luminance, blurred so that brush strokes finer than the blur stay free, with
its values remapped (histogram matching, one dimension) to the distribution of the painting's
blurred luminance. So the target has the photo's layout and the painting's tones, and does not
pull against the palette term. The loss is the mean squared difference of the picture's blurred
luminance to that target, divided by the target's variance (a flat grey picture scores about 1).
This term is not in Gatys et al.; the remapped target is the one-dimensional version of the
histogram matching of Gatys et al. 2016 ("Preserving Color in Neural Artistic Style Transfer").
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .colors import RGB_TO_YIQ
from .losses import resample_quantiles

# The blur, as a fraction of the picture's long side: 2.8 px at 512 px. Strokes finer than a few
# blur widths are the style terms' to paint.
BLUR_FRACTION = 1 / 180
TONE_LEVELS = 1024
# A blur of sigma pixels is computed on the picture shrunk by int(sigma / SHRINK_SIGMA): from
# 540 px on (sigma 3 px), so the kernel stays within 19 taps and the cost per pixel stays that of
# a 512 px picture (which is blurred directly).
SHRINK_SIGMA = 1.5


def blurred_luminance(image: Tensor, long_side: int | None = None) -> Tensor:
    """(B,3,H,W) -> (B,1,H,W): luminance (Y of YIQ) blurred by a Gaussian of BLUR_FRACTION of the
    long side (``long_side`` when the image is a tile or a padded crop of a larger picture)."""
    weights = RGB_TO_YIQ[0].to(image.device, image.dtype).view(1, 3, 1, 1)
    y = (image * weights).sum(dim=1, keepdim=True)
    sigma = (long_side or max(image.shape[-2:])) * BLUR_FRACTION
    # Wide blurs (large pictures) are taken at a lower resolution and scaled back up.
    factor = max(1, int(sigma / SHRINK_SIGMA))
    if factor == 1:
        return _gaussian_blur(y, sigma)
    h, w = y.shape[-2:]
    # padded to whole cells, so that scaling back up by the same factor puts every cell in place
    whole = F.pad(y, (0, -w % factor, 0, -h % factor), mode="replicate")
    small = _gaussian_blur(F.avg_pool2d(whole, factor), sigma / factor)
    return F.interpolate(small, scale_factor=factor, mode="bilinear", align_corners=False)[..., :h, :w]


def _gaussian_blur(y: Tensor, sigma: float) -> Tensor:
    radius = min(math.ceil(3 * sigma), min(y.shape[-2:]) - 1)
    if sigma < 0.3 or radius < 1:
        return y
    x = torch.arange(-radius, radius + 1, dtype=y.dtype, device=y.device)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    padded = F.pad(y, (radius,) * 4, mode="reflect")
    # A sum of shifted slices, not conv2d: a one-channel convolution is torch's slow CPU path
    # (3x the time of this at 512 px, about a tenth of a network step).
    h, w = y.shape[-2:]
    rows = sum(k * padded[..., :, i : i + w] for i, k in enumerate(kernel))
    return cast(Tensor, sum(k * rows[..., i : i + h, :] for i, k in enumerate(kernel)))


def tone_quantiles(style: Tensor) -> Tensor:
    """(1,3,H,W) painting -> (TONE_LEVELS,): the quantile function of its blurred luminance."""
    values, _ = blurred_luminance(style).flatten().sort()
    return resample_quantiles(values.unsqueeze(1), TONE_LEVELS)[:, 0]


def shading_target(content: Tensor, tones: Tensor | None, long_side: int | None = None) -> Tensor:
    """The photo's blurred luminance with its values remapped to ``tones`` (a quantile function);
    with ``tones`` None, the photo's own values."""
    y = blurred_luminance(content, long_side)
    if tones is None:
        return y
    # One-dimensional histogram matching: the painting's tones, resampled to one value per pixel,
    # handed out to the pixels in the order of their brightness.
    flat = y.flatten()
    matched = torch.empty_like(flat)
    matched[flat.argsort()] = resample_quantiles(tones.to(flat).unsqueeze(1), len(flat))[:, 0]
    return matched.view_as(y)


class ShadingLoss(nn.Module):
    """Mean squared difference of the picture's blurred luminance to a fixed target, relative to
    the target's variance."""

    target: Tensor

    def __init__(self, target: Tensor, long_side: int | None = None, variance: float | None = None):
        """``variance``: of the whole picture's target, when ``target`` is a tile of it."""
        super().__init__()
        self.register_buffer("target", target.detach().clone())
        self.long_side = long_side
        # a flat target (a blank photo) must not divide by ~0
        self.scale = (float(target.var()) if variance is None else variance) + 1e-4

    def forward(self, image: Tensor) -> Tensor:
        return (blurred_luminance(image, self.long_side) - self.target).pow(2).mean() / self.scale
