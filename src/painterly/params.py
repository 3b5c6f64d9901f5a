"""The one typed description of style-transfer parameters.

The Python API, the CLI options and (later) the web form are all built from :class:`StyleParams`,
so each default and help text lives here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from .errors import ParameterError
from .images import MIN_SIDE

# The backbone every command uses unless told otherwise: small, fast on a CPU, weights ship with pip.
DEFAULT_MODEL = "efficientnet-lite0"
DEVICES = ("auto", "cpu", "cuda", "mps")
INITS = ("content", "noise", "mixed")
POOLINGS = ("max", "avg")
PRESERVE_COLORS = ("none", "luminance", "histogram")
STYLE_STATISTICS = ("gram", "moments", "sliced")
COLOR_STATISTICS = ("histogram", "moments")
SMOOTHINGS = ("none", "softmax")
# Steps of the first and of the last pyramid level for each --quality preset (levels in between
# go geometrically from one to the other). A level's step costs about twice the one before, and
# the last level starts from an upsampled picture that already holds the composition, so it needs
# the fewest steps and costs the most per step (docs/speed.md).
QUALITY_STEPS = {"draft": (15, 10), "normal": (60, 40), "high": (150, 100)}
# Ranges shared by every command and the server (docs/reliability.md): beyond them a run would
# only end in an allocator or overflow error. Memory is checked separately, per machine.
MAX_SIZE = 16384
MAX_SEED = 2**63 - 1  # what torch.Generator.manual_seed accepts
MAX_WEIGHT = 1e9
MAX_STEPS = 100_000


def option(default: Any, help: str, **extra: Any) -> Any:
    """A dataclass field carrying its help text and limits (choices, minimum, maximum, nargs).

    Every number gets both a minimum and a maximum: the CLI, the Python API and the server's
    schema all check the same range (tests/test_hardening.py makes sure none is missing).
    """
    return field(default=default, metadata={"help": help, **extra})


def check_fields(obj: Any) -> None:
    """Raise ParameterError naming the first field of ``obj`` outside its choices or limits."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise ParameterError(f"{f.name}: {value!r} is not one of {', '.join(choices)}", field=f.name)
        minimum, maximum = f.metadata.get("minimum"), f.metadata.get("maximum")
        if value in f.metadata.get("also", ()):  # a value with its own meaning outside the range (size 0: as it is)
            continue
        if (minimum is not None or maximum is not None) and value is not None:
            for v in value if isinstance(value, list) else [value]:
                check_range(f.name, v, minimum, maximum)


def check_range(name: str, value: Any, minimum: float | None, maximum: float | None) -> None:
    """ParameterError naming ``name`` unless ``value`` is a finite number within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"{name}: expected a number, got {short_number(value)}", field=name)
    if not math.isfinite(value):
        raise ParameterError(f"{name}: must be a finite number, got {value}", field=name)
    if minimum is not None and value < minimum:
        raise ParameterError(f"{name}: {short_number(value)} is below the minimum {short_number(minimum)}", field=name)
    if maximum is not None and value > maximum:
        raise ParameterError(f"{name}: {short_number(value)} is above the maximum {short_number(maximum)}", field=name)


def short_number(value: Any) -> str:
    """A number as a message shows it: 1e+308, not 309 digits."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return f"{value:.3g}"
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


@dataclass
class StyleParams:
    size: int = option(512, "long side of the output in pixels", minimum=MIN_SIDE, maximum=MAX_SIZE)
    model: str = option(DEFAULT_MODEL, "backbone network (see `painterly models`)")
    quality: str = option("normal", "preset trading time for quality: draft, normal or high", choices=tuple(QUALITY_STEPS))
    iterations: int | None = option(None, "optimisation steps per pyramid level (default: set by --quality)", minimum=1, maximum=MAX_STEPS)
    optimizer: str = option("lbfgs", "lbfgs (best quality per step) or adam", choices=("lbfgs", "adam"))
    learning_rate: float | None = option(None, "step size; default 1.0 for lbfgs, 0.02 for adam", minimum=0.0, maximum=1000.0)
    content_weight: float = option(3.0, "weight of the content loss", minimum=0.0, maximum=MAX_WEIGHT)
    style_weight: float = option(15.0, "weight of the style loss", minimum=0.0, maximum=MAX_WEIGHT)
    tv_weight: float = option(0.0, "weight of the total-variation smoothness term", minimum=0.0, maximum=MAX_WEIGHT)
    color_weight: float = option(20.0, "weight of matching the style's palette (its colours' histogram or moments)", minimum=0.0, maximum=MAX_WEIGHT)
    shading_weight: float = option(
        15.0, "weight of keeping the photo's light and shade (its blurred brightness, in the painting's tones)",
        minimum=0.0, maximum=MAX_WEIGHT,
    )
    color_statistic: str = option(
        "histogram", "what the palette term matches: histogram (the whole distribution of the style's colours) "
        "or moments (their mean and covariance); masks always use moments", choices=COLOR_STATISTICS,
    )
    chroma_tv_weight: float = option(
        50.0, "extra smoothness on colour only (not brightness): removes colour speckle, keeps strokes", minimum=0.0, maximum=MAX_WEIGHT
    )
    style_statistic: str = option(
        "gram", "what is matched per style layer: gram (Gatys et al.), moments (mean and covariance) or sliced "
        "(the whole distribution of the activations, Heitz et al. 2021)",
        choices=STYLE_STATISTICS,
    )
    activation_smoothing: str = option(
        "none", "softmax over each style layer's activations before its statistics (Wang et al. 2021); for ReLU taps",
        choices=SMOOTHINGS,
    )
    average: float = option(
        0.0, "decay of a running average of the pixels over the steps (e.g. 0.9); 0: off", minimum=0.0, maximum=0.999
    )
    strength: float = option(1.0, "how much style: 0 keeps the photo, 1 is the full style", minimum=0.0, maximum=1.0)
    preserve_colors: str = option(
        "none", "keep the photo's colours: luminance (style changes brightness only) or histogram "
        "(style recoloured to the photo's palette first)", choices=PRESERVE_COLORS
    )
    style_weights: list[float] | None = option(
        None, "blend weights, one per style image (default: equal)", nargs="+", minimum=0.0, maximum=MAX_WEIGHT
    )
    pyramid_start: int = option(
        128, "long side of the first level of the coarse-to-fine pyramid (sizes grow by sqrt(2)); 0: full size only", minimum=0, maximum=MAX_SIZE
    )
    tile_size: int = option(
        1024, "levels larger than this are refined in overlapping tiles of this size, to bound memory", minimum=64, maximum=MAX_SIZE
    )
    style_scale: float = option(1.0, "size of the style image relative to the output (0.5 = smaller brush strokes)", minimum=0.05, maximum=8.0)
    content_layers: str | None = option(None, "content layers as name[:weight],… (default: the backbone's)")
    style_layers: str | None = option(None, "style layers as name[:weight],… (default: the backbone's)")
    init: str = option("content", "start image: content, noise, mixed, or the path of an image")
    seed: int = option(0, "random seed; the same seed gives the same picture on the CPU", minimum=0, maximum=MAX_SEED)
    device: str = option("auto", "auto, cpu, cuda or mps", choices=DEVICES)
    pooling: str = option("max", "pooling of VGG backbones: max or avg", choices=POOLINGS)

    def validate(self) -> StyleParams:
        """Raise ParameterError naming the first invalid field; return self for chaining."""
        check_fields(self)
        if self.style_weights is not None and sum(self.style_weights) <= 0:
            raise ParameterError("style_weights: must add up to more than 0", field="style_weights")
        if self.content_layers is not None:
            parse_layer_spec(self.content_layers, "content_layers")
        if self.style_layers is not None:
            parse_layer_spec(self.style_layers, "style_layers")
        return self

    @property
    def steps_per_level(self) -> int:
        """Steps of the first (or only) level."""
        return self.iterations or QUALITY_STEPS[self.quality][0]

    def steps_for_level(self, level: int, levels: int) -> int:
        """Steps of pyramid level ``level`` (0-based) of ``levels``; --iterations sets them all."""
        if self.iterations or levels <= 1:
            return self.steps_per_level
        first, last = QUALITY_STEPS[self.quality]
        return max(1, round(first * (last / first) ** (level / (levels - 1))))

    @property
    def effective_style_weight(self) -> float:
        """style_weight scaled by strength on a log scale: each third of the slider is 10x.

        A linear scale would do almost nothing until the very end, because the picture responds
        to the ratio of style to content weight, and that ratio spans orders of magnitude.
        """
        if self.strength <= 0:
            return 0.0
        return self.style_weight * 10 ** (3 * (self.strength - 1))

    def replace(self, **changes: Any) -> StyleParams:
        return dataclasses.replace(self, **changes)


def parse_layer_spec(spec: str, field_name: str = "layers") -> dict[str, float]:
    """'b1.dw:2,b3.dw' -> {'b1.dw': 2.0, 'b3.dw': 1.0}. Names are checked later, by the backbone."""
    layers: dict[str, float] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, weight = part.partition(":")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise ParameterError(f"{field_name}: weight {weight!r} of layer {name!r} is not a number", field=field_name) from None
        if value < 0 or value != value:
            raise ParameterError(f"{field_name}: weight of layer {name!r} must be >= 0", field=field_name)
        layers[name.strip()] = value
    if not layers or sum(layers.values()) <= 0:
        raise ParameterError(f"{field_name}: give at least one layer with a positive weight", field=field_name)
    return layers


def layers_or_default(spec: str | None, default: dict[str, float], field_name: str) -> dict[str, float]:
    """The layers a user named, or the backbone's defaults when they named none."""
    return parse_layer_spec(spec, field_name) if spec else dict(default)


def field_type(hint: Any) -> tuple[type, bool]:
    """The type of a settings field's values: int | None -> (int, False); list[float] | None -> (float, True)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = [a for a in typing.get_args(hint) if a is not type(None)][0]
    if typing.get_origin(hint) is list:
        return typing.get_args(hint)[0], True
    return hint, False
