"""The Backbone base class, layer metadata and receptive-field arithmetic shared by all backbones."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ModelError, ParameterError
from ..suggest import unknown_name_message


def one_line(err: BaseException, limit: int = 300) -> str:
    """An exception's text squeezed onto one short line (torch's load errors span many)."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class LayerInfo:
    """Where a tap sits. Coordinates are input pixel indices (pixel 0's centre is 0.0).

    Unit i's receptive field is centred on ``offset + i * stride`` and spans ``receptive_field``
    pixels. A global layer (``kind == "logits"``) sees the whole image: stride and
    receptive_field are 0 there.
    """

    name: str
    channels: int
    stride: int
    receptive_field: int
    offset: float
    kind: str


@dataclass(frozen=True)
class WeightsInfo:
    source: str
    url: str | None
    sha256_prefix: str | None
    licence: str
    filename: str | None


@dataclass(frozen=True)
class Field:
    """Receptive-field state of a feature grid: jump (stride), size, centre of unit 0."""

    jump: int = 1
    size: int = 1
    start: float = 0.0

    def through(self, kernel: int, stride: int, padding: int, dilation: int = 1) -> Field:
        # The standard recurrence, applied once per spatial module in order:
        #   jump_out  = jump_in * s
        #   rf_out    = rf_in + (k - 1) * jump_in
        #   start_out = start_in + ((k - 1) / 2 - p) * jump_in
        # where p is the padding before the first input column (left/top) and k the
        # effective (dilated) kernel size.
        k = (kernel - 1) * dilation + 1
        return Field(
            jump=self.jump * stride,
            size=self.size + (k - 1) * self.jump,
            start=self.start + ((k - 1) / 2 - padding) * self.jump,
        )


def _square(value: int | tuple[int, ...], what: str, module: nn.Module) -> int:
    values = value if isinstance(value, tuple) else (value,)
    if len(set(values)) != 1:
        raise ValueError(f"non-square {what} {value} in {module}; receptive fields assume squares")
    return int(values[0])


def module_field(field: Field, module: nn.Module) -> Field:
    """Advance ``field`` through one module, reading its geometry from its own attributes."""
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return Field(jump=0, size=0, start=0.0)  # global: every unit sees the whole image
    if not isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        return field  # pointwise (activation, batch norm, linear head): geometry unchanged
    # TF-style "same" convolutions pad asymmetrically at run time; they say how much goes
    # before the first column in `left_padding`, ordinary modules in `padding`.
    padding = getattr(module, "left_padding", module.padding)
    stride = module.stride if module.stride is not None else module.kernel_size
    return field.through(
        kernel=_square(module.kernel_size, "kernel", module),
        stride=_square(stride, "stride", module),
        padding=_square(padding, "padding", module),  # type: ignore[arg-type]  # "same" never reaches here: TF padding is explicit
        dilation=_square(getattr(module, "dilation", 1), "dilation", module),
    )


def _contiguous(grad: Tensor) -> Tensor:
    """Hand the layers below a tap a contiguous gradient.

    Works around a PyTorch CPU bug (seen in 2.13): eval-mode batch norm computes a wrong input
    gradient when the gradient of its output is not contiguous, which is what a loss like
    ``(f * w) @ f.transpose(1, 2)`` sends back (the masked Gram matrix did; the gradient even
    changed sign). tests/test_backbones.py checks the gradient against finite differences.
    """
    return grad.contiguous()


class Backbone(nn.Module):
    """A frozen ImageNet network whose intermediate activations ("taps") can be read by name.

    Subclasses implement ``_taps(x)``, a generator yielding ``(name, activation)`` shallow to
    deep from the normalised input, and ``_layer_plan()``, yielding ``(name, kind, modules)``
    with the modules on the longest path since the previous tap (for metadata). Because
    ``_taps`` is lazy, ``forward`` stops computing as soon as it has every requested layer.
    """

    name: str
    layers: dict[str, LayerInfo]
    default_content_layers: dict[str, float]
    default_style_layers: dict[str, float]

    mean: Tensor  # buffers (see __init__), declared so checkers know they are tensors
    std: Tensor

    def __init__(self, name: str, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.name = name
        self.cut_after: str | None = None
        self._dropped_layers: tuple[str, ...] = ()  # taps removed by cut()
        # Not persistent: weight files don't carry them and strict loading must not expect them.
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def _taps(self, x: Tensor) -> Iterator[tuple[str, Tensor]]:
        raise NotImplementedError

    def _layer_plan(self) -> Iterator[tuple[str, str, list[nn.Module]]]:
        raise NotImplementedError

    def _drop_modules_after(self, name: str) -> None:
        raise NotImplementedError

    def _describe_layers(self) -> dict[str, LayerInfo]:
        field, channels, layers = Field(), 3, {}
        for name, kind, modules in self._layer_plan():
            for module in modules:
                field = module_field(field, module)
                channels = getattr(module, "out_channels", getattr(module, "out_features", channels))
            layers[name] = LayerInfo(name, channels, field.jump, field.size, field.start, kind)
        return layers

    def check_layers(self, names: Iterable[str]) -> None:
        for name in names:
            if name in self.layers:
                continue
            if name in self._dropped_layers:
                raise ModelError(
                    f"layer {name!r} of backbone {self.name} is deeper than cut_after={self.cut_after!r}"
                )
            raise ModelError(f"{self.name}: {unknown_name_message('layer', name, self.layers)}")

    def forward(self, image: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        """Activations of ``layers`` for an sRGB image batch (B, 3, H, W) in [0, 1]."""
        wanted = list(dict.fromkeys([layers] if isinstance(layers, str) else layers))
        self.check_layers(wanted)
        if image.dim() != 4 or image.shape[1] != 3:
            raise ParameterError(f"image must have shape (B, 3, H, W), got {tuple(image.shape)}")
        found: dict[str, Tensor] = {}
        if wanted:
            for name, activation in self._taps((image - self.mean) / self.std):
                if name in wanted:
                    if activation.requires_grad:
                        activation.register_hook(_contiguous)
                    found[name] = activation
                if len(found) == len(wanted):
                    break  # early exit: deeper modules never run
        return {name: found[name] for name in wanted}

    def cut(self, name: str) -> None:
        """Drop modules deeper than ``name``; ``layers`` then ends there."""
        self.check_layers([name])
        self._drop_modules_after(name)
        names = list(self.layers)
        keep = names.index(name) + 1
        self.layers = {n: self.layers[n] for n in names[:keep]}
        self._dropped_layers = tuple(names[keep:])
        self.cut_after = name

    def freeze(self) -> Backbone:
        self.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> Backbone:
        # Always eval: a caller's .train() must not switch batch norm to batch statistics
        # (or update running stats) on a network we only use as a fixed feature extractor.
        return super().train(False)
