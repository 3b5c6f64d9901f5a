"""The CapsNet of Sabour et al. (2017) and a plain CNN baseline of similar size.

Both take (B, 1, S, S) images in [0, 1] and return class scores in [0, 1] (capsule lengths, or
softmax probabilities for the baseline), so training and evaluation treat them alike.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from .layers import DigitCaps, PrimaryCaps, mask

KINDS = ("capsnet", "baseline")


@dataclass(frozen=True)
class Architecture:
    """Everything that fixes the shapes of the weights; a checkpoint records it and is refused by another."""

    kind: str = "capsnet"
    image_size: int = 28
    conv1_channels: int = 256
    primary_types: int = 32
    primary_dim: int = 8
    digit_dim: int = 16
    classes: int = 10
    routing_iterations: int = 3
    decoder: tuple[int, ...] = (512, 1024)

    @property
    def primary_grid(self) -> int:
        """Side of PrimaryCaps' grid: Conv1 is 9x9 stride 1, PrimaryCaps 9x9 stride 2 (28 -> 20 -> 6)."""
        return (self.image_size - 8 - 9) // 2 + 1

    @property
    def primary_capsules(self) -> int:
        return self.primary_grid**2 * self.primary_types

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "decoder": list(self.decoder)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Architecture:
        known = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in values.items() if k in known}
        if "decoder" in kept:
            kept["decoder"] = tuple(kept["decoder"])
        return cls(**kept)


@dataclass
class Output:
    scores: Tensor  # (B, classes) in [0, 1]: capsule lengths or softmax probabilities
    capsules: Tensor | None = None  # (B, classes, digit_dim) for a CapsNet


class CapsNet(nn.Module):
    """Conv1 (9x9, ReLU) -> PrimaryCaps (9x9 stride 2) -> DigitCaps (routing), plus the decoder."""

    def __init__(self, arch: Architecture):
        super().__init__()
        self.arch = arch
        self.conv1 = nn.Conv2d(1, arch.conv1_channels, 9)
        self.primary = PrimaryCaps(arch.conv1_channels, arch.primary_types, arch.primary_dim)
        self.digits = DigitCaps(arch.primary_capsules, arch.primary_dim, arch.classes, arch.digit_dim, arch.routing_iterations)
        sizes = [arch.classes * arch.digit_dim, *arch.decoder]
        hidden: list[nn.Module] = []
        for a, b in pairwise(sizes):
            hidden += [nn.Linear(a, b), nn.ReLU(inplace=True)]
        self.decoder = nn.Sequential(*hidden, nn.Linear(sizes[-1], arch.image_size**2), nn.Sigmoid())

    def forward(self, x: Tensor) -> Output:
        v = self.digits(self.primary(F.relu(self.conv1(x))))
        return Output(scores=v.norm(dim=-1), capsules=v)

    def decode(self, capsules: Tensor, labels: Tensor) -> Tensor:
        """The image that class ``labels``' capsule describes, (B, 1, S, S); the other capsules are masked."""
        size = self.arch.image_size
        return self.decoder(mask(capsules, labels)).view(-1, 1, size, size)


class BaselineCNN(nn.Module):
    """The paper's baseline shape at this width: three 5x5 convolutions (w, w, w/2), FC 328-192, dropout.

    The paper does not say where it pools; this one max-pools after the first two convolutions,
    the usual reading, so the first FC layer sees a 7x7 grid of a 28x28 input.
    """

    def __init__(self, arch: Architecture):
        super().__init__()
        self.arch = arch
        w = arch.conv1_channels
        self.features = nn.Sequential(
            nn.Conv2d(1, w, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(w, w, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(w, w // 2, 5, padding=2), nn.ReLU(inplace=True),
        )
        grid = arch.image_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(w // 2 * grid * grid, 328), nn.ReLU(inplace=True),
            nn.Linear(328, 192), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(192, arch.classes),
        )

    def forward(self, x: Tensor) -> Output:
        return Output(scores=F.softmax(self.logits(x), dim=1))

    def logits(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


def build_model(arch: Architecture) -> CapsNet | BaselineCNN:
    return CapsNet(arch) if arch.kind == "capsnet" else BaselineCNN(arch)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
