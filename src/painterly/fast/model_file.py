"""`.painterly` files: a trained fast style, its architecture and how it was trained.

A file is a ``torch.save`` of plain data (no pickled classes), read with ``weights_only=True``, so
opening a file from someone else cannot run code. Weights are stored as float16 (half the size;
the pictures differ by less than one 8-bit level) and used as float32.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..errors import ModelError
from .network import Architecture, TransformNet
from .settings import TrainSettings

FORMAT = "painterly-fast-style"
CHECKPOINT_FORMAT = "painterly-fast-checkpoint"
FORMAT_VERSION = 1


@dataclass
class FastStyle:
    """A trained network plus what a user may want to know about it."""

    network: TransformNet
    name: str
    info: dict[str, Any] = field(default_factory=dict)  # style file, steps, time, settings, version


def style_to_bytes(style: FastStyle) -> bytes:
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "painterly_version": __version__,
        "name": style.name,
        "architecture": style.network.arch.as_dict(),
        "state_dict": {k: v.detach().to("cpu", torch.float16) for k, v in style.network.state_dict().items()},
        "info": style.info,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def load_style(path: str | os.PathLike) -> FastStyle:
    """Read a .painterly file; ModelError with one line naming the file if it is not a usable one.

    A file that unpickles safely may still be anything: every field is checked for its type and
    range before a network is built, and the weights for being finite (NaN weights paint black).
    """
    return _style_from(path, path)


def style_from_bytes(data: bytes, name: str) -> FastStyle:
    """Like :func:`load_style`, for a file's bytes received over a network; messages show ``name``."""
    return _style_from(io.BytesIO(data), name)


def _style_from(source: str | os.PathLike | io.BytesIO, path: str | os.PathLike) -> FastStyle:
    payload = _read(source, FORMAT, path)
    arch = _architecture(payload, path)
    weights = _weights(payload, path)
    name = payload.get("name", Path(path).stem)
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ModelError(f"{path}: field 'name' must be a short text, got {_show(name)}")
    info = payload.get("info", {})
    if not isinstance(info, dict) or not all(isinstance(k, str) for k in info):
        raise ModelError(f"{path}: field 'info' must be a mapping of names to values, got {_show(info)}")
    try:
        network = TransformNet(arch)  # refuses what the ranges alone allow: a skip with no full-resolution stage
    except ValueError as err:
        raise ModelError(f"{path}: architecture: {err}") from None
    try:
        network.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        raise ModelError(f"{path}: its weights do not fit its declared architecture {arch} ({_first_line(err)})") from None
    network.eval().requires_grad_(False)
    return FastStyle(network=network, name=" ".join(name.split()), info=dict(info))


def _weights(payload: dict[str, Any], path: str | os.PathLike) -> dict[str, torch.Tensor]:
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not state:
        raise ModelError(f"{path}: field 'state_dict' is missing or not a mapping of weights")
    weights = {}
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise ModelError(f"{path}: field 'state_dict' holds {_show(key)} = {type(value).__name__}, not float weights")
        value = value.float()
        if not torch.isfinite(value).all():
            raise ModelError(f"{path}: weight {key!r} holds NaN or infinite values; the file is damaged")
        weights[key] = value
    return weights


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A training checkpoint, as written by :meth:`painterly.fast.train.Trainer.checkpoint`."""
    return _read(path, CHECKPOINT_FORMAT)


def checkpoint_to_bytes(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "format_version": FORMAT_VERSION, **state}, buffer)
    return buffer.getvalue()


def _read(source: str | os.PathLike | io.BytesIO, expected: str, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """``path`` names the file in messages when ``source`` is a buffer of its bytes."""
    path = path if path is not None else source if not isinstance(source, io.BytesIO) else "buffer"
    what = "painterly style" if expected == FORMAT else "painterly training checkpoint"
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a directory, not a {what} file") from None
    except Exception:  # noqa: BLE001 - garbage makes the unpickler fail in many ways (IndexError, …)
        raise ModelError(f"{path}: not a {what} file (unreadable or truncated)") from None
    if not isinstance(payload, dict) or payload.get("format") != expected:
        raise ModelError(f"{path}: not a {what} file")
    version = payload.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelError(f"{path}: field 'format_version' must be a whole number >= 1, got {_show(version)}; the file is damaged")
    if version > FORMAT_VERSION:
        raise ModelError(
            f"{path}: written by a newer painterly ({payload.get('painterly_version', '?')}, file format "
            f"{version}); this painterly {__version__} reads format {FORMAT_VERSION}: upgrade painterly"
        )
    return payload


# What a file may declare: TransformNet would build (or try to allocate) anything it is given.
# The same ranges `fast train --width/--blocks` accepts (TrainSettings), read from there.
ARCHITECTURE_RANGES = {
    f.name: (f.metadata["minimum"], f.metadata["maximum"]) for f in fields(TrainSettings) if f.name in ("width", "blocks", "full_width", "photo_skip")
}


def _architecture(payload: dict[str, Any], path: str | os.PathLike) -> Architecture:
    values = payload.get("architecture")
    if isinstance(values, dict):
        # Files from before the full-resolution stage and the photo skip have neither.
        values = {"full_width": 0, "photo_skip": 0, **values}
    if not isinstance(values, dict) or set(values) != set(ARCHITECTURE_RANGES):
        raise ModelError(f"{path}: unknown network architecture {_show(values)}")
    for key, (lo, hi) in ARCHITECTURE_RANGES.items():
        v = values[key]
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ModelError(f"{path}: architecture field {key!r} must be a whole number from {lo} to {hi}, got {_show(v)}")
    return Architecture(**values)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0][:200]
