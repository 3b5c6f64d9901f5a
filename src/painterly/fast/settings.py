"""The typed settings of training a fast style: the CLI options and the file's record of them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import ParameterError
from ..images import MIN_SIDE
from ..params import (
    COLOR_STATISTICS,
    DEFAULT_MODEL,
    DEVICES,
    MAX_SEED,
    MAX_SIZE,
    MAX_STEPS,
    MAX_WEIGHT,
    PRESERVE_COLORS,
    check_fields,
    option,
    parse_layer_spec,
)

SUFFIX = ".painterly"  # of a style file

RUNTIMES = ("auto", "torch", "onnx")
TEACHERS = ("stylize", "none")
# Videos: how much of the previous painted frame is kept where the photo did not change (0: off),
# and the range `fast apply --smoothing` accepts (checked before any file is touched).
SMOOTHING = 0.5
SMOOTHING_RANGE = (0.0, 0.9)


@dataclass
class TrainSettings:
    teacher: str = option(
        "stylize", "what the network learns to paint: stylize (painterly's own optimised picture of each "
        "training photo, made first; docs/fast.md) or none (the perceptual loss alone, as Johnson et al.)",
        choices=TEACHERS,
    )
    teacher_weight: float = option(7.0, "weight of the mean absolute difference to the teacher's picture (lower: more of the painting's texture, less of the teacher's detail)", minimum=0.0, maximum=MAX_WEIGHT)
    steps: int = option(2000, "training steps (each one batch of random crops)", minimum=1, maximum=10 * MAX_STEPS)
    batch_size: int = option(4, "photo crops per step", minimum=1, maximum=256)
    crop_size: int = option(256, "side of the square random crops, in pixels", minimum=64, maximum=4096)
    early_crop_size: int = option(
        128, "side of the crops of the first --early-fraction of the steps: 4x cheaper than 256 px, and "
        "the network learns the palette and the strokes as well from them", minimum=64, maximum=4096,
    )
    early_fraction: float = option(0.92, "fraction of the steps trained on --early-crop-size crops", minimum=0.0, maximum=1.0)
    photo_size: int = option(
        512, "photos are scaled to this long side before cropping; with --style-size it sets how "
        "large the brush strokes come out relative to a photo", minimum=64, maximum=MAX_SIZE,
    )
    style_size: int = option(512, "long side of the style image when its statistics are taken", minimum=64, maximum=MAX_SIZE)
    content_weight: float = option(1.0, "weight of the content loss (its target: the teacher's picture's features, or the photo's with --teacher none)", minimum=0.0, maximum=MAX_WEIGHT)
    style_weight: float = option(4.0, "weight of the style loss: the copy of the teacher alone averages strokes away (1 kept the scene best, 5 the painting; with --teacher none use 3-5: a network that starts from nothing needs a stronger pull toward the photo than `stylize`'s; 10 lost the scene, docs/fast.md)", minimum=0.0, maximum=MAX_WEIGHT)
    tv_weight: float = option(0.0, "weight of the total-variation smoothness term", minimum=0.0, maximum=MAX_WEIGHT)
    chroma_tv_weight: float = option(
        0.0, "smoothness on colour only (not brightness): removes colour speckle, keeps strokes (the teacher's "
        "picture has none; with --teacher none use 300)", minimum=0.0, maximum=MAX_WEIGHT
    )
    color_weight: float = option(20.0, "weight of matching the style's palette", minimum=0.0, maximum=MAX_WEIGHT)
    color_statistic: str = option(
        "histogram", "what the palette term matches: histogram (the whole distribution of the style's colours) "
        "or moments (their mean and covariance)", choices=COLOR_STATISTICS,
    )
    shading_weight: float = option(
        0.0, "weight of keeping the photo's light and shade (its blurred brightness, in the painting's tones)",
        minimum=0.0, maximum=MAX_WEIGHT,
    )
    learning_rate: float = option(2e-3, "Adam step size", minimum=0.0, maximum=10.0)
    width: int = option(16, "channels of the network's first stage (2x and 3x deeper); wider is slower", minimum=4, maximum=256)
    blocks: int = option(4, "residual blocks of the network", minimum=0, maximum=64)
    full_width: int = option(8, "channels of a last stage at full resolution (0: none, the output is resized from half resolution, which blurs strokes finer than ~4 px)", minimum=0, maximum=256)
    photo_skip: int = option(1, "1: the full-resolution stage also sees the photo, so fine edges need not pass through 1/8 resolution (needs --full-width); 0: it sees only the network's features", minimum=0, maximum=1)
    model: str = option(DEFAULT_MODEL, "backbone whose features define the losses")
    content_layers: str | None = option(None, "content layers as name[:weight],… (default: shallower than stylize's, e.g. b2.out,b4.out,b9.out)")
    style_layers: str | None = option(None, "style layers as name[:weight],… (default: the backbone's)")
    seed: int = option(0, "random seed of the weights and the crops", minimum=0, maximum=MAX_SEED)
    device: str = option("auto", "auto, cpu, cuda or mps", choices=DEVICES)

    def validate(self) -> TrainSettings:
        check_fields(self)
        if self.photo_skip and not self.full_width:
            raise ParameterError("photo_skip: needs a full-resolution stage (full_width > 0)", field="photo_skip")
        for name in ("content_layers", "style_layers"):
            if getattr(self, name) is not None:
                parse_layer_spec(getattr(self, name), name)
        return self

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainSettings:
        """Settings saved by this or another version: unknown keys are dropped, missing ones default."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass
class ApplySettings:
    """How a trained style is applied to one photo (`fast apply`'s picture options, `batch` rows)."""

    size: int = option(0, "scale inputs to this long side first (0: as they are)", minimum=MIN_SIDE, maximum=MAX_SIZE, also=(0,))
    strength: float = option(1.0, "0 keeps the photo, 1 is the full style", minimum=0.0, maximum=1.0)
    preserve_colors: str = option("none", "keep the photo's colours", choices=PRESERVE_COLORS)
    runtime: str = option("auto", "auto: ONNX Runtime on a CPU (faster there), PyTorch on a GPU", choices=RUNTIMES)
    device: str = option("auto", "device of the torch runtime", choices=DEVICES)
    tile_size: int = option(2048, "larger images are painted in overlapping tiles", minimum=128, maximum=MAX_SIZE)

    def validate(self) -> ApplySettings:
        check_fields(self)
        return self
