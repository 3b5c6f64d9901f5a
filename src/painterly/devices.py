"""Choosing the torch device from a user's word for it."""

from __future__ import annotations

import torch

from .errors import ParameterError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """'auto' picks CUDA, then Apple MPS, then the CPU; an unavailable explicit choice is an error."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ParameterError("device: cuda was asked for but no CUDA GPU is available to this torch build")
    if name == "mps" and not _mps_available():
        raise ParameterError("device: mps was asked for but Apple's Metal backend is not available")
    if name not in ("cpu", "cuda", "mps"):
        raise ParameterError(f"device: {name!r} is not one of auto, cpu, cuda, mps")
    return torch.device(name)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())
