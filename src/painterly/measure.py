"""How close a picture is to a painting, and how much of a photo it keeps, without a neural network.

Used by the benchmarks to compare painterly with other tools. It uses no network on purpose: an
optimisation over a network's features could learn to please a measure made of the same features.

- ``style_distance``: a sliced Wasserstein distance (Rabin et al. 2011) between the per-pixel
  features of the picture and of the painting. The features are the CIE Lab colour and the energy
  of oriented Gabor filters on the lightness at two wavelengths, each divided by the painting's
  spread of that feature, so the distance is in units of "how much the painting itself varies".
  Distributions, not positions: a picture whose colours and strokes are the painting's, wherever
  they lie, scores 0.
- ``photo_similarity``: SSIM (Wang et al. 2004) of the blurred luminance of the picture and the
  photo: the layout and shading of the scene, with the brush texture blurred away.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

_ORIENTATIONS = 4
_WAVELENGTHS = (4.0, 8.0)  # pixels, at the measured size
_PROJECTIONS = 64
_SAMPLES = 16384


def srgb_to_lab(image: Tensor) -> Tensor:
    """(B,3,H,W) sRGB in [0,1] -> CIE Lab (D65): L in [0,100], a and b roughly in [-110,110]."""
    linear = torch.where(image <= 0.04045, image / 12.92, ((image + 0.055) / 1.055) ** 2.4)
    to_xyz = torch.tensor(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]], dtype=image.dtype
    )
    xyz = torch.einsum("ij,bjhw->bihw", to_xyz, linear)
    white = torch.tensor([0.95047, 1.0, 1.08883], dtype=image.dtype).view(1, 3, 1, 1)
    t = xyz / white
    delta = 6 / 29
    f = torch.where(t > delta**3, t.clamp_min(1e-12) ** (1 / 3), t / (3 * delta**2) + 4 / 29)
    return torch.cat([116 * f[:, 1:2] - 16, 500 * (f[:, 0:1] - f[:, 1:2]), 200 * (f[:, 1:2] - f[:, 2:3])], dim=1)


def gabor_energies(lightness: Tensor) -> Tensor:
    """(B,1,H,W) -> (B, orientations * wavelengths, H, W): local energy of oriented Gabor filters."""
    maps = []
    for wavelength in _WAVELENGTHS:
        sigma = 0.56 * wavelength  # about one octave of bandwidth
        radius = math.ceil(2.5 * sigma)
        y, x = torch.meshgrid(
            torch.arange(-radius, radius + 1, dtype=lightness.dtype),
            torch.arange(-radius, radius + 1, dtype=lightness.dtype),
            indexing="ij",
        )
        envelope = torch.exp(-(x**2 + y**2) / (2 * sigma**2))
        kernels = []
        for k in range(_ORIENTATIONS):
            theta = math.pi * k / _ORIENTATIONS
            along = x * math.cos(theta) + y * math.sin(theta)
            even = envelope * torch.cos(2 * math.pi * along / wavelength)
            odd = envelope * torch.sin(2 * math.pi * along / wavelength)
            even = even - even.mean()  # no response to flat areas
            kernels += [even / even.abs().sum(), odd / odd.abs().sum()]
        weight = torch.stack(kernels).unsqueeze(1)
        response = F.conv2d(F.pad(lightness, (radius,) * 4, mode="reflect"), weight)
        maps.append((response[:, 0::2] ** 2 + response[:, 1::2] ** 2).sqrt())
    return torch.cat(maps, dim=1)


def pixel_features(image: Tensor) -> Tensor:
    """(1,3,H,W) sRGB -> (H*W, 3 + 8): Lab colour and Gabor energies of each pixel."""
    lab = srgb_to_lab(image.double())
    features = torch.cat([lab, gabor_energies(lab[:, :1])], dim=1)
    return features.flatten(2)[0].T


def sliced_wasserstein(a: Tensor, b: Tensor, projections: int = _PROJECTIONS, seed: int = 0) -> float:
    """Sliced 2-Wasserstein distance between two point clouds (N,D) and (M,D) (equal-size samples)."""
    generator = torch.Generator().manual_seed(seed)
    n = min(len(a), len(b), _SAMPLES)
    a = a[torch.randperm(len(a), generator=generator)[:n]]
    b = b[torch.randperm(len(b), generator=generator)[:n]]
    directions = torch.randn(a.shape[1], projections, generator=generator, dtype=a.dtype)
    directions = directions / directions.norm(dim=0, keepdim=True)
    pa, _ = (a @ directions).sort(dim=0)
    pb, _ = (b @ directions).sort(dim=0)
    return float((pa - pb).pow(2).mean().sqrt())


def style_distance(picture: Tensor, painting: Tensor) -> float:
    """How far the picture's colours and strokes are from the painting's (0: the same distribution).

    Both are (1,3,H,W) sRGB; compare them at similar sizes (the Gabor wavelengths are in pixels).
    """
    return style_distances([picture], painting)[0]


def style_distances(pictures: list[Tensor], painting: Tensor) -> list[float]:
    """:func:`style_distance` of each picture to one painting, whose features are computed once
    (the Gabor filters are most of the cost: several seconds per 768 px image on one core)."""
    theirs = pixel_features(painting)
    spread = theirs.std(dim=0).clamp_min(1e-3)
    return [sliced_wasserstein(pixel_features(picture) / spread, theirs / spread) for picture in pictures]


def luminance(image: Tensor) -> Tensor:
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=image.dtype).view(1, 3, 1, 1)
    return (image * weights).sum(dim=1, keepdim=True)


def _gaussian_blur(image: Tensor, sigma: float) -> Tensor:
    radius = math.ceil(3 * sigma)
    x = torch.arange(-radius, radius + 1, dtype=image.dtype)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    padded = F.pad(image, (radius,) * 4, mode="reflect")
    return F.conv2d(F.conv2d(padded, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1))


def ssim(a: Tensor, b: Tensor, sigma: float = 1.5) -> float:
    """Mean SSIM of two (1,1,H,W) images in [0,1] with a Gaussian window (Wang et al. 2004)."""
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = _gaussian_blur(a, sigma), _gaussian_blur(b, sigma)
    var_a = _gaussian_blur(a * a, sigma) - mu_a**2
    var_b = _gaussian_blur(b * b, sigma) - mu_b**2
    cov = _gaussian_blur(a * b, sigma) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(index.mean())


def photo_similarity(picture: Tensor, photo: Tensor, blur: float = 2.0) -> float:
    """SSIM of the blurred luminance of the picture and the photo (resized to the picture's size)."""
    photo = F.interpolate(photo.double(), size=picture.shape[-2:], mode="area")
    a, b = (_gaussian_blur(luminance(x.double()), blur) for x in (picture, photo))
    return ssim(a, b)
