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

import torch
from torch import Tensor, nn

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


def tv_loss(image: Tensor) -> Tensor:
    """Total variation: mean squared difference of horizontally and vertically adjacent pixels."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


def color_gram(image: Tensor) -> Tensor:
    """(B, 3, H, W) -> (B, 4, 4): Gram of the pixels with a constant channel appended.

    It holds the mean colour (the products with the constant channel) and the second moments of
    the colours, so matching it matches the style's palette. Gatys et al. have no such term; it is
    the pixel-level colour statistic of Risser et al. (2017), in its simplest (moment) form.
    """
    ones = torch.ones_like(image[:, :1])
    return gram_matrix(torch.cat([image, ones], dim=1))


def blend_grams(grams: Sequence[Tensor], weights: Sequence[float]) -> Tensor:
    """Weighted mean of Gram matrices: the style target of several styles (as neural-style does)."""
    if len(grams) != len(weights) or not grams:
        raise ValueError("need one weight per Gram matrix")
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("style blend weights must sum to a positive number")
    return sum(g * (w / total) for g, w in zip(grams, weights))


def weighted_mean(terms: Mapping[str, Tensor], weights: Mapping[str, float]) -> Tensor:
    total = sum(weights[name] for name in terms)
    return sum(terms[name] * (weights[name] / total) for name in terms)


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
    """Holds style Gram targets (one per layer, as buffers) and scores features against them."""

    def __init__(self, target_grams: Mapping[str, Tensor], layer_weights: Mapping[str, float]):
        super().__init__()
        self.layer_weights = dict(layer_weights)
        for name, gram in target_grams.items():
            self.register_buffer(_buffer_name(name), gram.detach().clone())

    def forward(self, features: Mapping[str, Tensor]) -> Tensor:
        terms = {n: style_loss(features[n], self.get_buffer(_buffer_name(n))) for n in self.layer_weights}
        return weighted_mean(terms, self.layer_weights)


def _buffer_name(layer: str) -> str:
    # Buffer names may not contain dots; layer names like "b3.dw" do.
    return "target_" + layer.replace(".", "_")
