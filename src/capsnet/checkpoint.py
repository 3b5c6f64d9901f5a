"""Checkpoint files: one torch file holding a run's full state; written atomically, read safely."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError
from .model import Architecture

FORMAT = "capsnet-checkpoint"
VERSION = 1


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write to a temporary file beside ``path``, then rename: a crash never leaves half a checkpoint."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **state}, buffer)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise CheckpointError(f"{path}: folder {folder} does not exist")
    write_atomically(buffer.getvalue(), path)


def write_atomically(data: bytes, path: Path) -> None:
    """Temporary file beside ``path``, then rename, with the permissions a plain open() would give."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private (0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's state; anything that is not one of ours raises CheckpointError naming the file."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        # weights_only: a checkpoint is data (tensors, numbers, strings), never code to run.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 — torch raises many kinds for a damaged or foreign file
        raise CheckpointError(f"{path}: not a readable capsnet checkpoint ({type(err).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a capsnet checkpoint")
    if state.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {state.get('version')}, this capsnet reads {VERSION}")
    return state


def check_architecture(state: dict[str, Any], path: Path, **wanted: Any) -> Architecture:
    """The checkpoint's architecture, refused (naming each difference) where it is not what is ``wanted``."""
    arch = Architecture.from_dict(state["architecture"])
    saved = arch.as_dict()
    differences = [f"{k} {saved.get(k)} != {v}" for k, v in wanted.items() if saved.get(k) != v]
    if differences:
        raise CheckpointError(f"{path}: the checkpoint's architecture differs ({'; '.join(differences)})")
    return arch
