"""Losses of Gatys et al. (2015) as pure functions, plus small modules that hold their targets.

Shapes: feature maps are (B, C, H, W); Gram matrices are (B, C, C).

Where this departs from the paper, and why:
- The Gram matrix is divided by H*W (a mean over positions, not a sum), so a style image of any
  size gives targets on the same scale; this is what makes ``style_scale`` and blends of styles of
  different sizes comparable.
- Each layer's style (and content) loss is divided by the squared norm of its target. Layers of
  different depth, and different backbones, then contribute on the same scale, so one set of
  ``content_weight`` / ``style_weight`` defaults works for EfficientNet-Lite and VGG alike. (The
  paper weights raw squared errors, whose size varies by orders of magnitude between layers.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn

from .colors import RGB_TO_YIQ

_EPS = 1e-8


def gram_matrix(features: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, C, C): channel inner products averaged over the H*W positions."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


def masked_gram_matrix(features: Tensor, mask: Tensor) -> Tensor:
    """Gram matrix of the positions a (B, 1, H, W) mask in [0, 1] selects, as a weighted mean.

    With a 0/1 mask this is exactly the Gram matrix of the selected positions; soft values weigh
    positions in between, which is what gives soft edges between regions (the guided Gram
    matrices of Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer").
    """
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    weights = mask.reshape(mask.shape[0], 1, h * w)
    return (flat * weights) @ flat.transpose(1, 2) / weights.sum(-1, keepdim=True).clamp_min(_EPS)


def augmented_gram_matrix(features: Tensor, mask: Tensor | None = None) -> Tensor:
    """(B, C, H, W) -> (B, C+1, C+1): the Gram matrix of the features with a constant channel added.

    One tensor holds both statistics a style can be matched on: the top-left C x C block is the
    (uncentred) Gram matrix, the last column the mean activation of each channel. Means of such
    matrices over tiles or over blended styles stay consistent, which plain (mean, covariance)
    pairs would not.
    """
    ones = torch.ones_like(features[:, :1])
    augmented = torch.cat([features, ones], dim=1)
    return gram_matrix(augmented) if mask is None else masked_gram_matrix(augmented, mask)


def moments_loss(augmented: Tensor, target: Tensor) -> Tensor:
    """Mean and covariance matching from two augmented Gram matrices (relative errors, summed).

    Gatys et al. match uncentred second moments; matching the mean and the covariance separately
    (as in Li et al. 2017, "Demystifying Neural Style Transfer") keeps a dominant mean from
    drowning the correlations that carry the texture.
    """
    c = augmented.shape[-1] - 1
    mean, target_mean = augmented[:, :c, c], target[:, :c, c]
    covariance = augmented[:, :c, :c] - mean.unsqueeze(2) * mean.unsqueeze(1)
    target_covariance = target[:, :c, :c] - target_mean.unsqueeze(2) * target_mean.unsqueeze(1)
    return relative_squared_error(mean, target_mean) + relative_squared_error(covariance, target_covariance)


def softmax_smoothing(features: Tensor) -> Tensor:
    """Softmax over all activations of a layer, times their number (so the mean stays 1).

    The activation smoothing of Wang et al. 2021 ("Rethinking and Improving the Robustness of
    Image Style Transfer"): networks with residual connections have peaky, low-entropy
    activations whose Gram matrices are dominated by a few positions; the softmax raises their
    entropy. Departure from the paper: the factor C*H*W makes the result independent of the
    image size, so style targets measured at one size fit an image of another.
    """
    b = features.shape[0]
    flat = features.reshape(b, -1)
    return (torch.softmax(flat, dim=1) * flat.shape[1]).reshape(features.shape)


def relative_squared_error(value: Tensor, target: Tensor) -> Tensor:
    """||value - target||^2 / ||target||^2, summed over all but the batch dim, averaged over B."""
    dims = tuple(range(1, target.dim()))
    err = (value - target).pow(2).sum(dims)
    return (err / (target.pow(2).sum(dims) + _EPS)).mean()


def content_loss(features: Tensor, target: Tensor) -> Tensor:
    """Content term for one layer: relative squared error of the feature maps."""
    return relative_squared_error(features, target)


def style_loss(features: Tensor, target_gram: Tensor) -> Tensor:
    """Style term for one layer: relative squared error of the Gram matrices."""
    return relative_squared_error(gram_matrix(features), target_gram)


STATISTICS = ("gram", "moments", "sliced")
SLICED_LEVELS = 1024  # points of each quantile function


def style_statistic(features: Tensor, statistic: str = "gram", mask: Tensor | None = None) -> Tensor:
    """What a style target holds for one layer: the Gram matrix; for "moments" the augmented Gram
    matrix (mean and second moments); for "sliced" the quantile functions of the features along
    fixed directions (see :func:`sliced_quantiles`). Optionally over the positions a mask selects."""
    if statistic == "gram":
        return gram_matrix(features) if mask is None else masked_gram_matrix(features, mask)
    if statistic == "moments":
        return augmented_gram_matrix(features, mask)
    if statistic == "sliced":
        return sliced_quantiles(features, mask)
    raise ValueError(f"unknown style statistic {statistic!r}; valid: {', '.join(STATISTICS)}")


def style_distance(value: Tensor, target: Tensor, statistic: str = "gram") -> Tensor:
    """Distance between two statistics made by :func:`style_statistic` with the same ``statistic``."""
    if statistic == "moments":
        return moments_loss(value, target)
    if statistic == "sliced":
        return sliced_distance(value, target)
    return relative_squared_error(value, target)


_DIRECTIONS: dict[tuple[int, str], Tensor] = {}


def feature_directions(channels: int, device: torch.device | str = "cpu") -> Tensor:
    """(C, C) fixed random unit directions in feature space, the same for every call with C.

    Heitz et al. draw new directions at every step; L-BFGS needs the objective to stay the same
    function from step to step, so the directions are fixed (seeded by the channel count), and as
    many as there are channels.
    """
    key = (channels, str(device))
    if key not in _DIRECTIONS:
        generator = torch.Generator().manual_seed(channels)
        directions = torch.randn(channels, channels, generator=generator)
        _DIRECTIONS[key] = (directions / directions.norm(dim=0, keepdim=True)).to(device)
    return _DIRECTIONS[key]


def sliced_quantiles(features: Tensor, mask: Tensor | None = None, levels: int = SLICED_LEVELS) -> Tensor:
    """(1, C, H, W) -> (1, levels, C): the quantile function of the features projected on each of
    :func:`feature_directions`. With a (1,1,H,W) mask only positions where it is above 1/2 count.

    The statistic of the sliced Wasserstein style loss (Heitz et al. 2021, "A Sliced Wasserstein
    Loss for Neural Texture Synthesis"): it describes the whole distribution of the activations,
    so a painting with flat areas and strong strokes is not matched by an even texture with the
    same Gram matrix. Quantile functions measured at different sizes compare point by point.
    """
    c = features.shape[1]
    flat = features[0].flatten(1)
    if mask is not None:
        flat = flat[:, mask[0, 0].flatten() > 0.5]
        if flat.shape[1] == 0:
            flat = features[0].flatten(1)
    projected, _ = (flat.T @ feature_directions(c, features.device)).sort(dim=0)
    return resample_quantiles(projected, levels).unsqueeze(0)


def sliced_distance(value: Tensor, target: Tensor) -> Tensor:
    """Squared distance of two sets of quantile functions, relative to the target's spread."""
    spread = (target - target.mean(dim=1, keepdim=True)).pow(2).sum()
    return (value - target).pow(2).sum() / (spread + _EPS)


def smooth(features: Tensor, smoothing: str) -> Tensor:
    """Apply the named activation smoothing ("none" or "softmax")."""
    return softmax_smoothing(features) if smoothing == "softmax" else features


def tv_loss(image: Tensor) -> Tensor:
    """Total variation: mean squared difference of horizontally and vertically adjacent pixels."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


def chroma_tv_loss(image: Tensor) -> Tensor:
    """Total variation of the colour (YIQ chroma) channels only, brightness left out.

    The speckle that style transfer leaves is mostly colour (red, green and pink pixels), while
    brush strokes are mostly changes of brightness: smoothing the chroma removes the first
    without blurring the second.
    """
    weights = RGB_TO_YIQ[1:].to(image.device, image.dtype)  # the I and Q rows
    return tv_loss(torch.einsum("ij,bjhw->bihw", weights, image))


def smoothness_loss(image: Tensor, tv_weight: float, chroma_weight: float) -> Tensor:
    """``tv_weight * tv_loss(image) + chroma_weight * chroma_tv_loss(image)`` in one pass.

    Both terms are quadratic forms of the same pixel differences d: tv is d'd / 3 and chroma is
    d'M'Md / 2 per position (M: the I and Q rows), averaged. Their weighted sum is d'Qd, which is
    the plain TV of the image mapped by R = sqrt(3 Q): one colour transform and one TV instead of
    two TVs, which matters in a loop whose overhead over the network is counted in milliseconds.
    """
    if not chroma_weight:
        return tv_weight * tv_loss(image)
    chroma = RGB_TO_YIQ[1:]
    q = tv_weight / 3 * torch.eye(3, dtype=torch.float64) + chroma_weight / 2 * chroma.T @ chroma
    values, vectors = torch.linalg.eigh(3 * q)
    root = (vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T).to(image.device, image.dtype)
    return tv_loss(torch.einsum("ij,bjhw->bihw", root, image))


def color_gram(image: Tensor, mask: Tensor | None = None) -> Tensor:
    """(B, 3, H, W) -> (B, 4, 4): the augmented Gram matrix of the pixels (optionally masked).

    It holds the mean colour and the second moments of the colours, so matching it matches the
    style's palette. Gatys et al. have no such term; it is the pixel-level colour statistic of
    Risser et al. (2017), in its simplest (moment) form.
    """
    return augmented_gram_matrix(image, mask)


def color_directions(count: int = 16) -> Tensor:
    """(3, count) unit vectors spread evenly over a half sphere of RGB directions (a Fibonacci
    lattice): fixed, so the colour loss is the same function at every step, as L-BFGS needs."""
    i = torch.arange(count, dtype=torch.float64) + 0.5
    z = i / count  # the upper half: a direction and its opposite give the same slice
    radius = (1 - z**2).sqrt()
    angle = i * torch.pi * (3 - 5**0.5)
    return torch.stack([radius * angle.cos(), radius * angle.sin(), z]).float()


def color_quantiles(image: Tensor, directions: Tensor, levels: int = 1024, mask: Tensor | None = None) -> Tensor:
    """(1,3,H,W) -> (levels, K): the quantile function of the pixels' colours along each direction.

    With a mask (1,1,H,W) only the pixels where it is above one half count.
    """
    pixels = image[0].flatten(1).T
    if mask is not None:
        pixels = pixels[mask[0, 0].flatten() > 0.5]
    return resample_quantiles(sorted_projections(pixels.detach(), directions.to(pixels)).T, levels)


def resample_quantiles(sorted_values: Tensor, levels: int) -> Tensor:
    """(N, K) sorted columns -> (levels, K): their values at the quantiles (i + 0.5) / levels."""
    n = sorted_values.shape[0]
    position = ((torch.arange(levels, dtype=torch.float64) + 0.5) / levels * n - 0.5).clamp(0, n - 1)
    low = position.floor().long()
    high = (low + 1).clamp_max(n - 1)
    frac = (position - low).to(sorted_values).unsqueeze(1)
    return sorted_values[low] * (1 - frac) + sorted_values[high] * frac


class SlicedColorLoss(nn.Module):
    """Matches the whole distribution of the picture's colours to the style's, not only its mean and
    covariance: a sliced Wasserstein distance (Rabin et al. 2011; Heitz et al. 2021 use it on
    network features) over fixed RGB directions.

    This is the histogram loss of Risser et al. (2017) in its sliced form: it is what moves a sky
    into a painting's palette when the painting has few pixels of the sky's colour, which
    moment matching does not see. For speed the picture is measured on a fixed subset of its
    pixels (a fixed permutation, so every step sees the same function).
    """

    subset: Tensor  # buffers (registered below), declared so checkers know they are tensors
    directions: Tensor
    target: Tensor

    def __init__(self, target_quantiles: Tensor, directions: Tensor, image_hw: tuple[int, int], samples: int = 32768):
        super().__init__()
        pixels = image_hw[0] * image_hw[1]
        generator = torch.Generator().manual_seed(0)
        subset = torch.randperm(pixels, generator=generator)[: min(samples, pixels)]
        self.register_buffer("subset", subset)
        self.register_buffer("directions", directions.detach().clone())
        target, self.scale = palette_target(target_quantiles, len(subset))
        self.register_buffer("target", target)

    def forward(self, image: Tensor) -> Tensor:
        ordered = sorted_projections(image[0].flatten(1)[:, self.subset].T, self.directions)
        return (ordered - self.target).pow(2).sum() / self.scale


def palette_target(quantiles: Tensor, count: int) -> tuple[Tensor, float]:
    """The style's colours as ``count`` sorted values per direction, (K, count), and the divisor
    that makes the palette term scale-free: their summed squared spread about each direction's
    mean (a picture of one flat colour at the painting's mean scores about 1)."""
    target = resample_quantiles(quantiles, count)
    return target.T.contiguous(), float((target - target.mean(0)).pow(2).sum()) + _EPS


def sorted_projections(pixels: Tensor, directions: Tensor) -> Tensor:
    """(N, 3) pixels and (3, K) directions -> (K, N): each direction's projections in ascending
    order, differentiable with respect to the pixels (the order itself is a constant)."""
    projected = directions.T @ pixels.T
    return projected.gather(1, ascending_order(projected.detach()))


def ascending_order(rows: Tensor) -> Tensor:
    """Indices that sort each row of a (K, N) tensor, as ``rows.argsort(dim=1)``.

    On a CPU, torch's sort was 30 % of a draft run (the palette term sorts K x 32k values every
    step; 52 ms on one thread). NumPy sorts int64 keys several times faster, so each float32 value
    becomes a key that orders like it (its bits, with the negative ones' order reversed) in the
    high 32 bits and its column in the low 32 bits; the sorted keys' low bits are the order (14 ms).
    """
    if rows.device.type != "cpu" or rows.dtype != torch.float32 or rows.shape[1] >= 2**31:
        return rows.argsort(dim=1)
    keys = rows.contiguous().numpy().view(np.int32).astype(np.int64)
    keys ^= (keys >> 31) & 0x7FFFFFFF
    keys <<= 32
    keys |= np.arange(rows.shape[1], dtype=np.int64)
    keys.sort(axis=1)
    return torch.from_numpy(keys & 0xFFFFFFFF)


def blend_grams(grams: Sequence[Tensor], weights: Sequence[float]) -> Tensor:
    """Weighted mean of Gram matrices: the style target of several styles (as neural-style does)."""
    if len(grams) != len(weights) or not grams:
        raise ValueError("need one weight per Gram matrix")
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("style blend weights must sum to a positive number")
    return cast(Tensor, sum(g * (w / total) for g, w in zip(grams, weights)))  # not empty: checked above


def weighted_mean(terms: Mapping[str, Tensor], weights: Mapping[str, float]) -> Tensor:
    total = sum(weights[name] for name in terms)
    return cast(Tensor, sum(terms[name] * (weights[name] / total) for name in terms))


class ContentLoss(nn.Module):
    """Holds content targets (one per layer, as buffers) and scores features against them."""

    def __init__(self, targets: Mapping[str, Tensor], layer_weights: Mapping[str, float]):
        super().__init__()
        self.layer_weights = dict(layer_weights)
        for name, target in targets.items():
            self.register_buffer(_buffer_name(name), target.detach().clone())

    def forward(self, features: Mapping[str, Tensor]) -> Tensor:
        terms = {n: content_loss(features[n], self.get_buffer(_buffer_name(n))) for n in self.layer_weights}
        return weighted_mean(terms, self.layer_weights)


class StyleLoss(nn.Module):
    """Holds style targets (one statistic per layer, as buffers) and scores features against them."""

    def __init__(self, targets: Mapping[str, Tensor], layer_weights: Mapping[str, float], statistic: str = "gram"):
        super().__init__()
        self.layer_weights = dict(layer_weights)
        self.statistic = statistic
        for name, target in targets.items():
            self.register_buffer(_buffer_name(name), target.detach().clone())

    def forward(self, features: Mapping[str, Tensor]) -> Tensor:
        terms = {
            n: style_distance(style_statistic(features[n], self.statistic), self.get_buffer(_buffer_name(n)), self.statistic)
            for n in self.layer_weights
        }
        return weighted_mean(terms, self.layer_weights)


def _buffer_name(layer: str) -> str:
    # Buffer names may not contain dots; layer names like "b3.dw" do.
    return "target_" + layer.replace(".", "_")
