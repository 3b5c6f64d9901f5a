"""Settings of the explain tools, in one light module (no torch) that the CLI reads for its options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..images import MIN_SIDE
from ..params import DEFAULT_MODEL, DEVICES, MAX_SEED, MAX_SIZE, MAX_STEPS, MAX_WEIGHT, option

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

def _per_model(table: dict[str, str]) -> str:
    return ", ".join(f"{layer} for {model}" for model, layer in table.items())


def _model() -> Any:
    return option(DEFAULT_MODEL, "backbone (see `painterly models`)")


def _device() -> Any:
    return option("auto", "where to run", choices=DEVICES)


def _size(default: int) -> Any:
    return option(default, "long side in pixels the network sees", minimum=MIN_SIDE, maximum=MAX_SIZE)


# One dataclass per tool: its defaults (read by the library functions), help texts and ranges (read
# by the CLI, which builds its options from them and refuses values outside the range while parsing).
@dataclass(frozen=True)
class UnitsSettings:
    layer: str | None = option(None, f"layer to explain (default: {_per_model(UNITS_LAYER)})")
    num_units: int = option(16, "how many units to show without --units", minimum=1, maximum=4096)
    top: int = option(9, "patches per unit", minimum=1, maximum=100)
    tile: int = option(80, "display size of one patch in pixels", minimum=8, maximum=1024)
    batch_size: int | None = option(None, "images per forward pass (default: 1 on the CPU, where that is fastest "
                                    "per image, else 16)", minimum=1, maximum=1024)
    model: str = _model()
    size: int = _size(256)
    device: str = _device()


@dataclass(frozen=True)
class InvertSettings:
    iterations: int = option(150, "optimisation steps per reconstruction", minimum=1, maximum=MAX_STEPS)
    optimizer: str = option("lbfgs", "optimiser of the reconstructions", choices=("lbfgs", "adam"))
    # A smoothness prior on the content reconstructions. The paper has none, but EfficientNet's
    # stride-2 depthwise layers barely see pixel-level noise, so without it the deep
    # reconstructions keep much of the starting noise (see docs/explain.md).
    tv_weight: float = option(1.0, "smoothness prior on the content reconstructions (0: none, as in the paper; "
                              "deep layers then keep the start noise)", minimum=0.0, maximum=MAX_WEIGHT)
    seed: int = option(0, "seed of the starting noise", minimum=0, maximum=MAX_SEED)
    cell: int = option(256, "long side of each picture on the sheet", minimum=16, maximum=4096)
    model: str = _model()
    size: int = _size(256)
    device: str = _device()


@dataclass(frozen=True)
class DreamSettings:
    layer: str | None = option(None, f"layer to amplify (default: {_per_model(DREAM_LAYER)})")
    unit: int | None = option(None, "amplify only this unit (channel) of the layer", minimum=0, maximum=1_000_000)
    octaves: int = option(4, "number of scales, smallest first", minimum=1, maximum=16)
    octave_scale: float = option(1.4, "size ratio between octaves", minimum=1.01, maximum=4.0)
    steps: int = option(20, "steps per octave", minimum=1, maximum=MAX_STEPS)
    strength: float = option(1.0, "step size multiplier (2: twice as strong)", minimum=0.0, maximum=100.0)
    jitter: int = option(16, "largest random shift in pixels", minimum=0, maximum=1024)
    seed: int = option(0, "seed of the jitter", minimum=0, maximum=MAX_SEED)
    model: str = _model()
    size: int = _size(512)
    device: str = _device()


UNITS = UnitsSettings()
INVERT = InvertSettings()
DREAM = DreamSettings()
