"""Applying a fast style without PyTorch: ONNX Runtime, numpy and Pillow only.

Importing torch takes longer than painting a 1024x768 photo (seconds against a tenth of one), so
`fast apply` on a CPU paints from an ONNX graph. The graph is exported from the style file once
(that one run imports torch) and cached under a name made of the file's hash, so every later run
of the same style file starts with ONNX Runtime alone. Nothing in this module imports torch at
module level; :func:`style_session` imports it only on a cache miss.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError, ParameterError
from .onnx_names import PHASES_OUTPUT
from .padding import MARGIN, pad_amounts

# Bump when the exported graph changes for the same style file (a new opset, another layout):
# caches of older exports are then ignored instead of used.
EXPORT_VERSION = "opset17-v4-phases"


def onnx_session(model: bytes, threads: int = 0) -> Any:
    """An ONNX Runtime CPU session for ONNX bytes (``threads`` 0: its own choice); ModelError if
    they are not a usable model."""
    try:
        import onnxruntime
    except ImportError:
        raise ModelError("runtime onnx needs the onnxruntime package: pip install onnxruntime") from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: the library stays quiet
    options.intra_op_num_threads = threads
    try:
        return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for bad models
        raise ModelError(f"not a usable ONNX model: {str(err).splitlines()[0][:200]}") from None


def style_session(style_file: str | os.PathLike, cache_dir: str | os.PathLike | None, threads: int = 0) -> Any:
    """An ONNX Runtime session of a .painterly file's network: from ``cache_dir`` when exported before, else exported
    now (this imports torch, and checks the file as :func:`~painterly.fast.model_file.load_style`
    does) and written there for next time. A cache that cannot be written costs only the export;
    a cached graph ONNX Runtime cannot read is replaced."""
    data = _read_style_file(Path(style_file))
    key = hashlib.sha256(EXPORT_VERSION.encode() + data).hexdigest()[:40]
    cached = Path(cache_dir) / f"{key}.onnx" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        try:
            return onnx_session(cached.read_bytes(), threads)
        except ModelError:
            pass  # damaged (a disk error, an interrupted copy): export again
    from .model_file import style_from_bytes
    from .onnx_export import onnx_bytes

    model = onnx_bytes(style_from_bytes(data, str(style_file)), phases=True)
    if cached is not None:
        from ..io import save_bytes

        try:
            save_bytes(model, cached, what="ONNX cache")
        except Exception:  # noqa: BLE001, S110 - a full disk or a read-only home: paint anyway
            pass
    return onnx_session(model, threads)


def _read_style_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a directory, not a painterly style file") from None
    except OSError as err:
        raise ModelError(f"{path}: cannot read ({err.strerror})") from None


def pad_array(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) -> padded (3, H', W'), exactly as :func:`painterly.fast.network.pad` pads.

    Channels first, as the network takes them: np.pad writes the transposed view into one new
    contiguous array, instead of a padded copy and then a transposed one.
    """
    top, bottom, left, right, mode = pad_amounts(*image.shape[:2])
    channels_first = image.transpose(2, 0, 1)
    return np.pad(channels_first, ((0, 0), (top, bottom), (left, right)), mode="edge" if mode == "replicate" else "reflect")


class OnnxPainter:
    """Callable: (H, W, 3) float image in [0, 1] -> the painted image, same shape, in [0, 1]."""

    def __init__(self, session: Any, *, strength: float = 1.0) -> None:
        """``session``: from :func:`style_session` or :func:`onnx_session`."""
        if not 0.0 <= strength <= 1.0:
            raise ParameterError(f"strength: {strength} is not between 0 and 1")
        self.session = session
        self.input_name = self.session.get_inputs()[0].name
        # Graphs of styles with a full-resolution stage give the picture's four phases (polyphase.py).
        self.phases = self.session.get_outputs()[0].name == PHASES_OUTPUT
        self.strength = strength

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image, dtype=np.float32)
        h, w = image.shape[:2]
        padded = pad_array(image)[None]  # np.pad's result is a new contiguous array
        out = self.session.run(None, {self.input_name: padded})[0]
        if self.phases:
            picture = interleave(out)[0]  # a new array: clipped in place below
        else:
            picture = np.ascontiguousarray(out[0].transpose(1, 2, 0))
        painted = picture[MARGIN : MARGIN + h, MARGIN : MARGIN + w]
        if self.strength < 1.0:
            painted = self.strength * painted + (1.0 - self.strength) * image
        return np.clip(painted, 0.0, 1.0, out=painted)


def interleave(phases: np.ndarray) -> np.ndarray:
    """(N, 4C, h, w) pixel phases -> the (N, 2h, 2w, C) picture, channels last, in one new array.

    Channel 4c + 2a + b holds rows 2i+a, columns 2j+b of channel c (``pixel_shuffle``'s order).
    """
    n, c4, h, w = phases.shape
    c = c4 // 4
    picture = np.empty((n, h, 2, w, 2, c), dtype=phases.dtype)  # (n, i, a, j, b, c)
    by_channel = phases.reshape(n, c, 2, 2, h, w)
    # One channel at a time: 3 ms for a 1024x768 picture, against 7 ms for one 6-D transpose,
    # whose innermost axis (the 3 colours) is too short for numpy to copy quickly.
    for channel in range(c):
        picture[..., channel] = by_channel[:, channel].transpose(0, 3, 1, 4, 2)
    return picture.reshape(n, 2 * h, 2 * w, c)


def resize_array(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Antialiased bicubic resize of an (H, W, 3) float array (Pillow's, channel by channel)."""
    from PIL import Image

    if tuple(image.shape[:2]) == tuple(hw):
        return image
    size = (hw[1], hw[0])
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c]), mode="F").resize(size, Image.Resampling.BICUBIC))
                for c in range(image.shape[2])]
    return np.clip(np.stack(channels, axis=2), 0.0, 1.0)
