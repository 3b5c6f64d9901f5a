"""`.painterly` files: a trained fast style, its architecture and how it was trained.

A file is a ``torch.save`` of plain data (no pickled classes), read with ``weights_only=True``, so
opening a file from someone else cannot run code. Weights are stored as float16 (half the size;
the pictures differ by less than one 8-bit level) and used as float32.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..errors import ModelError
from .network import Architecture, TransformNet

FORMAT = "painterly-fast-style"
CHECKPOINT_FORMAT = "painterly-fast-checkpoint"
FORMAT_VERSION = 1
SUFFIX = ".painterly"


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
    """Read a .painterly file; ModelError with one line naming the file if it is not a usable one."""
    return _style_from(path, path)


def style_from_bytes(data: bytes, name: str) -> FastStyle:
    """Like :func:`load_style`, for a file's bytes received over a network; messages show ``name``."""
    return _style_from(io.BytesIO(data), name)


def _style_from(source: str | os.PathLike | io.BytesIO, path: str | os.PathLike) -> FastStyle:
    payload = _read(source, FORMAT, path)
    arch = _architecture(payload, path)
    network = TransformNet(arch)
    weights = {k: v.float() for k, v in payload["state_dict"].items()}
    try:
        network.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        raise ModelError(f"{path}: its weights do not fit its declared architecture {arch} ({_first_line(err)})") from None
    network.eval().requires_grad_(False)
    return FastStyle(network=network, name=str(payload.get("name", Path(path).stem)), info=dict(payload.get("info", {})))


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A training checkpoint, as written by :meth:`painterly.fast.train.Trainer.checkpoint`."""
    return _read(path, CHECKPOINT_FORMAT)


def checkpoint_to_bytes(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "format_version": FORMAT_VERSION, **state}, buffer)
    return buffer.getvalue()


def _read(source: str | os.PathLike | io.BytesIO, expected: str, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """``path`` names the file in messages when ``source`` is a buffer of its bytes."""
    path = source if path is None else path
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
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelError(
            f"{path}: written by a newer painterly ({payload.get('painterly_version', '?')}, file format "
            f"{version}); this painterly {__version__} reads format {FORMAT_VERSION}: upgrade painterly"
        )
    return payload


def _architecture(payload: dict[str, Any], path: str | os.PathLike) -> Architecture:
    values = payload.get("architecture")
    try:
        return Architecture(**values)
    except TypeError:
        raise ModelError(f"{path}: unknown network architecture {values!r}") from None


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0][:200]
