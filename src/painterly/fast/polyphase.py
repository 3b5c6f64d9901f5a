"""The fast network rearranged for inference: the same picture, without full-resolution feature maps.

TransformNet's last stage works at full resolution: the 16-channel map of the half-resolution stage
is resized x2 (nearest), concatenated with the photo, reflection-padded, convolved, normalised and
turned into RGB. In ONNX Runtime on a CPU, the single run of `fast apply` on a 1024x768 photo spent
almost half its time (~70 of ~150 ms) copying maps in Resize, Concat and Pad, most of them those
16- and 19-channel full-size ones, and less convolving (docs/fast.md, "Where the time goes").

:class:`PolyphaseNet` computes the same function with that stage at half resolution, on the four
pixel phases of its output (a polyphase decomposition, as in the sub-pixel convolution of Shi et al.
2016, "Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel Convolutional
Neural Network"): full-resolution pixel (2i+a, 2j+b) of channel c is half-resolution pixel (i, j)
of channel 4c + 2a + b, the order of ``pixel_shuffle``. Each step is rewritten exactly:
- x2 nearest resize, reflection pad, 3x3 convolution: replicate pad at half resolution and one
  3x3 convolution with 4x the output channels (the taps the resize repeats are summed). Reflecting
  a x2-resized map by one pixel repeats its edge, as replicating the small map does;
- 3x3 convolution of the reflection-padded photo: one 4x4 stride-2 convolution of the same padded
  photo, which the first convolution of the encoder shares;
- instance normalisation: each channel's statistics over its four phases (a reshape to
  (N, C, 4, H, W));
- the last 3x3 convolution (zero padding): a 3x3 convolution from phases to phases.
The lower decoder stages must give the next stage a whole map, so they keep their resize, but
pad before it, as :class:`_PadFirst` explains; rewritten on phases they would each need a
DepthToSpace, which in ONNX Runtime was no quicker than the Resize and Pad (docs/fast.md, "Where
the time goes").
The output is the padded picture's four phases, (N, 12, H/2, W/2); ``pixel_shuffle``, or
:func:`.onnx_apply.interleave` without torch, puts them in place. Networks without a
full-resolution stage (``full_width`` 0, the first shipped styles) have nothing to rearrange.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .network import TransformNet


def supports(network: TransformNet) -> bool:
    """Whether ``network`` has a full-resolution stage to rearrange."""
    return network.arch.full_width > 0


def _taps(phase: int, offset: int) -> tuple[int, int]:
    """Full-resolution row 2i + phase + offset as (its phase, its half-resolution row minus i)."""
    row = phase + offset
    return row % 2, row // 2


def phase_conv_weight(weight: Tensor) -> Tensor:
    """(O, I, 3, 3) weights of a 3x3 convolution at full resolution -> (4O, 4I, 3, 3) weights of
    the same convolution from the input's phases to the output's (channel 4c + 2a + b on both
    sides). Zero padding at full resolution is zero padding of every phase."""
    out_channels, in_channels = weight.shape[:2]
    phased = weight.new_zeros(out_channels, 2, 2, in_channels, 2, 2, 3, 3)
    for a in (0, 1):
        for b in (0, 1):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    (pa, oy), (pb, ox) = _taps(a, dy), _taps(b, dx)
                    phased[:, a, b, :, pa, pb, oy + 1, ox + 1] += weight[:, :, dy + 1, dx + 1]
    return phased.reshape(4 * out_channels, 4 * in_channels, 3, 3)


def resized_conv_weight(weight: Tensor) -> Tensor:
    """(O, I, 3, 3) weights of a 3x3 convolution of a x2-resized map reflected by one pixel ->
    (4O, I, 3, 3) weights of a 3x3 convolution of the small map edge-padded by one pixel, with
    output channel 4o + 2a + b for phase (a, b) of output o.

    The nearest resize makes all four phases of its output the small map itself, so each tap of
    :func:`phase_conv_weight` lands on the same input whatever its phase: the phases are summed.
    """
    out_channels, in_channels = weight.shape[:2]
    return phase_conv_weight(weight).reshape(4 * out_channels, in_channels, 4, 3, 3).sum(dim=2)


def strided_photo_weight(weight: Tensor) -> Tensor:
    """(O, I, 3, 3) weights of a 3x3 convolution of a once-padded image -> (4O, I, 4, 4) weights of
    a stride-2 4x4 convolution of the same padded image, one output channel per phase: the window
    of phase (a, b) is rows a..a+2, columns b..b+2 of the 4x4 one."""
    out_channels, in_channels = weight.shape[:2]
    phased = weight.new_zeros(out_channels, 2, 2, in_channels, 4, 4)
    for a in (0, 1):
        for b in (0, 1):
            phased[:, a, b, :, a : a + 3, b : b + 3] = weight
    return phased.reshape(4 * out_channels, in_channels, 4, 4)


def _conv(weight: Tensor, bias: Tensor | None, stride: int = 1, padding: int = 0) -> nn.Conv2d:
    """A convolution with these weights (square kernels; padding by zeros only, the callers pad
    the rest explicitly)."""
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[-1], stride, padding, bias=bias is not None)
    conv.weight.data.copy_(weight)
    if conv.bias is not None and bias is not None:
        conv.bias.data.copy_(bias)
    return conv.to(weight.device)


def _parts(stage: nn.Module) -> tuple[nn.Conv2d, nn.InstanceNorm2d]:
    """The convolution and the normalisation of a conv-norm-ReLU stage (network._conv_norm_relu)."""
    layers = cast(nn.Sequential, stage)
    return cast(nn.Conv2d, layers[0]), cast(nn.InstanceNorm2d, layers[1])


def _weights(conv: nn.Conv2d) -> tuple[Tensor, Tensor]:
    assert conv.bias is not None  # every convolution of TransformNet has one
    return conv.weight.detach(), conv.bias.detach()


class _PadFirst(nn.Module):
    """A lower decoder stage (network._Up) with the padding before the resize: the x2-resized map
    reflected by one pixel is the small map edge-padded, resized, less its outer ring. So the small
    map is padded (a quarter of the bytes of padding the resized one), and the convolution's outer
    ring of outputs is cropped instead: ~5 ms less of a 1024x768 photo's first run."""

    def __init__(self, stage: nn.Module):
        super().__init__()
        conv, self.norm = _parts(cast(nn.Module, stage.conv))
        self.conv = _conv(*_weights(conv))

    def forward(self, x: Tensor) -> Tensor:
        resized = F.interpolate(F.pad(x, (1, 1, 1, 1), mode="replicate"), scale_factor=2.0, mode="nearest")
        return F.relu(self.norm(self.conv(resized)[..., 1:-1, 1:-1]))


class PolyphaseNet(nn.Module):
    """TransformNet.padded_forward with its full-resolution stage on the output's four phases:
    padded (N, 3, H, W) -> (N, 12, H/2, W/2), or the interleaved (N, 3, H, W) with ``interleave``."""

    def __init__(self, network: TransformNet, *, interleave: bool = False):
        super().__init__()
        if not supports(network):
            raise ValueError("the network has no full-resolution stage to rearrange")
        self.interleave = interleave
        self.skip = bool(network.arch.photo_skip)
        encode = cast(list[nn.Sequential], list(network.encode))
        first, _ = _parts(encode[0])
        # The first convolution reads the photo padded once, here, and shared with the skip.
        self.first = _conv(*_weights(first), stride=2)
        *lower, last = cast(list[nn.Module], list(network.decode))
        self.trunk = nn.Sequential(*list(encode[0])[1:], *encode[1:], *network.transform, *map(_PadFirst, lower))
        conv, norm = _parts(cast(nn.Module, last.conv))
        (weight, bias), self.width = _weights(conv), conv.out_channels
        features = weight.shape[1] - 3 * self.skip
        self.resized = _conv(resized_conv_weight(weight[:, :features]), bias.repeat_interleave(4))
        self.photo = _conv(strided_photo_weight(weight[:, features:]), None, stride=2) if self.skip else None
        self.norm = nn.InstanceNorm3d(self.width, affine=True).to(weight.device)
        self.norm.weight.data.copy_(norm.weight.detach())
        self.norm.bias.data.copy_(norm.bias.detach())
        rgb_weight, rgb_bias = _weights(network.to_rgb)
        # Zero padding, as TransformNet.to_rgb's: outside the picture every phase is zero too.
        self.to_rgb = _conv(phase_conv_weight(rgb_weight), rgb_bias.repeat_interleave(4), padding=1)

    def forward(self, padded: Tensor) -> Tensor:
        photo = F.pad(padded, (1, 1, 1, 1), mode="reflect")
        x = self.resized(F.pad(self.trunk(self.first(photo)), (1, 1, 1, 1), mode="replicate"))
        if self.photo is not None:
            x = x + self.photo(photo)
        n, _, h, w = x.shape
        x = F.relu(self.norm(x.reshape(n, self.width, 4, h, w)).reshape(n, 4 * self.width, h, w))
        phases = torch.sigmoid(self.to_rgb(x))
        return F.pixel_shuffle(phases, 2) if self.interleave else phases

