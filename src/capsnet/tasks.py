"""What one batch is: single digits (with random shifts), or MultiMNIST's overlapping pairs.

A batch carries the input, the classes present (one-hot, or two-hot for pairs) and, for the
decoder, which capsule to reconstruct into which target image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .data import Split

MULTI_SIZE = 36  # the paper's MultiMNIST canvas
MULTI_SHIFT = 4  # each digit shifted by up to 4 px in each direction


@dataclass
class Batch:
    images: Tensor  # (B, 1, S, S) in [0, 1]
    targets: Tensor  # (B, classes): 1 where a class is present
    labels: Tensor  # (B,) the (first) class, or (B, 2) for pairs
    reconstructions: list[tuple[Tensor, Tensor]]  # (labels (B,), target images (B, 1, S, S))


def random_shift(images: Tensor, limit: int, generator: torch.Generator) -> Tensor:
    """Move each image by whole pixels, up to ``limit`` in x and y, filling with zeros (the paper's augmentation)."""
    if limit == 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, (limit, limit, limit, limit))
    offsets = torch.randint(0, 2 * limit + 1, (n, 2), generator=generator)
    rows = (offsets[:, 0, None] + torch.arange(h)).view(n, 1, h, 1).expand(n, 1, h, w)
    cols = (offsets[:, 1, None] + torch.arange(w)).view(n, 1, 1, w).expand(n, 1, h, w)
    return _take(padded, rows, cols)


def _take(padded: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """padded[k, 0, rows[k, 0, y, x], cols[k, 0, y, x]] for every k, y, x."""
    n, c, h, w = rows.shape
    index = rows * padded.shape[-1] + cols
    return padded.flatten(2).gather(2, index.flatten(2)).view(n, c, h, w)


def single_batch(split: Split, index: Tensor, shift: int, generator: torch.Generator, classes: int) -> Batch:
    images = split.images[index].unsqueeze(1).float() / 255.0
    images = random_shift(images, shift, generator)
    labels = split.labels[index]
    return Batch(images, F.one_hot(labels, classes).float(), labels, [(labels, images)])


def pair_partners(labels: Tensor, generator: torch.Generator) -> Tensor:
    """For each example, a random partner of another class (the paper pairs digits of different classes)."""
    n = labels.shape[0]
    partners = torch.randint(0, n, (n,), generator=generator)
    clash = labels[partners] == labels
    while bool(clash.any()):
        partners[clash] = torch.randint(0, n, (int(clash.sum()),), generator=generator)
        clash = labels[partners] == labels
    return partners


def place(images: Tensor, generator: torch.Generator) -> Tensor:
    """28x28 digits onto the 36x36 canvas, each shifted by up to 4 px from the centre."""
    pad = (MULTI_SIZE - images.shape[-1]) // 2
    return random_shift(F.pad(images, (pad, pad, pad, pad)), MULTI_SHIFT, generator)


def multi_batch(split: Split, index: Tensor, partners: Tensor, generator: torch.Generator, classes: int) -> Batch:
    """Two digits of different classes overlaid (sum clipped to 1) on a 36x36 canvas."""
    first = place(split.images[index].unsqueeze(1).float() / 255.0, generator)
    second = place(split.images[partners].unsqueeze(1).float() / 255.0, generator)
    a, b = split.labels[index], split.labels[partners]
    targets = (F.one_hot(a, classes) + F.one_hot(b, classes)).clamp(max=1).float()
    return Batch((first + second).clamp(max=1.0), targets, torch.stack([a, b], 1), [(a, first), (b, second)])
