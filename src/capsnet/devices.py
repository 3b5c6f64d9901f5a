"""Choosing the torch device from a user's word for it."""

from __future__ import annotations

import torch

from .errors import SettingError


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA, then Apple's MPS, then the CPU; an unavailable explicit choice is an error."""
    mps = getattr(torch.backends, "mps", None)
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": bool(mps and mps.is_available())}
    if name == "auto":
        return torch.device(next(d for d in ("cuda", "mps", "cpu") if available[d]))
    if name not in available:
        raise SettingError(f"device: {name!r} is not one of auto, cpu, cuda, mps")
    if not available[name]:
        raise SettingError(f"device: {name} was asked for but is not available to this torch build")
    return torch.device(name)
