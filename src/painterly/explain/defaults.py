"""Defaults of the explain tools, in one light module (no torch) that the CLI can read for --help."""

from dataclasses import dataclass

from ..images import MIN_SIDE
from ..params import MAX_SEED, MAX_SIZE, MAX_STEPS, MAX_WEIGHT

# A layer per backbone when none is named: mid-level patterns for units; for dream, the layer
# whose DeepDream shows the typical animal faces.
UNITS_LAYER = {"efficientnet-lite0": "b3.dw", "vgg19": "relu3_1", "vgg16": "relu3_1"}
DREAM_LAYER = {"efficientnet-lite0": "b10.out", "vgg19": "relu4_2", "vgg16": "relu4_2"}
# Five taps from shallow to deep for invert. EfficientNet-Lite0: depthwise outputs at strides
# 2 to 32, the taps its style transfer uses; VGG: Gatys et al.'s conv*_2 (content) and conv*_1
# (style), after the ReLU as in their code.
INVERT_LAYERS: dict[str, tuple[list[str], list[str]]] = {
    "efficientnet-lite0": (["stem", "b1.dw", "b3.dw", "b5.dw", "b11.dw"],
                           ["stem", "b1.dw", "b3.dw", "b5.dw", "b11.dw"]),
    **{vgg: ([f"relu{i}_2" for i in range(1, 6)], [f"relu{i}_1" for i in range(1, 6)])
       for vgg in ("vgg19", "vgg16")},
}

@dataclass(frozen=True)
class _Units:
    size: int = 256
    units: int = 16
    k: int = 9
    tile: int = 80


@dataclass(frozen=True)
class _Invert:
    size: int = 256
    iterations: int = 150
    optimizer: str = "lbfgs"
    tv_weight: float = 1.0
    seed: int = 0
    cell: int = 256


@dataclass(frozen=True)
class _Dream:
    size: int = 512
    octaves: int = 4
    octave_scale: float = 1.4
    steps: int = 20
    strength: float = 1.0
    jitter: int = 16
    seed: int = 0


UNITS = _Units()
# tv_weight: a smoothness prior on the content reconstructions. The paper has none, but
# EfficientNet's stride-2 depthwise layers barely see pixel-level noise, so without it the deep
# reconstructions keep much of the starting noise (see docs/explain.md).
INVERT = _Invert()
DREAM = _Dream()

# (minimum, maximum) of every numeric option of the explain tools, checked by the CLI before any
# work (the same role as the field ranges of StyleParams). Keys are the option's dest names.
RANGES = {
    "size": (MIN_SIDE, MAX_SIZE), "num_units": (1, 4096), "top": (1, 100), "tile": (8, 1024), "batch_size": (1, 1024),
    "iterations": (1, MAX_STEPS), "tv_weight": (0.0, MAX_WEIGHT), "seed": (0, MAX_SEED), "cell": (16, 4096),
    "unit": (0, 1_000_000), "octaves": (1, 16), "octave_scale": (1.01, 4.0), "steps": (1, MAX_STEPS),
    "strength": (0.0, 100.0), "jitter": (0, 1024),
}
