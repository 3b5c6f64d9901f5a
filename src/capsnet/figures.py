"""The paper's pictures as Pillow images: reconstructions (Fig. 3), dimension perturbations
(Fig. 4) and MultiMNIST reconstructions in two colours (Fig. 5). Nothing here writes files.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from .model import CapsNet

PERTURBATIONS = tuple(round(-0.25 + 0.05 * k, 2) for k in range(11))  # the paper's -0.25 … 0.25 in 0.05 steps
SCALE = 2  # each 28x28 digit is drawn at 56x56
GAP = 4
INK = (255, 255, 255)


def _tile(image: Tensor, colour: tuple[float, float, float] | None = None) -> Image.Image:
    """A (1, S, S) or (3, S, S) tensor in [0, 1] as an upscaled RGB tile."""
    array = image.detach().cpu().clamp(0, 1).numpy()
    if array.shape[0] == 1:
        array = np.repeat(array, 3, axis=0) * np.array(colour or (1, 1, 1), dtype=np.float32)[:, None, None]
    tile = Image.fromarray((array.transpose(1, 2, 0) * 255).round().astype(np.uint8))
    return tile.resize((tile.width * SCALE, tile.height * SCALE), Image.Resampling.NEAREST)


def _grid(rows: list[list[Image.Image | None]], left: list[str], top: list[str], header: int = 14, margin: int = 40) -> Image.Image:
    """Tiles in rows and columns on black, with a label left of each row and above each column."""
    size = next(t.width for row in rows for t in row if t is not None)
    columns = max(len(r) for r in rows)
    sheet = Image.new("RGB", (margin + columns * (size + GAP), header + len(rows) * (size + GAP)))
    draw = ImageDraw.Draw(sheet)
    for c, text in enumerate(top):
        draw.text((margin + c * (size + GAP) + 2, 1), text, fill=INK)
    for r, row in enumerate(rows):
        y = header + r * (size + GAP)
        draw.text((2, y + size // 2 - 6), left[r] if r < len(left) else "", fill=INK)
        for c, tile in enumerate(row):
            if tile is not None:
                sheet.paste(tile, (margin + c * (size + GAP), y))
    return sheet


@torch.no_grad()
def perturbation_rows(model: CapsNet, image: Tensor) -> tuple[Tensor, int]:
    """Decodes of one image's longest capsule with each dimension moved by each of PERTURBATIONS.

    Returns (dims, steps, 1, S, S) and the class. As in the paper, one dimension changes at a
    time and the others keep the values the network computed for this image.
    """
    model.eval()
    out = model(image.unsqueeze(0))
    assert out.capsules is not None
    label = int(out.scores.argmax(1))
    capsule = out.capsules[0, label]
    dims, steps = capsule.shape[0], len(PERTURBATIONS)
    tweaked = capsule.repeat(dims, steps, 1)  # (dims, steps, dim)
    delta = torch.tensor(PERTURBATIONS, dtype=capsule.dtype, device=capsule.device)
    tweaked[torch.arange(dims), :, torch.arange(dims)] += delta
    capsules = torch.zeros(dims * steps, out.capsules.shape[1], dims, device=capsule.device)
    capsules[:, label] = tweaked.view(-1, dims)
    labels = torch.full((dims * steps,), label, device=capsule.device)
    return model.decode(capsules, labels).view(dims, steps, *image.shape), label


def perturbation_sheet(model: CapsNet, images: Tensor) -> Image.Image:
    """For each image (N, 1, S, S): 16 rows (capsule dimensions) x 11 columns (-0.25 … +0.25),
    the input at the left of its first row."""
    rows, left = [], []
    for image in images:
        decoded, label = perturbation_rows(model, image)
        for d in range(decoded.shape[0]):
            rows.append([_tile(image) if d == 0 else None] + [_tile(t) for t in decoded[d]])
            left.append(f"{label}:d{d}")
    return _grid(rows, left, ["input"] + [f"{p:+.2f}" for p in PERTURBATIONS])


@torch.no_grad()
def reconstruction_sheet(model: CapsNet, images: Tensor, labels: Tensor) -> Image.Image:
    """Inputs (top of each pair of rows) and their reconstructions from the longest capsule (below),
    each column headed `true/predicted`, like the paper's Fig. 3."""
    model.eval()
    out = model(images)
    assert out.capsules is not None
    predicted = out.scores.argmax(1)
    decoded = model.decode(out.capsules, predicted)
    heads = [f"{int(t)}/{int(p)}" for t, p in zip(labels, predicted)]
    return _grid([[_tile(x) for x in images], [_tile(x) for x in decoded]], ["input", "recon"], heads)


@torch.no_grad()
def multi_sheet(model: CapsNet, images: Tensor, labels: Tensor) -> Image.Image:
    """MultiMNIST pairs: the input (top) and, below, the reconstructions from the two longest
    capsules in red and green over each other (the paper's Fig. 5). Headed `L:a,b R:p,q`."""
    model.eval()
    out = model(images)
    assert out.capsules is not None
    top2 = out.scores.topk(2, dim=1).indices
    red = model.decode(out.capsules, top2[:, 0])
    green = model.decode(out.capsules, top2[:, 1])
    overlays = torch.cat([red, green, torch.zeros_like(red)], dim=1)
    heads = [f"L:{int(a)},{int(b)} R:{int(p)},{int(q)}" for (a, b), (p, q) in zip(labels.tolist(), top2.tolist())]
    return _grid([[_tile(x) for x in images], [_tile(x) for x in overlays]], ["input", "R+G"], heads, header=14)
