"""Applying a trained fast style to an image: one forward pass, in PyTorch or ONNX Runtime."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from .. import tiles
from ..colors import match_histogram, transfer_luminance
from ..devices import resolve_device
from ..errors import ParameterError
from ..params import PRESERVE_COLORS
from .model_file import FastStyle
from .network import crop, pad
from .settings import RUNTIMES

Runner = Callable[[Tensor], Tensor]  # padded (1,3,H,W) -> padded output


class FastStylizer:
    """Callable: (1,3,H,W) image in [0,1] -> the stylised image, same size, on the CPU.

    ``runtime="auto"`` uses ONNX Runtime on a CPU (about 1.7x faster than PyTorch there, see
    docs/fast.md) and PyTorch on a GPU.

    Images with a long side above ``tile_size`` are processed in overlapping tiles blended with
    linear ramps, so memory stays bounded. Instance normalisation sees each tile's own statistics,
    so tiles are large and overlap widely (1/4 of a tile) to keep their colours together.
    """

    def __init__(
        self,
        style: FastStyle,
        *,
        runtime: str = "auto",
        device: str = "auto",
        strength: float = 1.0,
        preserve_colors: str = "none",
        tile_size: int = 2048,
    ):
        if runtime not in RUNTIMES:
            raise ParameterError(f"runtime: {runtime!r} is not one of {', '.join(RUNTIMES)}")
        if not 0.0 <= strength <= 1.0:
            raise ParameterError(f"strength: {strength} is not between 0 and 1")
        if preserve_colors not in PRESERVE_COLORS:
            raise ParameterError(f"preserve_colors: {preserve_colors!r} is not one of {', '.join(PRESERVE_COLORS)}")
        if tile_size < 128:
            raise ParameterError(f"tile_size: {tile_size} is below the minimum 128")
        self.style = style
        self.strength = strength
        self.preserve_colors = preserve_colors
        self.tile_size = tile_size
        target = resolve_device(device)
        if runtime == "auto":
            runtime = "onnx" if target.type == "cpu" and _has_onnxruntime() else "torch"
        self.runtime = runtime
        self.run_padded = _onnx_runner(style) if runtime == "onnx" else _torch_runner(style, target)

    def __call__(self, image: Tensor) -> Tensor:
        image = image.float().cpu()
        h, w = image.shape[-2:]
        if max(h, w) <= self.tile_size:
            painted = self._whole(image)
        else:
            painted = self._in_tiles(image)
        if self.preserve_colors == "luminance":
            painted = transfer_luminance(painted, image)
        elif self.preserve_colors == "histogram":
            painted = match_histogram(painted, image)
        if self.strength < 1.0:
            painted = self.strength * painted + (1.0 - self.strength) * image
        return painted.clamp(0, 1)

    def _whole(self, image: Tensor) -> Tensor:
        h, w = image.shape[-2:]
        return crop(self.run_padded(pad(image)), h, w)

    def _in_tiles(self, image: Tensor) -> Tensor:
        h, w = image.shape[-2:]
        overlap = self.tile_size // 4
        # A weighted mean of the tiles (not tiles.blend_into, which blends over an existing
        # picture): every pixel's weights sum to 1 however many tiles cover it.
        total = torch.zeros_like(image)
        weight = torch.zeros_like(image[:, :1])
        for y0, y1, x0, x1 in tiles.tile_boxes(h, w, self.tile_size, overlap):
            ramp = tiles.feather((y0, y1, x0, x1), h, w, overlap)
            total[..., y0:y1, x0:x1] += ramp * self._whole(image[..., y0:y1, x0:x1])
            weight[..., y0:y1, x0:x1] += ramp
        return total / weight


def _has_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


def _torch_runner(style: FastStyle, device: torch.device) -> Runner:
    network = style.network.to(device).eval()

    def run(padded: Tensor) -> Tensor:
        with torch.inference_mode():
            return network.padded_forward(padded.to(device)).float().cpu()

    return run


def _onnx_runner(style: FastStyle) -> Runner:
    from .onnx_apply import onnx_session
    from .onnx_export import onnx_bytes
    from .onnx_names import PHASES_OUTPUT

    session = onnx_session(onnx_bytes(style, phases=True))
    name = session.get_inputs()[0].name
    phases = session.get_outputs()[0].name == PHASES_OUTPUT

    def run(padded: Tensor) -> Tensor:
        out = torch.from_numpy(session.run(None, {name: np.ascontiguousarray(padded.numpy(), dtype=np.float32)})[0])
        return torch.nn.functional.pixel_shuffle(out, 2) if phases else out

    return run
